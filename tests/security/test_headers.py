"""Security defaults over HTTP: headers on every kind of response, the docs page's CSP,
/docs switched off, explicit CORS, HSTS only when configured."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import ConfigError, Settings, load_settings
from app.core.security import API_CSP
from app.main import create_app

BASELINE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings], sqlite_url: str, tmp_path: Any
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        settings = make_settings(
            database_url=sqlite_url,
            storage_url=f"file://{tmp_path / 'objects'}",
            background_workers=False,
            **overrides,
        )
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def assert_baseline(headers: Any, csp: str | None = API_CSP) -> None:
    for name, value in BASELINE.items():
        assert headers.get(name) == value, (name, dict(headers))
    if csp is not None:
        assert headers.get("content-security-policy") == csp
    assert "strict-transport-security" not in headers


def test_json_answers_and_every_kind_of_error_carry_the_headers(make_client) -> None:
    client = make_client()

    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    client.app.add_api_route("/boom", boom)  # type: ignore[attr-defined]
    answers = {
        "ok": client.get("/healthz"),
        "public json": client.get("/v1/categories"),
        "401": client.get("/v1/me"),
        "404 route": client.get("/v1/no-such-thing"),
        "405": client.delete("/v1/categories"),
        "422": client.post("/v1/riders", json={"display_name": 5}),
        "500": client.get("/boom"),
    }
    expected = {"ok": 200, "public json": 200, "401": 401, "404 route": 404, "405": 405}
    expected |= {"422": 422, "500": 500}
    for name, r in answers.items():
        assert r.status_code == expected[name], (name, r.text)
        assert_baseline(r.headers)
    assert answers["500"].headers["content-type"] == "application/problem+json"
    assert "RuntimeError" not in answers["500"].text


def test_a_response_with_its_own_csp_keeps_it(make_client) -> None:
    client = make_client()
    store = client.app.state.storage  # type: ignore[attr-defined]
    store.put("t/x.jpg", b"\xff\xd8\xff" + b"0" * 100, content_type="image/jpeg")
    r = client.get(store.presigned_get("t/x.jpg", ttl_s=60))
    assert r.status_code == 200
    assert_baseline(r.headers, csp="sandbox")


def _inline_script_hashes(html: str) -> set[str]:
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    }


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect"])
def test_docs_pages_allow_exactly_their_cdn_and_inline_scripts(make_client, path: str) -> None:
    r = make_client().get(path)
    assert r.status_code == 200
    assert_baseline(r.headers, csp=None)
    csp = dict(
        part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
    )
    hashes = _inline_script_hashes(r.text)
    assert hashes, "the page has inline scripts; each must be allowed by its hash"
    script_src = set(csp["script-src"].split())
    assert script_src == {"https://cdn.jsdelivr.net"} | hashes
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert csp["default-src"] == "'none'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    for src in re.findall(r'(?:src|href)="(https://[^/"]+)', r.text):
        assert src in csp.get("script-src", "") + csp.get("style-src", "") + csp["img-src"], src


def test_openapi_document_is_data(make_client) -> None:
    r = make_client().get("/openapi.json")
    assert r.status_code == 200
    assert_baseline(r.headers)


def test_docs_can_be_switched_off(make_client) -> None:
    client = make_client(docs_enabled=False)
    for path in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert_baseline(r.headers)
    assert client.get("/v1/categories").status_code == 200


def test_hsts_only_when_configured(make_client) -> None:
    assert "strict-transport-security" not in make_client().get("/healthz").headers
    r = make_client(hsts_max_age_s=31536000).get("/healthz")
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


# ---------------------------------------------------------------- CORS
DASHBOARD = "https://dash.example.org"


def _preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/v1/tickets",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_no_cors_unless_origins_are_listed(make_client) -> None:
    client = make_client()
    r = client.get("/v1/categories", headers={"Origin": DASHBOARD})
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in _preflight(client, DASHBOARD).headers


def test_cors_answers_listed_origins_only_and_never_with_credentials(make_client) -> None:
    client = make_client(cors_origins=[DASHBOARD])
    ok = _preflight(client, DASHBOARD)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers
    assert_baseline(ok.headers)
    got = client.get("/v1/categories", headers={"Origin": DASHBOARD})
    assert got.headers["access-control-allow-origin"] == DASHBOARD
    for other in ("https://evil.example", "https://dash.example.org.evil.example", "null"):
        denied = _preflight(client, other)
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers
        simple = client.get("/v1/categories", headers={"Origin": other})
        assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize(
    "origins",
    ['["*"]', '["https://dash.example.org/"]', '["https://a.example/path"]', '["null"]'],
)
def test_cors_setting_refuses_wildcards_and_non_origins(monkeypatch, origins: str) -> None:
    monkeypatch.setenv("GRIDFIX_CORS_ORIGINS", origins)
    with pytest.raises(ConfigError, match="GRIDFIX_CORS_ORIGINS"):
        load_settings()


def test_production_starts_only_with_a_real_secret(monkeypatch) -> None:
    monkeypatch.setenv("GRIDFIX_ENVIRONMENT", "production")
    monkeypatch.delenv("GRIDFIX_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="GRIDFIX_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("GRIDFIX_SECRET_KEY", "replace-with-a-placeholder-value-of-length")
    with pytest.raises(ConfigError, match="GRIDFIX_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("GRIDFIX_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("GRIDFIX_OUTBOUND_ALLOW_LOOPBACK", "true")
    with pytest.raises(ConfigError, match="GRIDFIX_OUTBOUND_ALLOW_LOOPBACK"):
        load_settings()
