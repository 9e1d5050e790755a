"""Ed25519 and RSA API keys without a node: loading public keys, the signature's encodings, the
registry keeping an account's kind of key, and a file written before key types existed.
Through a real node and python-binance: tests/node/test_api_keys.py."""

from __future__ import annotations

import base64
import sqlite3
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from spot_seda.accounts import Accounts
from spot_seda.binance import auth
from spot_seda.binance.errors import ApiError

QUERY = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2&timestamp=1668481559918"


def pem(private_key) -> str:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def ed():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Account:
    def __init__(self, key_type, verifier):
        self.key_type, self.verifier, self.secret_key = key_type, verifier, ""


def test_rfc_8032_s_first_ed25519_vector_verifies():
    """A known answer: RFC 8032 section 7.1, TEST 1 (the empty message), its signature in base64 as a
    Binance client sends it, URL-encoded."""
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    key = ed25519.Ed25519PublicKey.from_public_bytes(public)
    key_type, loaded = auth.load_public_key(key.public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    account = _Account(key_type, loaded)
    auth.verify_account_signature(account, "", "", quote(base64.b64encode(signature).decode(), safe=""))
    with pytest.raises(ApiError):
        auth.verify_account_signature(account, "x", "", quote(base64.b64encode(signature).decode(), safe=""))


@pytest.mark.parametrize("kind", ["ed", "rsa"])
def test_signature_encodings_raw_once_twice(kind, ed, rsa_key):
    key = ed if kind == "ed" else rsa_key
    raw = key.sign(QUERY.encode()) if kind == "ed" else key.sign(QUERY.encode(), padding.PKCS1v15(), hashes.SHA256())
    text = base64.b64encode(raw).decode()
    key_type, public = auth.load_public_key(pem(key))
    assert key_type == (auth.ED25519 if kind == "ed" else auth.RSA)
    account = _Account(key_type, public)
    for sent in (text, quote(text, safe=""), quote(quote(text, safe=""), safe="")):
        auth.verify_account_signature(account, QUERY[:40], QUERY[40:], sent)  # query + body, as sent
        assert auth.decode_signature(sent) == raw
    for bad in ("", None):
        with pytest.raises(ApiError) as missing:
            auth.verify_account_signature(account, QUERY, "", bad)
        assert missing.value.code == -1102
    for bad in (text[:-4], "A" * 88, "%zz", "not base64!", text.replace("+", "-").replace("/", "_") + "x",
                "%25" * 3000):
        with pytest.raises(ApiError) as wrong:
            auth.verify_account_signature(account, QUERY, "", bad)
        assert (wrong.value.code, wrong.value.status) == (-1022, 400), bad


def test_public_keys_that_are_refused(ed):
    for bad in ("", "x", pem(ed).replace("MC", "XX", 1), 7, None,
                pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
                ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()):
        with pytest.raises(ApiError) as refused:
            auth.load_public_key(bad)
        assert refused.value.code == -1130 and "publicKey" in refused.value.msg


def test_the_registry_keeps_each_account_s_kind_of_key(tmp_path, ed, rsa_key):
    with Accounts(tmp_path) as accounts:
        h = accounts.create()
        e = accounts.create(pem(ed))
        r = accounts.create(pem(rsa_key))
        assert (h.key_type, e.key_type, r.key_type) == ("HMAC", "ED25519", "RSA")
        assert e.secret_key == r.secret_key == "" and len(h.secret_key) == 64
        assert pem(ed) not in repr(e)
    with Accounts(tmp_path) as reopened:
        for made in (h, e, r):
            got = reopened.authenticate(made.api_key)
            assert got == made and got.public_key == made.public_key
        signature = base64.b64encode(ed.sign(QUERY.encode())).decode()
        auth.verify_account_signature(reopened.get(e.account_id), QUERY, "", signature)
        with pytest.raises(ApiError):
            auth.verify_account_signature(reopened.get(r.account_id), QUERY, "", signature)


def test_a_file_from_before_key_types_gets_their_columns(tmp_path):
    db = sqlite3.connect(tmp_path / "accounts.sqlite")
    db.executescript("""
        CREATE TABLE accounts (account_id INTEGER PRIMARY KEY CHECK (account_id > 0), api_key TEXT NOT NULL UNIQUE,
                               secret_key TEXT NOT NULL, created_ms INTEGER NOT NULL) STRICT;
        INSERT INTO accounts VALUES (1, 'A{0}', 'S{0}', 1);
    """.replace("A{0}", "A" * 64).replace("S{0}", "S" * 64))
    db.close()
    first, second = Accounts(tmp_path), Accounts(tmp_path)  # both bring it up to date, one adds the columns
    try:
        old = second.authenticate("A" * 64)
        assert (old.account_id, old.key_type, old.secret_key) == (1, "HMAC", "S" * 64)
        assert first.create(pem(ed25519.Ed25519PrivateKey.generate())).account_id == 2
        assert second.get(2).key_type == "ED25519"
    finally:
        first.close()
        second.close()


def test_the_registry_as_records_restores_every_kind_of_key_under_its_own_id(tmp_path, ed, rsa_key):
    """What the account registry in Kafka (spot_seda/accountlog.py) copies between a data dir and the
    cluster: Accounts.records out, Accounts.restore in; the restored registry authenticates the same
    keys under the same ids, replaces a row that differs, gives out the next id after them, and
    refuses a record it could not check a signature with."""
    with Accounts(tmp_path / "a") as accounts:
        made = [accounts.create(), accounts.create(pem(ed)), accounts.create(pem(rsa_key)), accounts.create()]
        records = accounts.records()
        assert accounts.records(2) == [records[1]] and accounts.records(9) == []
    assert [r["accountId"] for r in records] == [1, 2, 3, 4]
    assert (records[0]["keyType"], records[1]["keyType"], records[2]["keyType"]) == ("HMAC", "ED25519", "RSA")
    assert records[1]["secretKey"] == "" and records[1]["publicKey"] == pem(ed)
    del records[2]  # a gap: ids are restored as they are, not renumbered
    with Accounts(tmp_path / "b") as other:
        zombie = other.create()  # account 1 with keys of its own, never acknowledged
        assert other.authenticate(zombie.api_key) == zombie  # (cached)
        assert other.restore(records) == 3 and other.restore([]) == 0
        assert other.records() == records
        with pytest.raises(ApiError) as refused:  # replaced by the record of account 1, cache and all
            other.authenticate(zombie.api_key)
        assert refused.value.code == -2015
        for account in (made[0], made[1], made[3]):
            assert other.authenticate(account.api_key) == account
        assert other.get(3) is None and other.create().account_id == 5
        signature = base64.b64encode(ed.sign(QUERY.encode())).decode()
        auth.verify_account_signature(other.get(2), QUERY, "", signature)
        bad = dict(records[1], keyType="RSA")  # an Ed25519 key said to be RSA
        for wrong in (bad, dict(records[0], secretKey=""), dict(records[0], accountId=0), {"accountId": 7}):
            with pytest.raises(ValueError):
                other.restore([wrong])
        assert other.records()[:3] == records  # nothing written by a refused batch
