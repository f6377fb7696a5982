"""Password hashing and API-key secrets: pure, no database."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from app.auth import security


def test_password_hash_is_argon2id_and_verifies():
    h = security.hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert security.verify_password(h, "correct horse battery").ok
    assert not security.verify_password(h, "correct horse batterY").ok


def test_verify_offers_rehash_when_parameters_are_outdated():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-0123456789")
    check = security.verify_password(weak, "pw-0123456789")
    assert check.ok and check.new_hash is not None
    assert security.verify_password(check.new_hash, "pw-0123456789") == security.PasswordCheck(
        ok=True
    )


def test_wrong_password_never_offers_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-0123456789")
    assert security.verify_password(weak, "other") == security.PasswordCheck(ok=False)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=1$broken"])
def test_garbage_hash_is_a_mismatch_not_an_error(stored):
    assert not security.verify_password(stored, "whatever").ok


def test_burn_password_check_runs():
    security.burn_password_check("anything")  # must neither raise nor return a result


def test_generated_key_format_and_round_trip():
    new = security.generate_api_key()
    assert re.fullmatch(r"gfk_[a-z0-9]{12}_[A-Za-z0-9_-]{32,}", new.plaintext)
    prefix, secret = security.parse_api_key(new.plaintext)
    assert prefix == new.prefix
    assert secret not in new.secret_hash and len(new.secret_hash) == 64
    assert security.api_secret_matches(secret, new.secret_hash)
    assert not security.api_secret_matches(
        secret[:-1] + ("A" if secret[-1] != "A" else "B"), new.secret_hash
    )


def test_keys_are_unique():
    keys = {security.generate_api_key().plaintext for _ in range(200)}
    assert len(keys) == 200


def test_secret_with_underscores_parses_positionally():
    raw = "gfk_abcdefghij12_" + "_" * 10 + "x" * 30
    assert security.parse_api_key(raw) == ("abcdefghij12", "_" * 10 + "x" * 30)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "gfk_",
        "gfk_abcdefghij12_short",
        "gfx_abcdefghij12_" + "x" * 40,
        "gfk_ABCDEFGHIJ12_" + "x" * 40,  # prefix is lower-case
        "gfk_abcdefghij1_" + "x" * 40,  # prefix too short
        "gfk_abcdefghij12_" + "x" * 20 + " " + "x" * 20,
        "gfk_abcdefghij12_" + "x" * 129,
        "gfk_abcdefghij12_" + "é" * 40,
        "Bearer gfk_abcdefghij12_" + "x" * 40,
    ],
)
def test_parse_rejects_what_is_not_a_key(raw):
    assert security.parse_api_key(raw) is None
