"""The account registry in Kafka: every account and its API key in the cluster, beside the command log.

Over Kafka with the command log (`commandlog.enabled`), the cluster is the source of truth for the
accounts too, as it is for the commands: `<kafka.topic_prefix>Accounts` holds one record per
account, keyed by its id (decimal ASCII), whose value is the registry's row as JSON
(accounts.RECORD_FIELDS: "accountId", "apiKey", "secretKey" (HMAC accounts; "" otherwise),
"keyType", "publicKey" (Ed25519 and RSA accounts: the PEM; "" otherwise), "createdMs"). One
partition, `kafka.replication_factor` replicas, `min.insync.replicas` = `kafka.min_insync_replicas`, unclean leader election off, kept
forever and compacted: a later record of the same account (a key change) replaces the earlier one.

Written by the command log's writer. The admin endpoint that registers an account
(POST /admin/v1/accounts, api/rest.py) inserts it into the local `accounts.sqlite` (which assigns
its id), then hands its record to Acquiring's KafkaJournal (`send_beside`), whose committer thread
puts it in the command log's next transaction, and answers once that transaction is committed:
on the in-sync replicas (acks=all), like a command. So the record is fenced like the log: a
stopped Acquiring resumed after a newer one took over (a zombie, whose local ids may collide with
the newer node's) cannot commit a registration or answer one; and a command acknowledged after a
registration (the account's first deposit) is in the cluster only with it.

`reconcile` runs in the supervisor before every recovery, right after the command log's, and
like it fences older writers off first, so nothing is written while the two are compared: it
copies the cluster's accounts into the local registry, each under its own id (a row the cluster
holds otherwise, a zombie's never acknowledged registration, is replaced by the cluster's), then
sends the cluster what the local registry holds and the cluster lacks (registered here, never
acknowledged: the process died waiting; or registered before the node ran with the command log,
as `accounts.sqlite` of an older node or of `[kafka] command_log = false`), under a fenced writer
of its own. A node started on an empty data dir against the same cluster and prefix thus has
every account and key back before its stages start, and the ids it gives out next follow them.

Why not records in the command log itself: the log is the journal byte for byte, replayed into
every stage; accounts are not commands the engine sees, and a compacted topic of its own keeps
one record per account (a key can change, and every start reads them all) instead of an ever
longer history. Why not a producer of its own: the log's fenced writer is what makes a zombie's
registration fail, and its transactions give the order against commands for free.

Secrets: an HMAC account's secret key is in the record, as it is in `accounts.sqlite`; whoever can
read the topic (or the brokers' log dirs, or their backups) can sign that account's requests.
Ed25519 and RSA accounts put only their public key there.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .accounts import Accounts
from .bus.kafkaclients import kafka_lib, read_range
from .commandlog import (commit_records, ensure_topic as _ensure, fenced_writer, reader, stable_watermarks,
                         topic_name as log_topic)
from .journal import JournalError

log = logging.getLogger("spot_seda.accountlog")

TOPIC = "Accounts"


def topic_name(settings) -> str:
    return settings.kafka.topic_prefix + TOPIC


def ensure_topic(settings) -> None:
    """Create the registry's topic if it is missing (1 partition, replicated, compacted, kept forever)."""
    _ensure(settings, topic_name(settings), compacted=True)


def record(settings, row: dict) -> tuple[str, bytes, bytes]:
    """(topic, key, value) of an account's row (Accounts.records), as KafkaJournal.send_beside takes it."""
    return topic_name(settings), str(row["accountId"]).encode(), json.dumps(row, sort_keys=True).encode()


def read(settings) -> dict[int, dict]:
    """The cluster's accounts by id: the latest committed record of each (read_committed)."""
    ck = kafka_lib()
    name = topic_name(settings)
    consumer = reader(settings, name + ".reader")
    try:
        low, high = stable_watermarks(consumer, ck.TopicPartition(name, 0), f"the account registry {name}")
        accounts: dict[int, dict] = {}
        for m in read_range(consumer, ck.TopicPartition(name, 0, low), high, timeout=60):
            account_id = int(m.key())
            if m.value() is None:  # a tombstone: the account was removed
                accounts.pop(account_id, None)
                continue
            row = json.loads(m.value())
            if row.get("accountId") != account_id:
                raise JournalError(f"the account registry {name} holds a record keyed {account_id} for "
                                   f"account {row.get('accountId')!r}")
            accounts[account_id] = row
        return accounts
    finally:
        consumer.close()


def reconcile(settings, data_dir: Path) -> tuple[int, int]:
    """Make the local registry (`data_dir`/accounts.sqlite) hold the cluster's accounts, and the
    cluster the local ones it lacks (module docstring). Returns (accounts copied from the
    cluster, accounts sent to it)."""
    ensure_topic(settings)
    # the log's writer, built first: it fences every older writer off, so no registration lands
    # while the two are compared, and it completes their committed transactions (a record counts
    # for a read_committed reader once its commit's marker is written, a moment after the commit)
    producer = fenced_writer(settings, "accounts-reconcile")
    try:
        cluster = read(settings)
        with Accounts(data_dir) as accounts:
            local = {row["accountId"]: row for row in accounts.records()}
            pull = [row for account_id, row in sorted(cluster.items()) if local.get(account_id) != row]
            replaced = [row["accountId"] for row in pull if row["accountId"] in local]
            if replaced:
                log.warning("🔑 the local account registry held accounts %s otherwise than the cluster's %s "
                            "(registered by an Acquiring since fenced off, never acknowledged): replaced by the "
                            "cluster's", replaced, topic_name(settings))
            try:
                accounts.restore(pull)
            except ValueError as exc:
                raise JournalError(f"the account registry {topic_name(settings)} holds a malformed record: "
                                   f"{exc}") from None
            push = [row for row in accounts.records() if row["accountId"] not in cluster]
        if push:
            commit_records(producer, log_topic(settings), [], 60, beside=[record(settings, row) for row in push])
    finally:
        producer.flush(10)
    if pull or push:
        log.info("🔑 account registry: %d account(s) copied from Kafka %s, %d sent to it",
                 len(pull), topic_name(settings), len(push))
    return len(pull), len(push)
