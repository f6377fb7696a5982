"""Errors of the object-storage layer, rendered as problem details by the one handler."""

from __future__ import annotations

from app.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)


class ObjectNotFound(NotFound):
    code = "object-not-found"
    title = "Object not found"


class InvalidKey(InvalidInput):
    code = "invalid-object-key"
    title = "Object key is not valid"


class StorageUnavailable(ServiceUnavailable):
    """The object store cannot be reached or answered with a server error; retrying may help."""

    code = "storage-unavailable"
    title = "Object storage temporarily unavailable"


class StorageMisconfigured(StorageUnavailable):
    """The object store refused our credentials or has no such bucket.

    Still a 503 to clients (the fault is ours, not theirs), but retrying will
    not help until an operator fixes the settings, so it has its own code.
    """

    code = "storage-misconfigured"
    title = "Object storage is misconfigured"


class SignedUrlInvalid(Forbidden):
    """A local signed URL was tampered with, is incomplete or is used with another method."""

    code = "invalid-signature"
    title = "Signed URL is not valid"


class SignedUrlExpired(Forbidden):
    code = "signed-url-expired"
    title = "Signed URL has expired"


class ContentTypeMismatch(Forbidden):
    code = "content-type-mismatch"
    title = "Content-Type differs from the signed one"


class ObjectTooLarge(PayloadTooLarge):
    """A body or object over its size limit (413)."""
