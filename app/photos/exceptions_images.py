"""Why an uploaded photo was refused.

Every refusal is a :class:`PhotoRejected` carrying a machine-readable
:class:`RejectReason` (``exc.reason``, also rendered as ``reason`` in the problem
body) and a human sentence (``exc.detail``). Two reasons have their own HTTP
status, so they are subclasses: a file over the byte limit is 413 and a format
we do not take is 415; everything else is 422.
"""

from __future__ import annotations

from enum import StrEnum

from app.core.errors import DomainError


class RejectReason(StrEnum):
    empty = "empty"
    too_large = "too_large"
    unsupported_type = "unsupported_type"
    too_many_pixels = "too_many_pixels"
    undecodable = "undecodable"
    truncated = "truncated"
    too_small = "too_small"


class PhotoRejected(DomainError):
    """The bytes are not a photo we accept. ``reason`` says which check failed."""

    status = 422
    code = "photo-rejected"
    title = "Photo rejected"

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason.value!r}, detail={self.detail!r})"


class PhotoTooLarge(PhotoRejected):
    status = 413
    code = "photo-too-large"
    title = "Photo too large"


class PhotoTypeUnsupported(PhotoRejected):
    status = 415
    code = "photo-type-unsupported"
    title = "Photo type not supported"


def photo_rejected(reason: RejectReason, detail: str) -> PhotoRejected:
    """The exception for ``reason``, with the HTTP status that reason deserves."""
    if reason is RejectReason.too_large:
        return PhotoTooLarge(reason, detail)
    if reason is RejectReason.unsupported_type:
        return PhotoTypeUnsupported(reason, detail)
    return PhotoRejected(reason, detail)
