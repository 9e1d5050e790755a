"""The node's snapshot set in the cluster, so that a node on a new machine starts from it.

Over Kafka with the command log (`kafka.command_log`, `kafka.snapshots_in_cluster`), a node started
on an empty data dir gets every command back from the cluster (commandlog.py), but without a
snapshot it would replay all of them. So every complete snapshot (runtime/snapshots.py: the
manifest and every stage instance's file, all at one journal position P) also goes to the cluster,
as one value under the key `node` of the compacted topic `<topic_prefix>NodeSnapshots`, written
with bus/kafkastate.py's chunked writer (chunks under `bus.max_message_bytes`, then the head that
names them); and before every recovery the supervisor installs the cluster's set in the data dir
when it is newer than the local one (or there is none), then recovers as usual: the command log
reconciled into the journal, the snapshot loaded, the journal after P replayed.

Only a snapshot the command log holds may reach the cluster or be used (it must never reflect a
command the log lacks):
- By construction: Acquiring sends a snapshot's marker at P only once no accepted command waits
  for its journal sync (api/intake.py, `pending`), and over Kafka that sync returns once the
  cluster has committed the record on its in-sync replicas (kafkajournal.py); so every record up
  to P is acknowledged before any stage snapshots P, and a fenced-off node (whose records are
  never acknowledged) takes no further snapshot.
- Checked on upload (`upload`): the uploader reads the log's committed record at P
  (read_committed) and uploads nothing unless it exists and equals the local journal's record at P
  (when the journal still holds it); the value carries the SHA-256 of that record.
- Checked on use (`fetch`): after the log's reconcile the local journal is the log; the set is
  installed only if the journal's record at P has that same SHA-256. So a set is never used
  against a log that lacks P or holds another command there (another log under the same prefix).

A torn upload (a writer killed between its chunks and its head, or chunks without a head) is never
read: the head is written last and names its chunks (KafkaBlobs); a value whose chunks are missing,
or whose SHA-256 (of the whole value, inside it) does not match, is ignored with a warning, and the
node recovers from what it has. The upload runs in a short-lived process of the supervisor's (no
Kafka client crosses a fork), never on the order path: one failing is logged and the next
snapshot (or a retry after `journal.snapshot_interval_s`) tries again. `snapshots/uploaded.json`
records what went up last (its position, and the chunks the next upload deletes).

Layers: this is runtime; it uses commandlog (the log's reader) and bus.kafkastate (the chunked
writer) below it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import msgspec

from .. import commandlog
from ..bus.base import BusError
from . import snapshots

log = logging.getLogger("spot_seda.snapshots")

TOPIC = "NodeSnapshots"
KEY = "node"
FORMAT = 1
UPLOADED = "uploaded.json"


def enabled(settings) -> bool:
    return commandlog.enabled(settings) and settings.kafka.snapshots_in_cluster


def _blobs(settings):
    from ..bus.kafkastate import KafkaBlobs

    return KafkaBlobs.from_settings(settings, TOPIC)


def uploaded(data_dir: Path) -> dict:
    """What the last upload from this data dir sent: {"position", "stored": [id, chunks]} ({}: none)."""
    try:
        return json.loads((snapshots.directory(data_dir) / UPLOADED).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _record_uploaded(data_dir: Path, position: int, stored) -> None:
    path = snapshots.directory(data_dir) / UPLOADED
    tmp = path.with_suffix(".up.tmp")
    tmp.write_text(json.dumps({"position": position, "stored": list(stored) if stored else None}))
    os.replace(tmp, path)


def encode(manifest: dict, files: dict[str, bytes], record: bytes) -> bytes:
    """One value: the SHA-256 of the body, a newline, the body (msgpack of the manifest, the files,
    and the SHA-256 of the command log's record at the snapshot's position)."""
    body = msgspec.msgpack.encode({"format": FORMAT, "manifest": manifest, "files": files,
                                   "record_sha256": hashlib.sha256(record).hexdigest()})
    return hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def decode(value: bytes) -> dict | None:
    """The set in a value, or None when its checksum does not match (torn, or not one of ours)."""
    digest, _, body = value.partition(b"\n")
    if not body or hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    try:
        snapshot = msgspec.msgpack.decode(body)
        if snapshot.get("format") != FORMAT:
            return None
        int(snapshot["manifest"]["position"])
        return snapshot
    except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def upload(settings, data_dir: Path) -> int:
    """Send the data dir's current snapshot to the cluster if the command log holds its position
    (module docstring); returns the position sent (0: nothing sent). Raises on a failure."""
    found = snapshots.read_set(data_dir)
    if found is None:
        return 0
    manifest, files = found
    position = int(manifest["position"])
    done = uploaded(data_dir)
    if done.get("position", 0) >= position:
        return 0
    record = commandlog.record_at(settings, position)
    deadline = time.monotonic() + 5
    while record is None and time.monotonic() < deadline:  # a record is read once its commit's marker
        time.sleep(0.2)                                    # is written, a moment after the commit
        record = commandlog.record_at(settings, position)
    if record is None:
        log.warning("the snapshot at %d is not sent to the cluster: its command log holds no record there (yet)",
                    position)
        return 0
    local = commandlog.journal_record(data_dir / "journal", position)
    if local is not None and local != record:
        log.error("the snapshot at %d is not sent to the cluster: the command log's record there is not this "
                  "journal's (another Acquiring wrote the log)", position)
        return 0
    blobs = _blobs(settings)
    try:
        if done.get("stored"):
            blobs.replacing(KEY, done["stored"])  # its chunks go once this value replaced them
        blobs.put(KEY, encode(manifest, files, record))
        _record_uploaded(data_dir, position, blobs.stored(KEY))
    finally:
        blobs.close()
    log.info("☁️  snapshot at journal position %d sent to the cluster (%s, %d bytes)", position,
             blobs.topic, sum(len(d) for d in files.values()))
    return position


def upload_main(settings, data_dir: Path, parent: int) -> None:
    """The body of the supervisor's uploader process: exit status 0 when sent (or nothing to send)."""
    from .stageproc import die_with

    die_with(parent)
    try:
        upload(settings, data_dir)
    except Exception as exc:  # only a saving: the next snapshot, or the next interval, tries again
        log.warning("the snapshot could not be sent to the cluster (the next one will try again): %s", exc)
        os._exit(1)


def read(settings) -> dict | None:
    """The cluster's snapshot set (decoded), or None: none, or torn (chunks missing, checksum wrong)."""
    blobs = _blobs(settings)
    try:
        value = blobs.get(KEY)
    except BusError as exc:
        log.warning("the snapshot in the cluster is incomplete, ignored: %s", exc)
        return None
    finally:
        blobs.close()
    if value is None:
        return None
    snapshot = decode(value)
    if snapshot is None:
        log.warning("the snapshot in the cluster %s fails its checksum: ignored", blobs.topic)
        return None
    snapshot["stored"] = blobs.stored(KEY)
    return snapshot


def fetch(settings, data_dir: Path, layout: str) -> int:
    """Before a recovery, once the command log is reconciled into the local journal: install the
    cluster's snapshot set in the data dir when it is newer than the local one and consistent with
    the journal (module docstring). Returns its position (0: the local one stands)."""
    snapshot = read(settings)
    if snapshot is None:
        return 0
    manifest = snapshot["manifest"]
    position = int(manifest["position"])
    local = snapshots.manifest_position(data_dir)
    if position <= local:
        return 0
    if manifest.get("layout") != layout:
        log.warning("the snapshot in the cluster at %d was taken with %s, the configuration gives %s: ignored",
                    position, manifest.get("layout"), layout)
        return 0
    record = commandlog.journal_record(data_dir / "journal", position)
    if record is None or hashlib.sha256(record).hexdigest() != snapshot["record_sha256"]:
        log.warning("the snapshot in the cluster at %d does not match the command log's record there: ignored",
                    position)
        return 0
    snapshots.install(data_dir, manifest, snapshot["files"])
    _record_uploaded(data_dir, position, snapshot["stored"])  # it is the cluster's already
    log.info("☁️  installed the cluster's snapshot at journal position %d (the local one was at %d)", position, local)
    return position
