"""Object storage: one interface, two implementations (S3-compatible and a local folder).

Everything callers need lives here: the :class:`ObjectStorage` protocol, its
small result types, the key rules both implementations share, and
:func:`build_storage`, which the application lifespan calls once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import quote

from app.core.errors import InvalidInput
from app.photos.exceptions import InvalidKey

if TYPE_CHECKING:
    from app.config import Settings

MAX_KEY_LENGTH = 512
# File systems and SeaweedFS's filer cap a path segment at 255 bytes; the local
# store also needs room for its ".<name>.meta.json" sidecar next to the object.
MAX_SEGMENT_LENGTH = 200
# S3 caps presigned URLs at 7 days; the local store follows the same bound.
MAX_PRESIGN_TTL_S = 7 * 86400
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# A segment may not start with a dot: that rules out "." and ".." and leaves
# dot-names free for the local store's own files (temp files, metadata), so
# they can never collide with an object.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_MEDIA_CHARS = r"[A-Za-z0-9!#$&^_.+-]+"
_CONTENT_TYPE = re.compile(rf"{_MEDIA_CHARS}/{_MEDIA_CHARS}(?:; ?{_MEDIA_CHARS}={_MEDIA_CHARS})*")
_MAX_CONTENT_TYPE = 255


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a successful ``put`` wrote."""

    key: str
    size: int
    content_type: str
    etag: str | None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as ``head`` or ``list`` sees it.

    ``content_type`` is None from ``list`` on S3 (listing does not return it).
    """

    key: str
    size: int
    content_type: str | None
    etag: str | None
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """A URL a client uploads to directly, and the headers it must send with it."""

    url: str
    method: str
    expires_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


class ObjectStorage(Protocol):
    """The object store as the rest of gridfix sees it.

    Keys are validated by :func:`validate_key` (relative, ``/``-separated
    segments of ``[A-Za-z0-9._-]``). Failures are typed: ``InvalidKey``,
    ``ObjectNotFound``, ``StorageUnavailable`` (and its ``StorageMisconfigured``).
    """

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str,
        size: int | None = None,
        private: bool = True,
    ) -> StoredObject:
        """Write (or overwrite) an object in one step: readers see the old or the new bytes.

        ``size``, when given, must equal the byte count, else ``InvalidInput`` and
        nothing is written. Streams must be seekable on S3 (the request is signed
        over the body). ``private=False`` asks S3 for a public-read ACL; the local
        store serves nothing without a signed URL either way.
        """
        ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> Iterator[bytes]:
        """Stream an object in chunks. Raises ``ObjectNotFound`` at the call, not mid-stream."""
        ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""
        ...

    def delete_many(self, keys: Iterable[str]) -> None: ...

    def presigned_get(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        """A URL that reads the object until it expires, served inline as ``filename``."""
        ...

    def presigned_put(
        self, key: str, *, content_type: str, max_bytes: int, ttl_s: int | None = None
    ) -> PresignedUpload:
        """A URL that accepts one upload with exactly ``content_type``.

        Only the local store can enforce ``max_bytes``; on S3 check ``head().size``
        after the upload (see :class:`app.photos.s3.S3Storage.presigned_put`).
        """
        ...

    def ping(self) -> None:
        """One round trip; raises ``StorageUnavailable`` if the store cannot be used."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (for sweepers).

        No order is promised: AWS S3 and the local store list in key order,
        SeaweedFS folder by folder.
        """
        ...


class ChunkStream(Iterator[bytes]):
    """Chunks read from an open file or response, which is closed when the stream is
    exhausted, closed, or garbage-collected (even if iteration never started)."""

    def __init__(
        self, read: Callable[[int], bytes], close: Callable[[], None], chunk_size: int
    ) -> None:
        self._read = read
        self._close: Callable[[], None] | None = close
        self._chunk_size = chunk_size

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            chunk = self._read(self._chunk_size)
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __del__(self) -> None:
        self.close()


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``InvalidKey``.

    At most 512 characters, segments at most 200. Both stores call this before
    touching anything, so a key that is valid on one is valid on the other and
    none can name a path outside the store.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"object key is longer than {MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKey(
                "object key must be relative, '/'-separated segments of letters, digits, "
                "'.', '_' and '-', none empty and none starting with '.'"
            )
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise InvalidKey(f"object key segments are at most {MAX_SEGMENT_LENGTH} characters")
    return key


def is_valid_segment(name: str) -> bool:
    return _SEGMENT.fullmatch(name) is not None


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key optionally ending in ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix.removesuffix("/"))
    return prefix


def validate_content_type(content_type: str) -> str:
    """Accept ``type/subtype[; param=value]``; nothing that could break a header line."""
    if len(content_type) > _MAX_CONTENT_TYPE or not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput(f"not a valid media type: {content_type[:80]!r}")
    return content_type


def resolve_ttl(ttl_s: int | None, default: int) -> int:
    ttl = default if ttl_s is None else ttl_s
    if not 1 <= ttl <= MAX_PRESIGN_TTL_S:
        raise ValueError(f"presign ttl must be 1..{MAX_PRESIGN_TTL_S} s, got {ttl}")
    return ttl


def check_max_bytes(max_bytes: int) -> int:
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    return max_bytes


def safe_filename(filename: str) -> str:
    """Drop what could escape a header or a folder: controls, separators, quotes."""
    cleaned = "".join(
        "_" if ch in '/\\"' or ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in filename
    )
    return cleaned.strip(" .")[:200] or "download"


def content_disposition(filename: str) -> str:
    """``inline`` with an ASCII fallback and the UTF-8 name (RFC 6266) for non-ASCII names."""
    name = safe_filename(filename)
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)
    value = f'inline; filename="{ascii_name}"'
    if ascii_name != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def build_storage(settings: Settings) -> ObjectStorage:
    """The store ``settings.storage_kind`` names, built once (S3 client included).

    The implementations are imported here rather than at the top so that boto3
    is only loaded when S3 is configured, and so they can import this module.
    """
    if settings.storage_kind == "s3":
        from app.photos.s3 import S3Storage

        return S3Storage.from_settings(settings)
    from app.photos.local import LocalStorage

    return LocalStorage.from_settings(settings)
