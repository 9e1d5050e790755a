"""The account registry: ids from 1, 64-character keys, -2014/-2015, persistence across reopen and
visibility across processes sharing the data dir."""

from __future__ import annotations

import os
import stat
import string

import pytest

from spot_seda.accounts import KEY_LENGTH, Account, Accounts
from spot_seda.binance.errors import ApiError


def test_create_get_lookup(tmp_path):
    with Accounts(tmp_path) as accounts:
        a, b, c = accounts.create(), accounts.create(), accounts.create()
        assert [a.account_id, b.account_id, c.account_id] == [1, 2, 3]  # 0 is the fee account
        keys = {a.api_key, a.secret_key, b.api_key, b.secret_key, c.api_key, c.secret_key}
        assert len(keys) == 6
        for key in keys:
            assert len(key) == KEY_LENGTH and set(key) <= set(string.ascii_letters + string.digits)
        assert accounts.get(2) == b
        assert accounts.by_api_key(c.api_key) == c
        assert accounts.authenticate(a.api_key) == a
        assert accounts.get(0) is None and accounts.get(4) is None and accounts.get(-1) is None
        assert accounts.get(True) is None and accounts.get("1") is None
        assert accounts.by_api_key("x") is None
        assert accounts.ids() == [1, 2, 3]
        assert a.secret_key not in repr(a)


def test_survives_reopen(tmp_path):
    with Accounts(tmp_path) as accounts:
        created = [accounts.create() for _ in range(3)]
    with Accounts(tmp_path) as reopened:
        for account in created:
            assert reopened.get(account.account_id) == account
            assert reopened.authenticate(account.api_key) == account
        assert reopened.create().account_id == 4
    assert stat.S_IMODE(os.stat(tmp_path / "accounts.sqlite").st_mode) == 0o600


def test_another_instance_sees_new_accounts(tmp_path):
    first, second = Accounts(tmp_path), Accounts(tmp_path)
    try:
        assert second.by_api_key("A" * 64) is None  # a miss is not cached
        made = first.create()
        assert second.authenticate(made.api_key) == made
        assert second.get(made.account_id) == made
        assert second.create().account_id == made.account_id + 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("key", [None, "", "short", "A" * 63, "A" * 65, "A" * 63 + "-", "A" * 63 + " ", "é" * 64, "A" * 63 + "\n"])
def test_malformed_key_is_2014(tmp_path, key):
    with Accounts(tmp_path) as accounts:
        accounts.create()
        with pytest.raises(ApiError) as info:
            accounts.authenticate(key)
        assert (info.value.code, info.value.msg, info.value.status) == (-2014, "API-key format invalid.", 401)


def test_unknown_key_is_2015(tmp_path):
    with Accounts(tmp_path) as accounts:
        account = accounts.create()
        with pytest.raises(ApiError) as info:
            accounts.authenticate(account.api_key[::-1])
        assert (info.value.code, info.value.msg, info.value.status) == (
            -2015, "Invalid API-key, IP, or permissions for action.", 401)
        with pytest.raises(ApiError):
            accounts.authenticate(account.secret_key)  # the secret is not a key


def test_account_is_a_value():
    assert Account(1, "k", "s") == Account(1, "k", "s")
