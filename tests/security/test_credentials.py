"""Tampered credentials over HTTP: each a 401 problem, and expired signed URLs replayed
against both object stores."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from app.auth.repository import get_principal_by_name
from app.auth.tokens import signing_key
from app.core.db import utcnow
from tests.security.conftest import Site, sqlite_and_local
from tests.support.factories import make_api_key


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _claims(site: Site, **over: Any) -> dict[str, Any]:
    with site.session_factory() as s:
        p = get_principal_by_name(s, "off-a")
        assert p is not None
        sub, office, tv = str(p.id), p.office_id, p.token_version
    now = int(utcnow().timestamp())
    claims = {
        "sub": sub,
        "role": "officer",
        "office": office,
        "tv": tv,
        "iss": site.settings.token_issuer,
        "aud": site.settings.token_audience,
        "iat": now,
        "exp": now + 300,
        "jti": "t",
    }
    claims.update(over)
    return claims


def _sign(site: Site, claims: dict[str, Any], key: bytes | None = None) -> str:
    return jwt.encode(claims, key or signing_key(site.settings), algorithm="HS256")


def _hs512(site: Site, claims: dict[str, Any]) -> str:
    # Built by hand: PyJWT warns (an error here) about a 32-byte key for HS512.
    signing_input = f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(signing_key(site.settings), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def _tampered_tokens(site: Site) -> dict[str, str]:
    good = _sign(site, _claims(site))
    header, payload, sig = good.split(".")
    past = int((utcnow() - timedelta(hours=2)).timestamp())
    return {
        "signature flipped": f"{header}.{payload}.{_flip(sig, 5)}",
        "payload swapped (role admin)": f"{header}.{_b64(_claims(site, role='admin'))}.{sig}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg none, no dot": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}",
        "HS512 with the right key": _hs512(site, _claims(site)),
        "signed with the raw secret": _sign(
            site, _claims(site), site.settings.secret_key.get_secret_value().encode()
        ),
        "expired": _sign(site, _claims(site, iat=past - 60, exp=past)),
        "wrong audience": _sign(site, _claims(site, aud="someone-else")),
        "wrong issuer": _sign(site, _claims(site, iss="evil")),
        "no expiry": _sign(site, {k: v for k, v in _claims(site).items() if k != "exp"}),
        "stale token version": _sign(site, _claims(site, tv=99)),
        "unknown subject": _sign(site, _claims(site, sub="999999")),
        "garbage": "not.a.token",
        "huge": "a" * 10_000,
    }


def assert_401_problem(r: httpx.Response, label: str) -> None:
    assert r.status_code == 401, (label, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json", label
    assert r.json()["status"] == 401
    assert "www-authenticate" in r.headers


@sqlite_and_local
def test_tampered_tokens_are_401_problems(make_site) -> None:
    site = make_site()
    me = site.client.get("/v1/me", headers=site.h["off_a"])
    assert me.status_code == 200  # the untampered token works
    for label, token in _tampered_tokens(site).items():
        for path in ("/v1/me", "/v1/tickets", "/v1/stats/summary"):
            r = site.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert_401_problem(r, f"{label} on {path}")


@sqlite_and_local
def test_tampered_api_keys_are_401_problems(make_site) -> None:
    site = make_site()
    with site.session_factory() as s:
        p = get_principal_by_name(s, "off-a")
        key = make_api_key(s, p)
        s.commit()
    assert site.client.get("/v1/me", headers={"X-API-Key": key}).status_code == 200
    bad = {
        "last character flipped": _flip(key, len(key) - 1),
        "prefix character flipped": _flip(key, 5),
        "truncated": key[:-1],
        "extended": key + "0",
        "bare prefix": key.split("_")[0] + "_",
    }
    for label, value in bad.items():
        for headers in ({"X-API-Key": value}, {"Authorization": f"ApiKey {value}"}):
            assert_401_problem(site.client.get("/v1/me", headers=headers), label)


def test_expired_signed_urls_replayed_get_4xx_and_write_nothing(make_site) -> None:
    site = make_site()
    store = site.storage
    store.put("replay/a.jpg", b"\xff\xd8\xff original", content_type="image/jpeg")
    get_url = store.presigned_get("replay/a.jpg", ttl_s=1)
    put_url = store.presigned_put(
        "replay/b.jpg", content_type="image/jpeg", max_bytes=1000, ttl_s=1
    )
    overwrite = store.presigned_put(
        "replay/a.jpg", content_type="image/jpeg", max_bytes=1000, ttl_s=1
    )
    # The same URL with a longer life works, so the refusals below are the expiry's.
    assert site.fetch(store.presigned_get("replay/a.jpg", ttl_s=60)).status_code == 200
    time.sleep(2.2)
    assert 400 <= site.fetch(get_url).status_code < 500

    def put(url: str) -> httpx.Response:
        headers = {"Content-Type": "image/jpeg"}
        if url.startswith("http://testserver"):
            return site.client.put(url, content=b"\xff\xd8\xff replayed", headers=headers)
        return httpx.put(url, content=b"\xff\xd8\xff replayed", headers=headers)

    for url in (put_url.url, overwrite.url):
        r = put(url)
        assert 400 <= r.status_code < 500, r.text
    assert store.get("replay/a.jpg") == b"\xff\xd8\xff original"
    assert not store.exists("replay/b.jpg")
    if site.settings.storage_kind == "local":
        root = site.settings.local_storage_dir
        assert not list(root.rglob(".tmp-*"))
        expired = site.client.get(get_url)
        assert expired.status_code == 403
        assert expired.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_photo_urls_serve_the_sniffed_type_and_a_disposition(make_site) -> None:
    """A PNG sent as "photo.jpg" with image/jpeg is stored and served as image/png."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (10, 120, 200)).save(buf, "PNG")
    site = make_site(background_workers=True)
    r = site.report(files=[("photo.jpg", buf.getvalue(), "image/jpeg")])
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while True:
        body = site.client.get(f"/v1/reports/{report_id}", headers=site.h["off_a"]).json()
        photo = body["photos"][0]
        if photo["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert photo["status"] == "ready"
    original = site.fetch(photo["original_url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/png"
    assert original.headers["content-disposition"].startswith("inline; filename=")
    assert original.headers["content-disposition"].endswith('.png"')
    for name in ("display_url", "thumb_url"):
        got = site.fetch(photo[name])
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["content-disposition"].startswith("inline; filename=")
