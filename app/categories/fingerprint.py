"""A content hash of the catalogue: Open311 discovery's changeset, dashboards' ETag.

It covers what clients see, not bookkeeping: a PATCH that changes nothing, or a
new ``updated_at``, leaves it alone, so caches are not emptied for nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from app.categories.models import Category

# The public fields of a category (``group`` is stored as ``group_code``).
PUBLIC_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "group_code",
    "description",
    "sla_hours",
    "photo_required",
    "evidence_required",
    "sort_order",
    "keywords",
    "attributes",
)


def _public(category: Category, *, with_active: bool) -> dict[str, Any]:
    row = {name: getattr(category, name) for name in PUBLIC_FIELDS}
    if with_active:
        row["active"] = category.active
    return row


def catalogue_fingerprint(categories: Iterable[Category], *, include_retired: bool = False) -> str:
    """SHA-256 (hex) of the public fields of the active categories, in any input order.

    With ``include_retired`` it covers every category given, and whether each is
    active, for lists that show retired ones too (a separate cache entry).
    """
    rows = [
        _public(c, with_active=include_retired) for c in categories if include_retired or c.active
    ]
    rows.sort(key=lambda row: str(row["code"]))
    blob = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
