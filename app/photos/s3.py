"""The S3-compatible object store (AWS S3, SeaweedFS, MinIO). The only module that imports boto3.

Every botocore failure leaves this module as a typed error: a missing object as
``ObjectNotFound``; a store that is down, slow or answering 5xx as
``StorageUnavailable``; rejected credentials or a missing bucket as
``StorageMisconfigured``. Anything else (a 4xx we did not expect) is a bug on
our side and surfaces unchanged, as a logged 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.config import Settings
from app.core.errors import InvalidInput
from app.photos.exceptions import ObjectNotFound, StorageMisconfigured, StorageUnavailable
from app.photos.storage import (
    ChunkStream,
    ObjectInfo,
    PresignedUpload,
    StoredObject,
    check_max_bytes,
    content_disposition,
    resolve_ttl,
    validate_content_type,
    validate_key,
    validate_prefix,
)

log = logging.getLogger("gridfix.storage.s3")

# A request must fail within seconds when the store is down, not hang for the
# botocore defaults (60 s timeouts, several retries). Reads are bounded per
# socket read, not per object, so large objects still stream. A store that
# accepts connections but never answers holds a request (and one of the 40
# threads every sync endpoint shares) for up to TOTAL_ATTEMPTS × READ_TIMEOUT_S:
# about 10 s, not 20 s, before the client gets its 503.
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
TOTAL_ATTEMPTS = 2
# Sync endpoints run in a 40-thread pool; botocore's default of 10 pooled
# connections would make the 11th concurrent upload wait for a socket.
MAX_POOL_CONNECTIONS = 32
CHUNK_SIZE = 64 * 1024
_DELETE_BATCH = 1000  # DeleteObjects limit

_MISCONFIGURED = {
    "AccessDenied",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
}
_TRANSIENT = {"InternalError", "RequestTimeout", "ServiceUnavailable", "SlowDown", "Throttling"}


def make_client(settings: Settings, session: boto3.session.Session | None = None) -> Any:
    """One S3 client for the process (thread-safe), from settings."""
    config = Config(
        s3={"addressing_style": settings.s3_addressing_style},
        signature_version="s3v4",
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": TOTAL_ATTEMPTS, "mode": "standard"},
        max_pool_connections=MAX_POOL_CONNECTIONS,
        # Newer botocore adds CRC checksums (aws-chunked bodies) by default,
        # which several S3-compatible servers reject; send them only when required.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return (session or make_session(settings)).client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=config,
    )


def make_session(settings: Settings) -> boto3.session.Session:
    """The credentials: the configured key, else boto3's chain (environment,
    profile, instance role). A private session: the default one is
    process-global state other code can change."""
    secret = settings.s3_secret_access_key
    return boto3.session.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
    )


_PROBE_KEY = "gridfix-presign-probe"


class _GetSigner:
    """Presigned GETs, signed here by AWS Signature Version 4 (query form), as
    botocore's ``S3SigV4QueryAuth`` signs them — a test holds every URL to
    botocore's own for the same instant. botocore's client pipeline made a URL
    cost ~1.4 ms and its signer alone ~75 µs; an officer's ticket page carries
    three a photo. The signing key is derived once a day (four HMACs), and
    only the canonical request and one HMAC are computed a URL.

    Where objects live (endpoint, path- or virtual-host style) is read once
    from a URL the client itself presigned."""

    def __init__(self, client: Any, bucket: str, credentials: Any) -> None:
        probe = urlsplit(
            client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
            )
        )
        if not probe.path.endswith("/" + _PROBE_KEY):
            raise ValueError(f"unexpected presigned URL shape: {probe.path!r}")
        self._origin = f"{probe.scheme}://{probe.netloc}"
        self._prefix = probe.path[: -len(_PROBE_KEY)]
        self._host = _host_header(probe)
        self._region = client.meta.region_name
        self._credentials = credentials
        self._key: tuple[tuple[str, str], bytes] | None = None  # (secret, day) → key

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached = self._key
        if cached is not None and cached[0] == (secret, day):
            return cached[1]
        key = _hmac(("AWS4" + secret).encode(), day)
        for part in (self._region, "s3", "aws4_request"):
            key = _hmac(key, part)
        self._key = ((secret, day), key)
        return key

    def url(
        self, key: str, params: dict[str, str], ttl_s: int, *, now: datetime | None = None
    ) -> str:
        """A presigned GET of ``key`` (the full key) with ``params`` in its query."""
        # Frozen per URL: refreshable credentials (instance roles) renew themselves.
        frozen = self._credentials.get_frozen_credentials()
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{self._region}/s3/aws4_request"
        query = {
            **params,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{frozen.access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(ttl_s),
            "X-Amz-SignedHeaders": "host",
        }
        if frozen.token:
            query["X-Amz-Security-Token"] = frozen.token
        canonical_query = "&".join(
            sorted(
                f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}"
                for k, v in query.items()
            )
        )
        path = self._prefix + quote(key, safe="/~")
        request = f"GET\n{path}\n{canonical_query}\nhost:{self._host}\n\nhost\nUNSIGNED-PAYLOAD"
        digest = hashlib.sha256(request.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
        key_ = self._signing_key(frozen.secret_key, stamp[:8])
        signature = hmac.new(key_, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self._origin}{path}?{canonical_query}&X-Amz-Signature={signature}"


_UNRESERVED = "-_.~"  # RFC 3986: everything else in a name or value is percent-encoded


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _host_header(url: Any) -> str:
    """The Host a client sends to ``url`` (a split URL), as SigV4 signs it:
    lower case, the port only when it is not the scheme's default."""
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if url.port is not None and url.port != {"http": 80, "https": 443}.get(url.scheme):
        host = f"{host}:{url.port}"
    return host


@contextmanager
def _s3_errors(op: str, key: str | None = None, *, missing: str = "object") -> Iterator[None]:
    """Translate botocore failures of one operation into typed errors.

    ``missing`` says what a 404 means here: a missing ``object`` is the caller's
    ``ObjectNotFound``; a missing ``bucket`` is our misconfiguration.
    """
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if (status == 404 or code in ("NoSuchKey", "NotFound")) and code != "NoSuchBucket":
            if missing == "object":
                raise ObjectNotFound(f"no object {key!r}") from None
            code = "NoSuchBucket"
        if code in _MISCONFIGURED or status in (401, 403):
            log.error("s3 %s refused (%s %s): check credentials and bucket", op, status, code)
            raise StorageMisconfigured(
                "object storage refused the request; an operator must check its settings",
                retry_after=60,
            ) from exc
        if status >= 500 or code in _TRANSIENT:
            log.warning("s3 %s failed (%s %s)", op, status, code)
            raise StorageUnavailable("object storage answered with an error") from exc
        raise
    except (BotoConnectionError, HTTPClientError, IncompleteReadError) as exc:
        # Connection refused, timeouts, dropped streams: the store is down or overloaded.
        log.warning("s3 %s failed: %s", op, type(exc).__name__)
        raise StorageUnavailable("object storage is unreachable") from exc
    except NoCredentialsError as exc:
        raise StorageMisconfigured("no S3 credentials are configured", retry_after=60) from exc


class S3Storage:
    """Objects in one bucket, under an optional key prefix (``s3://bucket/prefix``)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        default_ttl_s: int,
        credentials: Any = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._default_ttl_s = default_ttl_s
        # Without credentials in hand, GETs are presigned through the client.
        self._get_signer = _GetSigner(client, bucket, credentials) if credentials else None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        session = make_session(settings)
        store = cls(
            make_client(settings, session),
            settings.s3_bucket,
            settings.s3_prefix,
            default_ttl_s=settings.presign_ttl_s,
            credentials=session.get_credentials(),
        )
        if settings.s3_create_bucket:
            store.ensure_bucket(settings.s3_region)
        return store

    def __repr__(self) -> str:
        # Never the client: its repr leads to the credentials.
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def ensure_bucket(self, region: str) -> None:
        """Create the bucket if it is missing (``GRIDFIX_S3_CREATE_BUCKET``); for dev and tests."""
        try:
            with _s3_errors("head_bucket", missing="object"):
                self._client.head_bucket(Bucket=self.bucket)
            return
        except ObjectNotFound:
            pass
        params: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with _s3_errors("create_bucket"):
                self._client.create_bucket(**params)
        except ClientError as exc:
            # Another process created it between our head and create.
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        log.info("created bucket %s", self.bucket)

    # ------------------------------------------------------------------ objects
    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str,
        size: int | None = None,
        private: bool = True,
    ) -> StoredObject:
        full = self._full(key)
        validate_content_type(content_type)
        body, length = _measure(data)
        if size is not None and size != length:
            raise InvalidInput(f"declared size {size} but the data has {length} bytes")
        extra = {} if private else {"ACL": "public-read"}
        with _s3_errors("put", key):
            resp = self._client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=body,
                ContentLength=length,
                ContentType=content_type,
                **extra,
            )
        return StoredObject(key, length, content_type, _etag(resp.get("ETag")))

    def get(self, key: str) -> bytes:
        full = self._full(key)
        with _s3_errors("get", key):
            body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def open(self, key: str) -> Iterator[bytes]:
        full = self._full(key)
        # The request is made here, not in the generator, so a missing key fails at the call.
        with _s3_errors("get", key):
            body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
        return ChunkStream(_reader(body, key), body.close, CHUNK_SIZE)

    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            with _s3_errors("head", key):
                resp = self._client.head_object(Bucket=self.bucket, Key=full)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            content_type=resp.get("ContentType"),
            etag=_etag(resp.get("ETag")),
            last_modified=_utc(resp.get("LastModified")),
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        full = self._full(key)
        with _s3_errors("delete", key):  # S3 answers 204 for a missing key too
            self._client.delete_object(Bucket=self.bucket, Key=full)

    def delete_many(self, keys: Iterable[str]) -> None:
        full = [self._full(k) for k in keys]  # all valid before any is deleted
        for start in range(0, len(full), _DELETE_BATCH):
            batch = [{"Key": k} for k in full[start : start + _DELETE_BATCH]]
            with _s3_errors("delete_many"):
                resp = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            errors = resp.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code")) for e in errors})
                log.warning("s3 delete_many: %d keys failed (%s)", len(errors), ", ".join(codes))
                if _MISCONFIGURED.intersection(codes):
                    raise StorageMisconfigured("object storage refused to delete", retry_after=60)
                raise StorageUnavailable(f"{len(errors)} objects could not be deleted")

    def ping(self) -> None:
        with _s3_errors("ping", missing="bucket"):
            self._client.head_bucket(Bucket=self.bucket)

    # ------------------------------------------------------------------ presigned URLs
    def presigned_get(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        full = self._full(key)
        # Always a disposition, as the local store sends: without one a browser
        # picks a name from the URL and may treat the download as a page.
        disposition = content_disposition(filename or key.rsplit("/", 1)[-1])
        ttl = resolve_ttl(ttl_s, self._default_ttl_s)
        if self._get_signer is not None:
            return self._get_signer.url(full, {"response-content-disposition": disposition}, ttl)
        params = {"Bucket": self.bucket, "Key": full, "ResponseContentDisposition": disposition}
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        return url

    def presigned_put(
        self, key: str, *, content_type: str, max_bytes: int, ttl_s: int | None = None
    ) -> PresignedUpload:
        """A presigned PUT; the signature covers ``Content-Type``, so S3 refuses any other.

        S3 cannot enforce ``max_bytes`` on a presigned PUT (only presigned POST
        policies carry a content-length range), so it is not in the URL: after the
        client reports the upload done, check ``head(key).size`` and delete the
        object if it is larger.
        """
        full = self._full(key)
        validate_content_type(content_type)
        check_max_bytes(max_bytes)
        ttl = resolve_ttl(ttl_s, self._default_ttl_s)
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": full, "ContentType": content_type},
            ExpiresIn=ttl,
            HttpMethod="PUT",
        )
        return PresignedUpload(
            url=url,
            method="PUT",
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
            headers={"Content-Type": content_type},
        )

    # ------------------------------------------------------------------ listing
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        return self._list(root, root + prefix)

    def _list(self, root: str, full_prefix: str) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        with _s3_errors("list", missing="bucket"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", ()):
                    yield ObjectInfo(
                        key=item["Key"].removeprefix(root),
                        size=int(item["Size"]),
                        content_type=None,
                        etag=_etag(item.get("ETag")),
                        last_modified=_utc(item.get("LastModified")),
                    )


def _measure(data: bytes | BinaryIO) -> tuple[bytes | BinaryIO, int]:
    """The body and its length; an unseekable stream is read into memory (it must be signed)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), len(data)
    try:
        start = data.tell()
        end = data.seek(0, os.SEEK_END)
        data.seek(start)
    except (OSError, ValueError):
        buffered = data.read()
        return buffered, len(buffered)
    return data, end - start


def _reader(body: Any, key: str) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        with _s3_errors("get", key):  # the store can fail mid-object too
            return bytes(body.read(size))

    return read


def _utc(value: datetime | None) -> datetime | None:
    # botocore hands back dateutil zones (tzutc, tzlocal); callers compare in UTC.
    return value.astimezone(UTC) if value is not None else None


def _etag(raw: str | None) -> str | None:
    return raw.strip('"') if raw else None
