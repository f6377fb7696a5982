"""The ObjectStorage contract, run against the local folder and a real S3 server (SeaweedFS).

Presigned URLs are fetched for real: over the network for S3, through the app's
signed-URL endpoints for the local store.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.errors import InvalidInput
from app.main import create_app
from app.photos.exceptions import (
    InvalidKey,
    ObjectNotFound,
    SignedUrlInvalid,
    StorageMisconfigured,
    StorageUnavailable,
)
from app.photos.local import LocalStorage
from app.photos.s3 import S3Storage
from app.photos.storage import ObjectStorage, build_storage, content_disposition
from tests.support.seaweed import S3Server, free_port

Fetch = Callable[..., httpx.Response]

JPEG = "image/jpeg"
BAD_KEYS = [
    "",
    "/abs/path.jpg",
    "../up.jpg",
    "a/../../up.jpg",
    "a/./b.jpg",
    "a//b.jpg",
    "a/b/",
    ".hidden",
    "a/.meta.json",
    "%2e%2e/x.jpg",
    "a\\..\\b",
    "nul\x00byte.jpg",
    "new\nline.jpg",
    "spa ce.jpg",
    "ünïcode.jpg",
    "x" * 201,
    "/".join(["x" * 200, "y" * 200, "z" * 111]),
]


@pytest.fixture
def store_settings(
    make_settings: Callable[..., Settings], storage_overrides: dict[str, Any]
) -> Settings:
    return make_settings(**storage_overrides)


@pytest.fixture
def store(store_settings: Settings) -> ObjectStorage:
    return build_storage(store_settings)


@pytest.fixture
def fetch(
    request: pytest.FixtureRequest,
    store_settings: Settings,
    make_settings: Callable[..., Settings],
) -> Iterator[Fetch]:
    """Send a request to a presigned URL: straight to S3, or through the app for local."""
    if store_settings.storage_kind == "s3":
        with httpx.Client(timeout=10) as client:
            yield client.request
        return
    app_settings = make_settings(
        database_url=request.getfixturevalue("sqlite_url"),
        storage_url=store_settings.storage_url,
    )
    with TestClient(create_app(app_settings)) as client:
        yield client.request


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Unseekable(io.RawIOBase):
    """A pipe-like stream: readable, not seekable."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._buf = io.BytesIO(data)
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._fail_after is not None and self._buf.tell() >= self._fail_after:
            raise OSError("connection to the phone dropped")
        limit = len(b) if self._fail_after is None else min(len(b), self._fail_after)
        data = self._buf.read(limit)
        b[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------- basic contract
def test_put_get_head_exists(store: ObjectStorage) -> None:
    data = os.urandom(1000)
    stored = store.put("reports/r1/original.jpg", data, content_type=JPEG)
    assert stored.key == "reports/r1/original.jpg"
    assert stored.size == 1000
    assert stored.content_type == JPEG
    assert stored.etag == _md5(data)

    assert store.get("reports/r1/original.jpg") == data
    assert store.exists("reports/r1/original.jpg")
    info = store.head("reports/r1/original.jpg")
    assert info is not None
    assert (info.key, info.size, info.content_type, info.etag) == (
        "reports/r1/original.jpg",
        1000,
        JPEG,
        _md5(data),
    )
    assert info.last_modified is not None
    assert abs((datetime.now(UTC) - info.last_modified).total_seconds()) < 120


def test_put_streams_seekable_and_unseekable(store: ObjectStorage) -> None:
    data = os.urandom(200_000)
    a = store.put("s/seekable.bin", io.BytesIO(data), content_type="application/octet-stream")
    b = store.put(
        "s/pipe.bin", Unseekable(data), content_type="application/octet-stream", size=len(data)
    )
    assert a.size == b.size == len(data)
    assert store.get("s/seekable.bin") == store.get("s/pipe.bin") == data


def test_size_mismatch_writes_nothing(store: ObjectStorage) -> None:
    with pytest.raises(InvalidInput):
        store.put("s/short.bin", b"12345", content_type=JPEG, size=6)
    assert not store.exists("s/short.bin")


def test_failing_stream_leaves_old_object(store: ObjectStorage) -> None:
    store.put("s/keep.jpg", b"old", content_type=JPEG)
    with pytest.raises(OSError, match="dropped"):
        store.put(
            "s/keep.jpg", Unseekable(os.urandom(100_000), fail_after=70_000), content_type=JPEG
        )
    assert store.get("s/keep.jpg") == b"old"
    assert _keys(store, "s/") == ["s/keep.jpg"]


def test_overwrite_replaces_bytes_and_metadata(store: ObjectStorage) -> None:
    store.put("o/x", b"first", content_type=JPEG)
    second = store.put("o/x", b"second!", content_type="image/png")
    info = store.head("o/x")
    assert info is not None
    assert store.get("o/x") == b"second!"
    assert (info.size, info.content_type, info.etag) == (7, "image/png", second.etag)
    assert info.etag != _md5(b"first")


def test_empty_object(store: ObjectStorage) -> None:
    store.put("e/empty", b"", content_type="text/plain")
    assert store.get("e/empty") == b""
    assert b"".join(store.open("e/empty")) == b""
    info = store.head("e/empty")
    assert info is not None and info.size == 0


def test_missing_object(store: ObjectStorage) -> None:
    with pytest.raises(ObjectNotFound) as exc:
        store.get("nope/missing.jpg")
    assert exc.value.status == 404
    with pytest.raises(ObjectNotFound):
        store.open("nope/missing.jpg")  # at the call, before any chunk is read
    assert store.head("nope/missing.jpg") is None
    assert not store.exists("nope/missing.jpg")


def test_a_prefix_is_not_an_object(store: ObjectStorage) -> None:
    store.put("p/q/r.jpg", b"x", content_type=JPEG)
    assert store.head("p/q") is None
    assert not store.exists("p")
    with pytest.raises(ObjectNotFound):
        store.get("p/q")
    store.delete("p/q")
    assert store.exists("p/q/r.jpg")


def test_open_streams_in_chunks(store: ObjectStorage) -> None:
    data = os.urandom(300_000)
    store.put("big/photo.jpg", data, content_type=JPEG)
    chunks = list(store.open("big/photo.jpg"))
    assert len(chunks) > 1
    assert b"".join(chunks) == data


def test_open_can_be_abandoned(store: ObjectStorage) -> None:
    store.put("big/abandon.jpg", os.urandom(300_000), content_type=JPEG)
    stream = store.open("big/abandon.jpg")
    assert next(stream)
    stream.close()  # type: ignore[attr-defined]  # releases the file or connection
    assert list(stream) == []


def test_delete_is_idempotent(store: ObjectStorage) -> None:
    store.put("d/x.jpg", b"x", content_type=JPEG)
    store.delete("d/x.jpg")
    assert not store.exists("d/x.jpg")
    store.delete("d/x.jpg")
    store.delete("d/never-existed.jpg")


def test_delete_many(store: ObjectStorage) -> None:
    for name in ("a", "b", "c"):
        store.put(f"dm/{name}", name.encode(), content_type="text/plain")
    store.delete_many(["dm/a", "dm/c", "dm/missing"])
    assert _keys(store, "dm/") == ["dm/b"]
    store.delete_many([])


def test_delete_many_validates_every_key_first(store: ObjectStorage) -> None:
    store.put("dv/a", b"a", content_type="text/plain")
    with pytest.raises(InvalidKey):
        store.delete_many(["dv/a", "../etc/passwd"])
    assert store.exists("dv/a")


def _keys(store: ObjectStorage, prefix: str) -> list[str]:
    # Order is not part of the contract: SeaweedFS lists folder by folder.
    return sorted(o.key for o in store.list(prefix))


def test_list_by_prefix(store: ObjectStorage) -> None:
    keys = ["a/1.jpg", "a/2/x.jpg", "a.b", "ab/c", "b", "a-z"]
    for key in keys:
        store.put(key, key.encode(), content_type="text/plain")

    everything = list(store.list(""))
    assert sorted(o.key for o in everything) == sorted(keys)
    assert all(o.size == len(o.key) for o in everything)
    assert all(o.etag == _md5(o.key.encode()) for o in everything)
    assert all(o.last_modified is not None and o.last_modified.tzinfo for o in everything)

    assert _keys(store, "a/") == ["a/1.jpg", "a/2/x.jpg"]
    assert _keys(store, "a") == ["a-z", "a.b", "a/1.jpg", "a/2/x.jpg", "ab/c"]
    assert _keys(store, "a/2") == ["a/2/x.jpg"]
    assert _keys(store, "zzz/") == []


def test_local_lists_in_key_order(tmp_path: Path) -> None:
    local = LocalStorage(
        tmp_path / "o", public_base_url="http://t", secret_key="k" * 40, default_ttl_s=60
    )
    keys = ["a/1.jpg", "a/2/x.jpg", "a.b", "ab/c", "b", "a-z"]
    for key in keys:
        local.put(key, b"x", content_type="text/plain")
    assert [o.key for o in local.list("")] == sorted(keys)


def test_list_rejects_bad_prefix(store: ObjectStorage) -> None:
    with pytest.raises(InvalidKey):
        list(store.list("../"))


# ---------------------------------------------------------------- keys and inputs
@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k)[:30])
def test_bad_keys_are_refused_everywhere(store: ObjectStorage, key: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put(key, b"x", content_type=JPEG),
        lambda: store.get(key),
        lambda: store.open(key),
        lambda: store.head(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.presigned_get(key),
        lambda: store.presigned_put(key, content_type=JPEG, max_bytes=10),
    ]
    for call in calls:
        with pytest.raises(InvalidKey) as exc:
            call()
        assert exc.value.status == 422


def test_longest_key_is_accepted(store: ObjectStorage) -> None:
    key = "/".join(["x" * 200, "y" * 200, "z" * 110])
    assert len(key) == 512
    store.put(key, b"x", content_type=JPEG)
    assert store.get(key) == b"x"
    assert _keys(store, "x") == [key]


@pytest.mark.parametrize(
    "content_type", ["", "jpeg", "image/jpeg\r\nX-Evil: 1", "image/jpeg; x=\x00", "a/" + "b" * 300]
)
def test_bad_content_types_are_refused(store: ObjectStorage, content_type: str) -> None:
    with pytest.raises(InvalidInput):
        store.put("ct/x", b"x", content_type=content_type)
    with pytest.raises(InvalidInput):
        store.presigned_put("ct/x", content_type=content_type, max_bytes=1)


def test_presign_ttl_is_bounded(store: ObjectStorage) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.presigned_get("t/x", ttl_s=0)
    with pytest.raises(ValueError, match="ttl"):
        store.presigned_put("t/x", content_type=JPEG, max_bytes=1, ttl_s=8 * 86400)


def test_ping(store: ObjectStorage) -> None:
    store.ping()


# ---------------------------------------------------------------- presigned URLs, fetched
def test_presigned_get_serves_the_object(store: ObjectStorage, fetch: Fetch) -> None:
    data = os.urandom(5000)
    store.put("pg/photo.jpg", data, content_type=JPEG)
    r = fetch("GET", store.presigned_get("pg/photo.jpg", ttl_s=60, filename="报告 7.jpg"))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["content-type"] == JPEG
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A%207.jpg" in disposition


def test_s3_presigned_get_matches_what_boto3_would_sign(store: ObjectStorage) -> None:
    """GETs are signed without the client's per-call pipeline; the URL must be
    the one the client makes, but for the moment of signing."""
    from urllib.parse import parse_qsl, urlsplit

    if not isinstance(store, S3Storage):
        pytest.skip("S3 only: the local store signs its own URLs")
    assert store._get_signer is not None  # the fast path is the one in use
    ours = store.presigned_get("pg/sub/a_b-1.jpg", ttl_s=120, filename="报告 7.jpg")
    theirs = store._client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": store.bucket,
            "Key": store._full("pg/sub/a_b-1.jpg"),
            "ResponseContentDisposition": content_disposition("报告 7.jpg"),
        },
        ExpiresIn=120,
    )

    def shape(url: str) -> tuple[str, str, str, dict[str, str]]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, strict_parsing=True))
        for moment in ("X-Amz-Date", "X-Amz-Signature"):
            assert query.pop(moment)
        access, _day, *scope = query.pop("X-Amz-Credential").split("/")
        query["scope"] = "/".join([access, *scope])
        return parts.scheme, parts.netloc, parts.path, query

    assert shape(ours) == shape(theirs)


@pytest.mark.parametrize(
    ("style", "endpoint", "token"),
    [
        ("path", "http://127.0.0.1:8333", None),
        ("path", "http://minio.local:80", None),
        ("virtual", "https://s3.eu-west-1.amazonaws.com", "FQoGZX/+token="),
    ],
)
def test_get_signatures_are_botocores_to_the_byte(style: str, endpoint: str, token: str | None):
    """GET URLs are signed here (SigV4, query form), not by botocore: at the same
    instant, every URL must be the one botocore's signer makes, signature
    included, across a day's end (the signing key is derived once a day)."""
    from datetime import datetime
    from urllib.parse import parse_qs, urlsplit

    import boto3
    import botocore.auth
    from botocore.config import Config

    from app.photos.s3 import _GetSigner

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
        aws_session_token=token,
        region_name="eu-west-1",
        config=Config(s3={"addressing_style": style}, signature_version="s3v4"),
    )
    signer = _GetSigner(client, "bucket-1", client._request_signer._credentials)
    keys = ["photos/ab/cdef.jpg", "p/报告 7+1~(x)!.jpg", "p/a%2Fb;c=d&e.jpg"]
    moments = [datetime(2026, 11, 30, 23, 59, 59), datetime(2026, 12, 1, 0, 0, 0)]
    for moment in moments:
        for key in keys:
            disposition = content_disposition(key.rsplit("/", 1)[-1])
            ours = signer.url(key, {"response-content-disposition": disposition}, 900, now=moment)
            real = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda *_a, _m=moment, **_k: _m
            try:
                theirs = client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": "bucket-1",
                        "Key": key,
                        "ResponseContentDisposition": disposition,
                    },
                    ExpiresIn=900,
                )
            finally:
                botocore.auth.get_current_datetime = real
            a, b = urlsplit(ours), urlsplit(theirs)
            assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
            assert parse_qs(a.query, strict_parsing=True) == parse_qs(b.query, strict_parsing=True)


def test_presigned_get_expires(store: ObjectStorage, fetch: Fetch) -> None:
    store.put("pg/short.jpg", b"x", content_type=JPEG)
    url = store.presigned_get("pg/short.jpg", ttl_s=1)
    time.sleep(2.2)
    r = fetch("GET", url)
    assert r.status_code == 403


def test_presigned_get_for_missing_object_is_404(store: ObjectStorage, fetch: Fetch) -> None:
    r = fetch("GET", store.presigned_get("pg/missing.jpg", ttl_s=60))
    assert r.status_code == 404


def test_presigned_put_with_signed_content_type(store: ObjectStorage, fetch: Fetch) -> None:
    data = os.urandom(3000)
    upload = store.presigned_put("pp/up.jpg", content_type=JPEG, max_bytes=10_000, ttl_s=60)
    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": JPEG}
    assert upload.expires_at > datetime.now(UTC)
    r = fetch(upload.method, upload.url, content=data, headers=dict(upload.headers))
    assert r.status_code == 200, r.text
    assert r.headers["etag"].strip('"') == _md5(data)
    info = store.head("pp/up.jpg")
    assert info is not None
    assert (info.size, info.content_type) == (3000, JPEG)
    assert store.get("pp/up.jpg") == data


@pytest.mark.parametrize("sent", ["image/png", "text/html", None])
def test_presigned_put_refuses_another_content_type(
    store: ObjectStorage, fetch: Fetch, sent: str | None
) -> None:
    upload = store.presigned_put("pp/typed.jpg", content_type=JPEG, max_bytes=10_000, ttl_s=60)
    headers = {"Content-Type": sent} if sent else {}
    r = fetch("PUT", upload.url, content=b"<script>", headers=headers)
    assert r.status_code == 403
    assert not store.exists("pp/typed.jpg")


def test_presigned_url_is_not_valid_for_another_key(store: ObjectStorage, fetch: Fetch) -> None:
    store.put("pk/a.jpg", b"a", content_type=JPEG)
    store.put("pk/b.jpg", b"b", content_type=JPEG)
    url = store.presigned_get("pk/a.jpg", ttl_s=60)
    r = fetch("GET", url.replace("pk/a.jpg", "pk/b.jpg"))
    assert r.status_code == 403


# ---------------------------------------------------------------- S3 only
@pytest.fixture
def s3_creds(s3_server: S3Server) -> dict[str, Any]:
    return {
        "s3_endpoint_url": s3_server.endpoint,
        "s3_access_key_id": s3_server.access_key,
        "s3_secret_access_key": s3_server.secret_key,
    }


def _s3(make_settings: Callable[..., Settings], **overrides: Any) -> ObjectStorage:
    store = build_storage(make_settings(**overrides))
    assert isinstance(store, S3Storage)
    return store


def _fresh_prefix(bucket: str) -> str:
    return f"s3://{bucket}/t-{uuid.uuid4().hex[:10]}"


@pytest.mark.s3
def test_s3_wrong_secret_is_misconfigured(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any], s3_bucket: str
) -> None:
    store = _s3(
        make_settings,
        **{**s3_creds, "s3_secret_access_key": "not-the-secret"},
        storage_url=_fresh_prefix(s3_bucket),
    )
    for call in (
        store.ping,
        lambda: store.put("x.jpg", b"x", content_type=JPEG),
        lambda: store.get("x.jpg"),
        lambda: store.head("x.jpg"),
        lambda: list(store.list("")),
        lambda: store.delete_many(["x.jpg"]),
    ):
        with pytest.raises(StorageMisconfigured) as exc:
            call()
        assert exc.value.status == 503
        assert exc.value.to_problem()["type"].endswith("/storage-misconfigured")
        assert "not-the-secret" not in str(exc.value) + repr(store)


@pytest.mark.s3
def test_s3_unreachable_fails_fast(make_settings: Callable[..., Settings]) -> None:
    store = _s3(
        make_settings,
        storage_url="s3://nowhere",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens here
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    for call in (
        store.ping,
        lambda: store.put("x.jpg", b"x", content_type=JPEG),
        lambda: store.head("x.jpg"),
        lambda: store.open("x.jpg"),
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as exc:
            call()
        assert time.monotonic() - started < 5
        assert exc.value.status == 503
        assert exc.value.headers["Retry-After"]
        assert not isinstance(exc.value, StorageMisconfigured)


@pytest.mark.s3
def test_s3_missing_bucket_is_misconfigured(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any]
) -> None:
    store = _s3(make_settings, storage_url="s3://gridfix-no-such-bucket", **s3_creds)
    with pytest.raises(StorageMisconfigured):
        store.ping()


@pytest.mark.s3
def test_s3_creates_the_bucket_when_asked(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any]
) -> None:
    overrides = {
        **s3_creds,
        "storage_url": f"s3://gridfix-created-{uuid.uuid4().hex[:8]}",
        "s3_create_bucket": True,
    }
    first = _s3(make_settings, **overrides)
    first.ping()
    first.put("x", b"x", content_type="text/plain")
    second = _s3(make_settings, **overrides)  # the bucket exists now: no error
    assert second.get("x") == b"x"


@pytest.mark.s3
def test_s3_keys_live_under_the_prefix(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any], s3_bucket: str
) -> None:
    url = _fresh_prefix(s3_bucket) + "/deeper"
    prefixed = _s3(make_settings, storage_url=url, **s3_creds)
    whole = _s3(make_settings, storage_url=f"s3://{s3_bucket}", **s3_creds)
    prefixed.put("a/b.jpg", b"x", content_type=JPEG)
    assert whole.exists(url.removeprefix(f"s3://{s3_bucket}/") + "/a/b.jpg")
    assert [o.key for o in prefixed.list("")] == ["a/b.jpg"]


@pytest.mark.s3
def test_s3_presigned_put_cannot_enforce_max_bytes(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any], s3_bucket: str
) -> None:
    """Documents the S3 limit: the caller checks ``head().size`` after the upload."""
    store = _s3(make_settings, storage_url=_fresh_prefix(s3_bucket), **s3_creds)
    upload = store.presigned_put("big.jpg", content_type=JPEG, max_bytes=10, ttl_s=60)
    r = httpx.put(upload.url, content=b"x" * 100, headers=dict(upload.headers), timeout=10)
    assert r.status_code == 200
    info = store.head("big.jpg")
    assert info is not None and info.size == 100 > 10


@pytest.mark.s3
def test_s3_repr_hides_credentials(
    make_settings: Callable[..., Settings], s3_creds: dict[str, Any], s3_bucket: str
) -> None:
    store = _s3(make_settings, storage_url=_fresh_prefix(s3_bucket), **s3_creds)
    assert s3_creds["s3_secret_access_key"] not in repr(store)


def test_s3_error_mapping() -> None:
    """Failures SeaweedFS will not produce on demand (5xx, throttling, read timeouts)."""
    from botocore.exceptions import ClientError, ReadTimeoutError

    from app.photos.s3 import _s3_errors

    def client_error(status: int, code: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
        )

    cases: list[tuple[Exception, type[Exception]]] = [
        (client_error(503, "SlowDown"), StorageUnavailable),
        (client_error(500, "InternalError"), StorageUnavailable),
        (client_error(403, "SignatureDoesNotMatch"), StorageMisconfigured),
        (client_error(404, "NoSuchBucket"), StorageMisconfigured),
        (client_error(404, "NoSuchKey"), ObjectNotFound),
        (client_error(400, "InvalidArgument"), ClientError),  # our bug: stays a 500
        (ReadTimeoutError(endpoint_url="http://s3"), StorageUnavailable),
    ]
    for raised, expected in cases:
        with pytest.raises(expected), _s3_errors("op", "k"):
            raise raised


# ---------------------------------------------------------------- local folder only
@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        tmp_path / "objects",
        public_base_url="http://testserver",
        secret_key="k" * 40,
        default_ttl_s=60,
    )


def test_local_folder_is_created_on_demand(local: LocalStorage) -> None:
    assert not local.root.exists()
    local.ping()
    assert local.root.is_dir()


def test_local_internal_files_are_invisible(local: LocalStorage) -> None:
    local.put("a/b.jpg", b"x", content_type=JPEG)
    (local.root / "a" / ".tmp-leftover").write_bytes(b"crash debris")
    (local.root / "a" / "not a key.txt").write_bytes(b"dropped in by hand")
    names = sorted(p.name for p in (local.root / "a").iterdir())
    assert ".b.jpg.meta.json" in names
    assert [o.key for o in local.list("")] == ["a/b.jpg"]


def test_local_writes_leave_no_temp_files(local: LocalStorage) -> None:
    local.put("w/ok.jpg", b"x", content_type=JPEG)
    with pytest.raises(InvalidInput):
        local.put("w/bad.jpg", b"x", content_type=JPEG, size=2)
    with pytest.raises(OSError, match="dropped"):
        local.put("w/fail.jpg", Unseekable(b"y" * 100_000, fail_after=1000), content_type=JPEG)
    assert sorted(p.name for p in (local.root / "w").iterdir()) == [".ok.jpg.meta.json", "ok.jpg"]


def test_local_file_and_folder_cannot_share_a_key(local: LocalStorage) -> None:
    local.put("c/d", b"x", content_type=JPEG)
    with pytest.raises(InvalidKey):
        local.put("c", b"x", content_type=JPEG)
    with pytest.raises(InvalidKey):
        local.put("c/d/e", b"x", content_type=JPEG)
    assert local.get("c/d") == b"x"


def test_local_symlinks_cannot_lead_outside(local: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    local.root.mkdir(parents=True)
    (local.root / "dir-link").symlink_to(outside, target_is_directory=True)
    (local.root / "file-link.txt").symlink_to(outside / "secret.txt")

    for key in ("dir-link/secret.txt", "file-link.txt"):
        with pytest.raises(InvalidKey):
            local.get(key)
        with pytest.raises(InvalidKey):
            local.head(key)
        with pytest.raises(InvalidKey):
            local.delete(key)
    with pytest.raises(InvalidKey):
        local.put("dir-link/planted.txt", b"x", content_type="text/plain")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret"
    assert list(local.list("")) == []


def test_local_signature_depends_on_the_secret(local: LocalStorage, tmp_path: Path) -> None:
    other = LocalStorage(
        local.root, public_base_url="http://testserver", secret_key="o" * 40, default_ttl_s=60
    )
    url = other.presigned_get("a.jpg")
    query = dict(httpx.URL(url).params)
    with pytest.raises(SignedUrlInvalid, match="signature") as exc:
        local.verify("GET", "a.jpg", query)
    assert exc.value.status == 403
