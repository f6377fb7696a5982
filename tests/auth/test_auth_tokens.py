"""Token signing and checking: pure, no database."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from app.auth.enums import Role
from app.auth.exceptions import InvalidToken
from app.auth.models import Principal
from app.auth.tokens import decode_token, issue_token, signing_key
from app.core.db import utcnow


@pytest.fixture
def conf(make_settings):
    return make_settings(access_token_ttl_s=600, rider_token_ttl_s=86400)


def _principal(role: Role = Role.officer, office_id: int | None = 7) -> Principal:
    return Principal(id=42, name="p", role=role, office_id=office_id, token_version=3)


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _payload(conf, **over) -> dict:
    now = int(utcnow().timestamp())
    claims = {
        "sub": "42",
        "role": "officer",
        "office": 7,
        "tv": 3,
        "iss": conf.token_issuer,
        "aud": conf.token_audience,
        "iat": now,
        "exp": now + 300,
        "jti": "j",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None or k == "office"}


def test_round_trip_carries_every_claim(conf):
    token, expires = issue_token(conf, _principal())
    claims = decode_token(conf, token)
    assert (claims.principal_id, claims.role, claims.office_id, claims.token_version) == (
        42,
        Role.officer,
        7,
        3,
    )
    assert claims.expires_at == expires
    assert timedelta(seconds=599) <= expires - utcnow() <= timedelta(seconds=600)
    raw = jwt.decode(token, options={"verify_signature": False})
    assert set(raw) == {"sub", "role", "office", "tv", "iss", "aud", "iat", "exp", "jti"}
    assert raw["sub"] == "42" and jwt.get_unverified_header(token)["alg"] == "HS256"


def test_rider_tokens_default_to_the_rider_ttl(conf):
    _token, expires = issue_token(conf, _principal(Role.rider, None))
    assert expires - utcnow() > timedelta(hours=23)


def test_explicit_ttl_wins(conf):
    _token, expires = issue_token(conf, _principal(Role.rider, None), ttl_s=60)
    assert expires - utcnow() <= timedelta(seconds=60)


def test_expired_token(conf):
    token, _ = issue_token(conf, _principal(), now=utcnow() - timedelta(hours=2))
    with pytest.raises(InvalidToken, match="expired"):
        decode_token(conf, token)


def test_tampered_payload_fails_signature(conf):
    token, _ = issue_token(conf, _principal())
    header, _payload_part, sig = token.split(".")
    forged = _b64(_payload(conf, role="admin", office=None))
    with pytest.raises(InvalidToken, match="not valid"):
        decode_token(conf, f"{header}.{forged}.{sig}")


def test_tampered_signature(conf):
    token, _ = issue_token(conf, _principal())
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken):
        decode_token(conf, flipped)


def test_alg_none_is_refused(conf):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_payload(conf, iat=1, exp=2**31))}."
    with pytest.raises(InvalidToken, match="not valid"):
        decode_token(conf, token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_hmac_algorithm_with_the_right_key_is_refused(conf):
    token = jwt.encode(_payload(conf), signing_key(conf), algorithm="HS512")
    with pytest.raises(InvalidToken, match="not valid"):
        decode_token(conf, token)


def test_token_signed_with_the_raw_secret_is_refused(conf):
    token = jwt.encode(_payload(conf), conf.secret_key.get_secret_value(), algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_token(conf, token)


def test_wrong_audience(conf):
    token = jwt.encode(_payload(conf, aud="someone-else"), signing_key(conf), algorithm="HS256")
    with pytest.raises(InvalidToken, match="audience"):
        decode_token(conf, token)


def test_wrong_issuer(conf, make_settings):
    other = make_settings(token_issuer="not-gridfix")
    token, _ = issue_token(other, _principal())
    with pytest.raises(InvalidToken, match="issuer"):
        decode_token(conf, token)


def test_other_secret_is_refused(conf, make_settings):
    token, _ = issue_token(make_settings(secret_key="another-secret-" * 4), _principal())
    with pytest.raises(InvalidToken, match="not valid"):
        decode_token(conf, token)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud", "iss"])
def test_required_claims(conf, claim):
    payload = _payload(conf)
    del payload[claim]
    token = jwt.encode(payload, signing_key(conf), algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_token(conf, token)


@pytest.mark.parametrize(
    "over",
    [{"sub": "abc"}, {"sub": "-1"}, {"role": "root"}, {"tv": "3"}, {"tv": True}, {"office": "7"}],
)
def test_validly_signed_but_odd_claims_are_refused(conf, over):
    token = jwt.encode(_payload(conf, **over), signing_key(conf), algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_token(conf, token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage(conf, garbage):
    with pytest.raises(InvalidToken):
        decode_token(conf, garbage)
