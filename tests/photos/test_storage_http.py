"""The local store's signed-URL endpoints, through the real app."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.photos.local import LocalStorage
from tests.support.seaweed import free_port

JPEG = "image/jpeg"
PROBLEM = "application/problem+json"


@pytest.fixture
def app_settings(
    make_settings: Callable[..., Settings], sqlite_url: str, tmp_path: Path
) -> Settings:
    return make_settings(database_url=sqlite_url, storage_url=f"file://{tmp_path}/objects")


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        yield c


@pytest.fixture
def store(client: TestClient) -> LocalStorage:
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert isinstance(storage, LocalStorage)
    return storage


def _problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = r.json()
    assert body["status"] == status
    if code is not None:
        assert body["type"] == f"https://gridfix.dev/problems/{code}"
    return body


def _edit_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


# ---------------------------------------------------------------- GET
def test_get_serves_object_with_safe_headers(client: TestClient, store: LocalStorage) -> None:
    data = b"\xff\xd8\xff" + b"x" * 100_000
    store.put("reports/r1/photo.jpg", data, content_type=JPEG)
    r = client.get(store.presigned_get("reports/r1/photo.jpg", ttl_s=120, filename="a b.jpg"))
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == JPEG
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == 'inline; filename="a b.jpg"'
    assert r.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    cache = r.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 110 <= int(cache.rsplit("=", 1)[1]) <= 120


def test_get_default_filename_is_the_last_segment(client: TestClient, store: LocalStorage) -> None:
    store.put("r/original.jpg", b"x", content_type=JPEG)
    r = client.get(store.presigned_get("r/original.jpg"))
    assert r.headers["content-disposition"] == 'inline; filename="original.jpg"'


def test_filename_cannot_inject_headers(client: TestClient, store: LocalStorage) -> None:
    store.put("r/x.jpg", b"x", content_type=JPEG)
    url = store.presigned_get("r/x.jpg", filename='evil"\r\nSet-Cookie: a=b;.jpg')
    r = client.get(url)
    assert r.status_code == 200
    assert "set-cookie" not in r.headers
    assert r.headers["content-disposition"].count('"') == 2


def test_missing_object_is_404(client: TestClient, store: LocalStorage) -> None:
    _problem(client.get(store.presigned_get("r/missing.jpg")), 404, "object-not-found")


@pytest.mark.parametrize(
    "change",
    [
        {"sig": "0" * 64},
        {"sig": "ünïcode"},
        {"sig": None},
        {"expires": str(int(time.time()) + 86400)},
        {"expires": "soon"},
        {"expires": None},
        {"fn": "other.jpg"},
        {"method": "PUT"},
        {"method": None},
    ],
    # Stable ids: a time-dependent id would differ between xdist workers.
    ids=lambda c: ",".join(
        f"{k}={'later' if k == 'expires' and v and v.isdigit() else v}" for k, v in c.items()
    ),
)
def test_tampered_get_url_is_refused(
    client: TestClient, store: LocalStorage, change: dict[str, str | None]
) -> None:
    store.put("r/x.jpg", b"x", content_type=JPEG)
    url = _edit_query(store.presigned_get("r/x.jpg", filename="x.jpg"), **change)
    _problem(client.get(url), 403, "invalid-signature")


def test_url_for_one_key_does_not_open_another(client: TestClient, store: LocalStorage) -> None:
    store.put("r/a.jpg", b"a", content_type=JPEG)
    store.put("r/b.jpg", b"b", content_type=JPEG)
    url = store.presigned_get("r/a.jpg").replace("/r/a.jpg?", "/r/b.jpg?")
    _problem(client.get(url), 403, "invalid-signature")


def test_expired_url_is_refused(
    client: TestClient, store: LocalStorage, app_settings: Settings
) -> None:
    store.put("r/x.jpg", b"x", content_type=JPEG)
    an_hour_ago = LocalStorage(
        app_settings.local_storage_dir,
        public_base_url=app_settings.public_base_url,
        secret_key=app_settings.secret_key.get_secret_value(),
        default_ttl_s=60,
        clock=lambda: time.time() - 3600,
    )
    _problem(client.get(an_hour_ago.presigned_get("r/x.jpg")), 403, "signed-url-expired")
    upload = an_hour_ago.presigned_put("r/y.jpg", content_type=JPEG, max_bytes=10)
    r = client.put(upload.url, content=b"y", headers=dict(upload.headers))
    _problem(r, 403, "signed-url-expired")


def test_urls_work_only_for_their_method(client: TestClient, store: LocalStorage) -> None:
    store.put("r/x.jpg", b"x", content_type=JPEG)
    get_url = store.presigned_get("r/x.jpg")
    put = store.presigned_put("r/x.jpg", content_type=JPEG, max_bytes=10)
    r = client.put(get_url, content=b"overwrite", headers={"Content-Type": JPEG})
    _problem(r, 403, "invalid-signature")
    _problem(client.get(put.url), 403, "invalid-signature")
    _problem(client.post(put.url, content=b"x", headers=dict(put.headers)), 405)
    _problem(client.delete(get_url), 405)
    assert store.get("r/x.jpg") == b"x"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/storage/local/%2e%2e/%2e%2e/etc/passwd",
        "/v1/storage/local/..%2f..%2fsecret.txt",
        "/v1/storage/local/%2E%2E/secret.txt",
        "/v1/storage/local//etc/passwd",
        "/v1/storage/local/a/%00/b",
        "/v1/storage/local/a%5c..%5csecret.txt",
        "/v1/storage/local/.meta.json",
    ],
)
def test_traversal_in_the_path_is_refused(
    client: TestClient, store: LocalStorage, tmp_path: Path, path: str
) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    r = client.get(path + "?expires=9999999999&method=GET&sig=" + "0" * 64)
    assert r.status_code in (403, 404, 422)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "top secret" not in r.text
    r = client.put(path + "?method=PUT", content=b"planted", headers={"Content-Type": JPEG})
    assert r.status_code in (403, 404, 422)
    assert r.headers["content-type"].startswith(PROBLEM)


def test_a_correct_signature_does_not_make_traversal_safe(
    client: TestClient, store: LocalStorage, tmp_path: Path
) -> None:
    """Signing is not the defence: even a validly signed `..` key is refused."""
    (tmp_path / "secret.txt").write_text("top secret")
    key = "../secret.txt"
    expires = int(time.time()) + 60
    sig = store._sign("GET", key, expires, "", 0, "")
    r = client.get(f"/v1/storage/local/%2e%2e/secret.txt?expires={expires}&method=GET&sig={sig}")
    _problem(r, 422, "invalid-object-key")
    assert "top secret" not in r.text


# ---------------------------------------------------------------- PUT
def test_put_stores_the_body(client: TestClient, store: LocalStorage) -> None:
    data = b"\x89PNG" + b"p" * 50_000
    upload = store.presigned_put("u/p.png", content_type="image/png", max_bytes=len(data))
    r = client.put(upload.url, content=data, headers=dict(upload.headers))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    info = store.head("u/p.png")
    assert info is not None
    assert (info.size, info.content_type) == (len(data), "image/png")
    assert store.get("u/p.png") == data
    assert _temp_files(store.root) == []


def test_put_streamed_without_length(client: TestClient, store: LocalStorage) -> None:
    upload = store.presigned_put("u/chunked.jpg", content_type=JPEG, max_bytes=300_000)
    chunks = [b"a" * 100_000, b"b" * 100_000, b"c" * 100_000]
    r = client.put(upload.url, content=iter(chunks), headers=dict(upload.headers))
    assert r.status_code == 200, r.text
    assert store.get("u/chunked.jpg") == b"".join(chunks)


@pytest.mark.parametrize("sent", ["image/png", "image/jpeg; charset=x", "IMAGE/JPEG", None])
def test_put_with_another_content_type_is_refused(
    client: TestClient, store: LocalStorage, sent: str | None
) -> None:
    upload = store.presigned_put("u/t.jpg", content_type=JPEG, max_bytes=100)
    headers = {"Content-Type": sent} if sent else {}
    r = client.put(upload.url, content=b"<html>", headers=headers)
    _problem(r, 403, "content-type-mismatch")
    assert not store.exists("u/t.jpg")


@pytest.mark.parametrize("change", [{"ct": "text/html"}, {"max": "999999999"}, {"ct": None}])
def test_tampered_put_url_is_refused(
    client: TestClient, store: LocalStorage, change: dict[str, str | None]
) -> None:
    upload = store.presigned_put("u/t.jpg", content_type=JPEG, max_bytes=100)
    url = _edit_query(upload.url, **change)
    r = client.put(url, content=b"x", headers={"Content-Type": change.get("ct") or JPEG})
    _problem(r, 403, "invalid-signature")


def test_oversize_put_with_length_is_refused(client: TestClient, store: LocalStorage) -> None:
    store.put("u/big.jpg", b"old", content_type=JPEG)
    upload = store.presigned_put("u/big.jpg", content_type=JPEG, max_bytes=1000)
    r = client.put(upload.url, content=b"x" * 1001, headers=dict(upload.headers))
    _problem(r, 413, "payload-too-large")
    assert store.get("u/big.jpg") == b"old"
    assert _temp_files(store.root) == []


def test_oversize_streamed_put_stops_at_the_limit(client: TestClient, store: LocalStorage) -> None:
    """Chunked, no Content-Length: the app stops reading at the limit.

    TestClient reads a request body whole before the app sees it, so this goes
    through httpx's ASGI transport, which hands the app one chunk per receive().
    """
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):  # 6.4 MB offered against a 100 kB limit
            sent += 1
            yield b"z" * 64_000

    async def upload_it(url: str, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ac:
            return await ac.put(url, content=body(), headers=headers)

    upload = store.presigned_put("u/stream.jpg", content_type=JPEG, max_bytes=100_000)
    r = asyncio.run(upload_it(upload.url, dict(upload.headers)))
    _problem(r, 413, "payload-too-large")
    assert sent <= 3
    assert not store.exists("u/stream.jpg")
    assert _temp_files(store.root) == []


def test_put_of_exactly_the_limit_is_accepted(client: TestClient, store: LocalStorage) -> None:
    upload = store.presigned_put("u/exact.jpg", content_type=JPEG, max_bytes=4096)
    r = client.put(upload.url, content=b"e" * 4096, headers=dict(upload.headers))
    assert r.status_code == 200
    upload = store.presigned_put("u/empty.jpg", content_type=JPEG, max_bytes=0)
    r = client.put(upload.url, content=b"", headers=dict(upload.headers))
    assert r.status_code == 200
    assert store.get("u/empty.jpg") == b""


# ---------------------------------------------------------------- S3 mode, docs
def test_endpoints_are_404_when_objects_live_on_s3(
    make_settings: Callable[..., Settings], sqlite_url: str, store: LocalStorage
) -> None:
    s3_settings = make_settings(
        database_url=sqlite_url,
        storage_url="s3://bucket",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",  # never contacted
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    store.put("r/x.jpg", b"x", content_type=JPEG)
    url = store.presigned_get("r/x.jpg")
    with TestClient(create_app(s3_settings)) as s3_client:
        _problem(s3_client.get(url), 404)
        _problem(s3_client.put(url, content=b"x", headers={"Content-Type": JPEG}), 404)


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    item = spec["paths"]["/v1/storage/local/{key}"]
    assert set(item) == {"get", "put"}
    assert {"403", "404", "422"} <= set(item["get"]["responses"])
    assert {"403", "404", "413", "422"} <= set(item["put"]["responses"])
    assert item["put"]["description"].startswith("Upload an object")
    params = {p["name"] for p in item["put"]["parameters"]}
    assert {"key", "expires", "method", "sig", "ct", "max"} <= params
