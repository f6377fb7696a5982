"""The local-folder object store: the embedded default, and the dev/test stand-in for S3.

Layout: the object ``a/b.jpg`` is the file ``ROOT/a/b.jpg`` (so the folder stays
browsable) and its metadata is ``ROOT/a/.b.jpg.meta.json``. Keys never have a
segment starting with ``.``, so temp and metadata files cannot collide with an
object and ``list`` skips them.

Signed URLs point at ``router.py`` (``/v1/storage/local/{key}``) and carry an
HMAC-SHA256 over method, key, expiry, content type, size limit and filename.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from app.config import Settings
from app.core.errors import InvalidInput
from app.photos.exceptions import (
    InvalidKey,
    ObjectNotFound,
    SignedUrlExpired,
    SignedUrlInvalid,
    StorageUnavailable,
)
from app.photos.storage import (
    DEFAULT_CONTENT_TYPE,
    ChunkStream,
    ObjectInfo,
    PresignedUpload,
    StoredObject,
    check_max_bytes,
    is_valid_segment,
    resolve_ttl,
    safe_filename,
    validate_content_type,
    validate_key,
    validate_prefix,
)

URL_PATH = "/v1/storage/local/"  # served by app/photos/router.py
CHUNK_SIZE = 64 * 1024
_META_SUFFIX = ".meta.json"
# Derive a key for URL signatures so the raw secret (also used for tokens)
# never signs anything of this shape directly.
_SIGNING_CONTEXT = b"gridfix/local-storage-url/v1"


@dataclass(frozen=True, slots=True)
class SignedGrant:
    """What a verified signed URL allows."""

    method: str
    key: str
    expires: int
    content_type: str
    max_bytes: int
    filename: str


class AtomicWriter:
    """Bytes go to a temp file next to the object; ``commit`` fsyncs and renames it over the key.

    A crash or an aborted upload leaves at most a dot-named temp file, never a
    partial object. Metadata is renamed into place first: after a crash between
    the two renames a new key has no object yet (metadata alone is ignored), but
    an overwritten key keeps its old bytes under the new content type and ETag.
    Keys are deterministic and a rewrite repeats the same upload, so we accept it.
    """

    def __init__(self, path: Path, key: str, content_type: str) -> None:
        self.key = key
        self.size = 0
        self._path = path
        self._content_type = content_type
        self._md5 = hashlib.md5(usedforsecurity=False)  # S3-style ETag, not security
        if path.is_dir():
            raise InvalidKey(f"{key!r} is a prefix of other objects on the local store")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(f"a parent of {key!r} is an object on the local store") from None
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def commit(self, expected_size: int | None = None) -> StoredObject:
        if expected_size is not None and expected_size != self.size:
            self.discard()
            raise InvalidInput(f"declared size {expected_size} but received {self.size} bytes")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            etag = self._md5.hexdigest()
            meta = {"content_type": self._content_type, "etag": etag, "size": self.size}
            _write_atomically(_meta_path(self._path), json.dumps(meta).encode())
            os.replace(self._tmp, self._path)
            _fsync_dir(self._path.parent)
        except BaseException:
            self.discard()
            raise
        self._done = True
        return StoredObject(self.key, self.size, self._content_type, etag)

    def discard(self) -> None:
        """Drop the temp file; a no-op after ``commit``."""
        if self._done:
            return
        self._done = True
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalStorage:
    """Objects as files under one folder, created on first use."""

    def __init__(
        self,
        root: Path,
        *,
        public_base_url: str,
        secret_key: str,
        default_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Resolve once: every object path must stay inside this real path.
        self.root = root.resolve()
        self._base_url = public_base_url.rstrip("/")
        self._signing_key = hmac.new(secret_key.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()
        self._default_ttl_s = default_ttl_s
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        return cls(
            settings.local_storage_dir,
            public_base_url=settings.public_base_url,
            secret_key=settings.secret_key.get_secret_value(),
            default_ttl_s=settings.presign_ttl_s,
        )

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r})"

    # ------------------------------------------------------------------ objects
    def path_for(self, key: str) -> Path:
        """The file of ``key``, refusing any that resolves outside the root (e.g. via symlinks)."""
        validate_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey("object key leads outside the storage folder")
        return path

    def begin_write(self, key: str, content_type: str) -> AtomicWriter:
        """Start an upload the caller feeds in chunks (the signed PUT endpoint does)."""
        return AtomicWriter(self.path_for(key), key, validate_content_type(content_type))

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str,
        size: int | None = None,
        private: bool = True,
    ) -> StoredObject:
        writer = self.begin_write(key, content_type)
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                writer.write(bytes(data))
            else:
                while chunk := data.read(CHUNK_SIZE):
                    writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer.commit(size)

    def get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r}") from None

    def open(self, key: str) -> Iterator[bytes]:
        return self.open_with_info(key)[1]

    def open_with_info(self, key: str) -> tuple[ObjectInfo, Iterator[bytes]]:
        """Open an object and describe *the opened file*: its size stays true even if
        the key is overwritten while it streams (the rename leaves our handle alone)."""
        path = self.path_for(key)
        try:
            # Opened here, not in the generator, so a missing key fails at the call.
            f = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r}") from None
        st = os.fstat(f.fileno())
        return self._info(key, path, st), ChunkStream(f.read, f.close, CHUNK_SIZE)

    def head(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return self._info(key, path, st)

    def _info(self, key: str, path: Path, st: os.stat_result) -> ObjectInfo:
        meta = _read_meta(path)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            content_type=meta.get("content_type") or DEFAULT_CONTENT_TYPE,
            etag=meta.get("etag"),
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        if path.is_dir():
            return  # a prefix of other objects, not an object
        # Empty folders are left behind on purpose: removing them would race a
        # concurrent put that has just created its folder.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
            _meta_path(path).unlink(missing_ok=True)

    def delete_many(self, keys: Iterable[str]) -> None:
        checked = [validate_key(k) for k in keys]  # all valid before any is deleted
        for key in checked:
            self.delete(key)

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"local storage folder cannot be created: {exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable("local storage folder is not writable")

    # ------------------------------------------------------------------ signed URLs
    def presigned_get(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        validate_key(key)
        expires = self._expires(ttl_s)
        fn = safe_filename(filename) if filename else ""
        params = {"expires": str(expires), "method": "GET"}
        if fn:
            params["fn"] = fn
        params["sig"] = self._sign("GET", key, expires, "", 0, fn)
        return self._url(key, params)

    def presigned_put(
        self, key: str, *, content_type: str, max_bytes: int, ttl_s: int | None = None
    ) -> PresignedUpload:
        validate_key(key)
        validate_content_type(content_type)
        check_max_bytes(max_bytes)
        expires = self._expires(ttl_s)
        params = {
            "expires": str(expires),
            "method": "PUT",
            "ct": content_type,
            "max": str(max_bytes),
            "sig": self._sign("PUT", key, expires, content_type, max_bytes, ""),
        }
        return PresignedUpload(
            url=self._url(key, params),
            method="PUT",
            expires_at=datetime.fromtimestamp(expires, UTC),
            headers={"Content-Type": content_type},
        )

    def verify(self, method: str, key: str, query: Mapping[str, str]) -> SignedGrant:
        """Check a signed URL for ``method`` on ``key``; raise a 403 (or 422) error if it fails."""
        validate_key(key)
        signed_method = query.get("method", "")
        sig = query.get("sig", "")
        content_type = query.get("ct", "") if signed_method == "PUT" else ""
        filename = query.get("fn", "") if signed_method == "GET" else ""
        try:
            expires = int(query.get("expires", ""))
            max_bytes = int(query.get("max", "")) if signed_method == "PUT" else 0
        except ValueError:
            raise SignedUrlInvalid("signed URL is incomplete or malformed") from None
        if signed_method not in ("GET", "PUT") or not sig:
            raise SignedUrlInvalid("signed URL is incomplete or malformed")
        expected = self._sign(signed_method, key, expires, content_type, max_bytes, filename)
        # Bytes, because compare_digest refuses non-ASCII str (a tampered sig may be any text).
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise SignedUrlInvalid("signature does not match this URL")
        if signed_method != method:
            raise SignedUrlInvalid(f"this URL is signed for {signed_method}, not {method}")
        if self._clock() >= expires:
            raise SignedUrlExpired("this signed URL has expired; ask for a new one")
        return SignedGrant(signed_method, key, expires, content_type, max_bytes, filename)

    def seconds_left(self, grant: SignedGrant) -> int:
        return max(0, int(grant.expires - self._clock()))

    def _expires(self, ttl_s: int | None) -> int:
        return int(self._clock()) + resolve_ttl(ttl_s, self._default_ttl_s)

    def _sign(
        self, method: str, key: str, expires: int, content_type: str, max_bytes: int, fn: str
    ) -> str:
        # A JSON array keeps the fields unambiguous whatever characters they hold.
        message = json.dumps(
            [method, key, expires, content_type, max_bytes, fn],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hmac.new(self._signing_key, message.encode(), hashlib.sha256).hexdigest()

    def _url(self, key: str, params: Mapping[str, str]) -> str:
        return f"{self._base_url}{URL_PATH}{quote(key, safe='/')}?{urlencode(params)}"

    # ------------------------------------------------------------------ listing
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        folder_key, _, _ = prefix.rpartition("/")
        # Start at the deepest folder the prefix names, not at the root.
        start = self.path_for(folder_key) if folder_key else self.root
        return self._walk(start, f"{folder_key}/" if folder_key else "", prefix)

    def _walk(self, folder: Path, key_prefix: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            entries = [e for e in os.scandir(folder) if is_valid_segment(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sorting folders as "name/" yields keys in plain string order, as S3 lists them.
        entries.sort(key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in entries:
            key = key_prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                sub = key + "/"
                if sub.startswith(prefix) or prefix.startswith(sub):
                    yield from self._walk(Path(entry.path), sub, prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                info = self.head(key)
                if info is not None:
                    yield info


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_META_SUFFIX}")


def _read_meta(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(_meta_path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the folder entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
