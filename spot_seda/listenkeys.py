"""User data stream listen keys, shared by the Acquiring process (REST create / keepalive / close)
and the Push processes (`/ws/<listenKey>`): a small SQLite table in the data dir. Over Kafka with
the command log, every change is also in the cluster, from which a Push on a machine without
Acquiring fills its own table (spot_seda/accountlog.py, Follower).

Binance's rules: a key is valid for 60 minutes after its creation or last keepalive; creating a key
for an account that already has a live one returns that key and extends it; closing invalidates it.
SQLite (WAL) because the writers and readers are separate processes and a key must survive a restart.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: a key lives this long without a keepalive (Binance: 60 minutes)
VALIDITY_MS = 60 * 60 * 1000
KEY_LENGTH = 64
_ALPHABET = string.ascii_letters + string.digits


def looks_like_key(text: str) -> bool:
    """Whether `text` has the shape of a listen key (so `/ws/<it>` is a key, not a stream name)."""
    return len(text) == KEY_LENGTH and text.isascii() and text.isalnum()


class ListenKeys:
    """Create, extend, close and resolve listen keys; safe to use from several processes."""

    def __init__(self, data_dir: str | Path, clock: Callable[[], int] | None = None) -> None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path / "listenkeys.sqlite", timeout=10.0, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS listen_keys (key TEXT PRIMARY KEY, account INTEGER NOT NULL, "
            "expires_ms INTEGER NOT NULL) STRICT")
        self._db.execute("CREATE INDEX IF NOT EXISTS listen_keys_account ON listen_keys (account)")

    def create(self, account_id: int) -> str:
        """The account's live key, extended for another 60 minutes, or a new one."""
        now = self.clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # (expired keys stay an hour, so Push can tell an expiry, which it announces, from a close)
                self._db.execute("DELETE FROM listen_keys WHERE expires_ms <= ?", (now - VALIDITY_MS,))
                row = self._db.execute("SELECT key FROM listen_keys WHERE account = ? AND expires_ms > ? "
                                       "ORDER BY expires_ms DESC LIMIT 1", (account_id, now)).fetchone()
                key = row[0] if row else "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))
                self._db.execute("INSERT OR REPLACE INTO listen_keys (key, account, expires_ms) VALUES (?, ?, ?)",
                                 (key, account_id, now + VALIDITY_MS))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return key

    def keepalive(self, key: str) -> bool:
        """Extend a live key by 60 minutes; False when it is unknown or already expired."""
        now = self.clock()
        with self._lock:
            cur = self._db.execute("UPDATE listen_keys SET expires_ms = ? WHERE key = ? AND expires_ms > ?",
                                   (now + VALIDITY_MS, key, now))
        return cur.rowcount == 1

    def close(self, key: str) -> bool:
        """Invalidate a key; False when it was unknown or already expired."""
        now = self.clock()
        with self._lock:
            cur = self._db.execute("DELETE FROM listen_keys WHERE key = ? AND expires_ms > ?", (key, now))
        return cur.rowcount == 1

    def account_of(self, key: str) -> int | None:
        """The account a live key belongs to; None when unknown, closed or expired."""
        entry = self.entry(key)
        return entry[0] if entry else None

    def entry(self, key: str) -> tuple[int, int] | None:
        """(account, expiry in ms) of a live key; None when unknown, closed or expired. What the
        cluster is told of it (accountlog.listen_key_record) after a create or keepalive."""
        with self._lock:
            row = self._db.execute("SELECT account, expires_ms FROM listen_keys WHERE key = ? AND expires_ms > ?",
                                   (key, self.clock())).fetchone()
        return (row[0], row[1]) if row else None

    def live(self) -> set[str]:
        """Every live key (one query, for Push's once-a-second look at its clients' keys)."""
        with self._lock:
            rows = self._db.execute("SELECT key FROM listen_keys WHERE expires_ms > ?", (self.clock(),)).fetchall()
        return {row[0] for row in rows}

    def expired(self, key: str) -> bool:
        """Whether `key` ran out of time (not closed, which removes it): Push sends listenKeyExpired
        for an expired key only (user-data-stream.md: not "when the stream is closed normally")."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM listen_keys WHERE key = ? AND expires_ms <= ?",
                                   (key, self.clock())).fetchone()
        return row is not None

    def adopt(self, key: str, account_id: int, expires_ms: int) -> None:
        """Hold `key` as another node created or extended it (accountlog.Follower)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO listen_keys (key, account, expires_ms) VALUES (?, ?, ?)",
                             (key, account_id, expires_ms))

    def forget(self, key: str) -> None:
        """Drop `key`, closed on another node (accountlog.Follower)."""
        with self._lock:
            self._db.execute("DELETE FROM listen_keys WHERE key = ?", (key,))

    def shutdown(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
