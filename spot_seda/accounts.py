"""Accounts and their API keys, persisted in the data dir (`accounts.sqlite`).

Why SQLite rather than a JSON file: several processes read the registry (every Acquiring instance
authenticates requests, and an account created through one instance's admin endpoint must work on
the others at once). SQLite gives atomic, durable inserts under concurrent writers (WAL, a busy
timeout), ids assigned without a race (INTEGER PRIMARY KEY), and a unique index on the API key; a JSON
file would need its own locking and a re-read of the whole file on every unknown key.

Account ids are 1, 2, 3, ...; account 0 is the exchange's fee account and is never handed out.
Keys are 64 characters of [A-Za-z0-9] from `secrets` (Binance's format). An account's requests are
signed with one of Binance's three kinds of API key:

- HMAC (`key_type` "HMAC"): the node makes a secret key and hands it out once; it is stored as is,
  since an HMAC can only be checked with it;
- Ed25519 (what Binance recommends) and RSA (2048 bits or more): the client keeps its private key
  and registers the public one (PEM); the node stores only that, and has no secret of the account.

The file is created readable by its owner only. A file written before key types existed is given
their columns when opened (its accounts are HMAC ones).

Lookups are cached in memory; a miss goes to the file, so accounts created by another process are
found. A key of the wrong shape is refused before any lookup (-2014), an unknown one is -2015.

Over Kafka with the command log the cluster holds every account too, and is the source of truth
(spot_seda/accountlog.py): `records` and `restore` are what goes between the file and the cluster.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import string
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .binance import auth, errors

KEY_LENGTH = 64
KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_CHARS = frozenset(KEY_ALPHABET)
FILE_NAME = "accounts.sqlite"
#: reserved for the exchange's fee account (stages/settlement.py FEE_ACCOUNT)
FEE_ACCOUNT = 0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id INTEGER PRIMARY KEY CHECK (account_id > 0),
    api_key TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    key_type TEXT NOT NULL DEFAULT 'HMAC',
    public_key TEXT NOT NULL DEFAULT ''
) STRICT;
"""
#: columns added since the first schema: (name, definition), for a file written before them
_ADDED_COLUMNS = (("key_type", "TEXT NOT NULL DEFAULT 'HMAC'"), ("public_key", "TEXT NOT NULL DEFAULT ''"))
_COLUMNS = "account_id, api_key, secret_key, key_type, public_key"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    api_key: str
    #: the HMAC secret; "" for an Ed25519 or RSA account
    secret_key: str = field(repr=False)
    key_type: str = auth.HMAC
    #: the registered public key (PEM) of an Ed25519 or RSA account
    public_key: str = field(default="", repr=False)
    #: that key, loaded (what checks the account's signatures)
    verifier: object = field(default=None, repr=False, compare=False)


def new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def key_format_ok(key: object) -> bool:
    return isinstance(key, str) and len(key) == KEY_LENGTH and _KEY_CHARS.issuperset(key)


class Accounts:
    """The registry of one data dir; safe to open from several processes and threads."""

    def __init__(self, data_dir: str | os.PathLike[str], *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # a created account's keys were handed out: keep them
        self._db.executescript(_SCHEMA)
        self._add_columns()
        self._by_key: dict[str, Account] = {}
        self._by_id: dict[int, Account] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_columns(self) -> None:
        """Bring a file written before key types existed up to the schema (another process may be
        doing the same at once: a column it added first is not added again)."""
        for name, definition in _ADDED_COLUMNS:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(accounts)")}
            if name in columns:
                continue
            try:
                self._db.execute(f"ALTER TABLE accounts ADD COLUMN {name} {definition}")
            except sqlite3.OperationalError:
                if name not in {row[1] for row in self._db.execute("PRAGMA table_info(accounts)")}:
                    raise

    def _remember(self, account: Account) -> Account:
        self._by_key[account.api_key] = account
        self._by_id[account.account_id] = account
        return account

    @staticmethod
    def _from_row(row) -> Account:
        account_id, api_key, secret_key, key_type, public_key = row
        verifier = auth.load_public_key(public_key)[1] if key_type != auth.HMAC else None
        return Account(account_id, api_key, secret_key, key_type, public_key, verifier)

    def create(self, public_key: str | None = None) -> Account:
        """A new account, durable before it is returned: with a fresh HMAC secret key, or, given an
        Ed25519 or RSA public key (PEM), with that key (-1130 for a PEM that is not one of those)."""
        if public_key is None:
            key_type, verifier, secret_key = auth.HMAC, None, ""
        else:
            key_type, verifier = auth.load_public_key(public_key)
            secret_key = ""
        with self._lock:
            for _ in range(8):
                api_key = new_key()
                if key_type == auth.HMAC:
                    secret_key = new_key()
                try:
                    cur = self._db.execute(
                        "INSERT INTO accounts (account_id, api_key, secret_key, created_ms, key_type, public_key) "
                        "VALUES (NULL, ?, ?, ?, ?, ?)",
                        (api_key, secret_key, time.time_ns() // 1_000_000, key_type, public_key or ""))
                except sqlite3.IntegrityError:  # an API key collision: 62**64 says never, but retry
                    continue
                return self._remember(Account(int(cur.lastrowid), api_key, secret_key, key_type, public_key or "",
                                              verifier))
        raise RuntimeError("could not generate a unique API key")

    def get(self, account_id: int) -> Account | None:
        """The account with that id, or None (the fee account 0 is not an API account)."""
        if isinstance(account_id, bool) or not isinstance(account_id, int) or not 0 < account_id < 2**63:
            return None  # past SQLite's integer range there is no such account (and no query to make)
        account = self._by_id.get(account_id)
        if account is not None:
            return account
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM accounts WHERE account_id = ?", (account_id,)).fetchone()
            return self._remember(self._from_row(row)) if row else None

    def by_api_key(self, api_key: str) -> Account | None:
        """The account of an API key, or None (also for a malformed key)."""
        account = self._by_key.get(api_key)
        if account is not None:
            return account
        if not key_format_ok(api_key):
            return None
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM accounts WHERE api_key = ?", (api_key,)).fetchone()
            return self._remember(self._from_row(row)) if row else None

    def authenticate(self, api_key: str | None) -> Account:
        """The account of an `X-MBX-APIKEY` header value: -2014 when missing or malformed, -2015 unknown."""
        account = self._by_key.get(api_key) if api_key else None
        if account is not None:
            return account
        if not key_format_ok(api_key):
            raise errors.bad_api_key_format()
        account = self.by_api_key(api_key)
        if account is None:
            raise errors.rejected_api_key()
        return account

    def ids(self) -> list[int]:
        """Every account id, ascending."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT account_id FROM accounts ORDER BY account_id")]

    # -- the registry as records (over Kafka, spot_seda/accountlog.py keeps them in the cluster) --

    def records(self, account_id: int | None = None) -> list[dict]:
        """Every account's row (or only `account_id`'s), ascending, as a record: {"accountId",
        "apiKey", "secretKey", "keyType", "publicKey", "createdMs"}; what `restore` takes back."""
        query = f"SELECT {_COLUMNS}, created_ms FROM accounts"
        with self._lock:
            if account_id is None:
                rows = self._db.execute(query + " ORDER BY account_id").fetchall()
            else:
                rows = self._db.execute(query + " WHERE account_id = ?", (account_id,)).fetchall()
        return [dict(zip(RECORD_FIELDS, row)) for row in rows]

    def restore(self, records) -> int:
        """Write `records` (as `records` makes them) over the registry, in one transaction: each
        account gets exactly that id, keys and creation time; a row holding the same id or the same
        API key is replaced. Returns how many were written. The registry's source of truth is then
        elsewhere (the cluster): this takes its word for what an account is."""
        rows = [tuple(_checked(record)[f] for f in RECORD_FIELDS) for record in records]
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO accounts (account_id, api_key, secret_key, key_type, public_key, "
                    "created_ms) VALUES (?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._by_key.clear()  # a replaced row may be cached under its old key
            self._by_id.clear()
        return len(rows)


#: a record's fields (Accounts.records, Accounts.restore), in the order of _COLUMNS, then the time
RECORD_FIELDS = ("accountId", "apiKey", "secretKey", "keyType", "publicKey", "createdMs")


def _checked(record: dict) -> dict:
    """`record` if it is one an account can be restored from (ValueError otherwise): a positive
    id, a key of the registry's shape, and a key type with what checks it."""
    if not isinstance(record, dict) or set(record) != set(RECORD_FIELDS):
        raise ValueError(f"not an account record: fields {sorted(record) if isinstance(record, dict) else record!r}")
    account_id, key_type = record["accountId"], record["keyType"]
    if isinstance(account_id, bool) or not isinstance(account_id, int) or not 0 < account_id < 2**63:
        raise ValueError(f"not an account id: {account_id!r}")
    if not key_format_ok(record["apiKey"]) or not isinstance(record["createdMs"], int):
        raise ValueError(f"account {account_id}: a malformed API key or creation time")
    if key_type == auth.HMAC:
        if not key_format_ok(record["secretKey"]):
            raise ValueError(f"account {account_id}: an HMAC account without a well-formed secret key")
    else:
        try:
            kind = auth.load_public_key(record["publicKey"])[0]
        except errors.ApiError:
            kind = None
        if kind != key_type:
            raise ValueError(f"account {account_id}: its public key is not a {key_type} key")
    return record
