"""Opaque cursors for keyset pagination.

A cursor is URL-safe base64 of a small JSON object (the last row's sort key).
Tampered or foreign cursors are a 422 naming the ``cursor`` parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from app.core.errors import InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 500


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, *, kind: str) -> dict[str, Any] | None:
    """The key inside ``cursor``; it must have been made for the same list (``kind``)."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise InvalidInput(
            "cursor is not valid for this list",
            errors=[{"field": "cursor", "reason": "not a cursor issued by this list"}],
        )
    return data


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )
