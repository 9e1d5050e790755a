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

Listen keys (the user data streams', POST/PUT/DELETE /api/v3/userDataStream) ride the same writer
into `<kafka.topic_prefix>ListenKeys`, keyed by the key, valued {"account", "expiresMs"} (a closed
key: a tombstone), compacted alike: the HTTP stage answers once its transaction is committed. Both
topics are read by `Follower` on a machine without Acquiring, whose Push has nothing else to tell
it which accounts and keys exist.

Secrets: an HMAC account's secret key is in the record, as it is in `accounts.sqlite`; whoever can
read the topic (or the brokers' log dirs, or their backups) can sign that account's requests.
Ed25519 and RSA accounts put only their public key there.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from .accounts import Accounts
from .bus.kafkaclients import available, kafka_lib, read_range
from .commandlog import (commit_records, ensure_topic as _ensure, fenced_writer, reader, stable_watermarks,
                         topic_name as log_topic)
from .journal import JournalError

log = logging.getLogger("spot_seda.accountlog")

TOPIC = "Accounts"
#: the user data streams' listen keys (api/rest.py's userDataStream endpoints), for Push machines
LISTEN_KEYS_TOPIC = "ListenKeys"


def topic_name(settings) -> str:
    return settings.kafka.topic_prefix + TOPIC


def listen_keys_topic(settings) -> str:
    return settings.kafka.topic_prefix + LISTEN_KEYS_TOPIC


def ensure_topic(settings) -> None:
    """Create the registry's topics if they are missing (the accounts' and the listen keys'; each 1
    partition, replicated, compacted, kept forever)."""
    _ensure(settings, topic_name(settings), compacted=True)
    _ensure(settings, listen_keys_topic(settings), compacted=True)


def record(settings, row: dict) -> tuple[str, bytes, bytes]:
    """(topic, key, value) of an account's row (Accounts.records), as KafkaJournal.send_beside takes it."""
    return topic_name(settings), str(row["accountId"]).encode(), json.dumps(row, sort_keys=True).encode()


def listen_key_record(settings, key: str, entry: tuple[int, int] | None) -> tuple[str, bytes, bytes | None]:
    """(topic, key, value) of a listen key as it now is: `entry` (account id, expiry in ms), or None
    for a closed key (a tombstone); as KafkaJournal.send_beside takes it."""
    value = None if entry is None else json.dumps({"account": entry[0], "expiresMs": entry[1]}, sort_keys=True).encode()
    return listen_keys_topic(settings), key.encode(), value


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


class Follower:
    """The registries as the cluster has them, on a machine without Acquiring (`run.py --stage push`
    elsewhere): its Push resolves `/ws/<listenKey>` and authenticates the WebSocket API's keys from
    its own data dir, which nothing else writes there. `catch_up` reads both topics to their ends
    into the local `accounts.sqlite` and `listenkeys.sqlite` (through the Push process's own
    Accounts and ListenKeys, so their caches see it), then `start` follows them from a thread:
    an account or a key registered on the node with Acquiring reaches this machine a moment after
    that node answered for it (it answers once the cluster committed the record). It only reads:
    the registries' writer stays the command log's, on the node with Acquiring."""

    def __init__(self, settings, accounts: Accounts, keys) -> None:
        self.settings, self.accounts, self.keys = settings, accounts, keys
        self.names = (topic_name(settings), listen_keys_topic(settings))
        self.consumer = reader(settings, f"{settings.kafka.topic_prefix}registry-follower-{os.getpid()}")
        self.next = {name: 0 for name in self.names}  # the offset to read next, per topic
        self.applied = 0  # records applied so far (accounts and keys)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="registry-follower", daemon=True)

    def catch_up(self) -> int:
        """Apply every committed record of both topics; returns how many there were."""
        ck = kafka_lib()
        ensure_topic(self.settings)  # (a cluster whose node with Acquiring predates the listen keys' topic)
        before = self.applied
        for name in self.names:
            low, high = stable_watermarks(self.consumer, ck.TopicPartition(name, 0), f"the registry {name}")
            for m in read_range(self.consumer, ck.TopicPartition(name, 0, max(low, self.next[name])), high, timeout=60):
                self._apply(m)
            self.next[name] = max(self.next[name], high)
        return self.applied - before

    def start(self) -> None:
        ck = kafka_lib()
        self.consumer.assign([ck.TopicPartition(name, 0, self.next[name]) for name in self.names])
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.consumer.close()

    def _follow(self) -> None:
        while not self._done.is_set():
            try:
                for m in available(self.consumer, 500, 0.2):
                    if m.error() is None:
                        self._apply(m)
            except Exception:  # a broker moving: the consumer carries on by itself; keep going
                log.warning("🔑 following the registries: a read failed; retrying", exc_info=True)
                self._done.wait(1.0)

    def _apply(self, m) -> None:
        name, key, value = m.topic(), m.key(), m.value()
        self.next[name] = m.offset() + 1
        try:
            if name == self.names[0]:
                if value is None:
                    return  # (an account is never removed from a registry here)
                row = json.loads(value)
                if row.get("accountId") != int(key):
                    raise ValueError(f"keyed {key!r} for account {row.get('accountId')!r}")
                self.accounts.restore([row])
            elif value is None:
                self.keys.forget(key.decode())
            else:
                entry = json.loads(value)
                self.keys.adopt(key.decode(), int(entry["account"]), int(entry["expiresMs"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("🔑 the registry %s holds a malformed record at offset %d (%s): skipped", name, m.offset(), exc)
            return
        self.applied += 1
