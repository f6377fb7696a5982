"""The category catalogue: list, look up, seed the defaults, create and edit.

Services flush, never commit: the caller's transaction (the request, a CLI
command) decides.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.categories import repository
from app.categories.defaults import DEFAULT_CATEGORIES
from app.categories.exceptions import CategoryCodeTaken, CategoryNotFound
from app.categories.models import Category
from app.categories.schemas import CategoryCreate, CategoryPatch

# Body field → column, where they differ.
_COLUMN = {"group": "group_code"}


def list_categories(session: Session, *, include_retired: bool = False) -> list[Category]:
    """The catalogue by ``sort_order``, then ``code``; retired categories only if asked."""
    return repository.list_categories(session, include_retired=include_retired)


def get_by_code(session: Session, code: str, *, include_retired: bool = False) -> Category:
    """The category with ``code``; :class:`CategoryNotFound` (404) if there is none, or
    if it is retired and ``include_retired`` is false (new reports may not use it)."""
    category = repository.get_by_code(session, code)
    if category is None or not (category.active or include_retired):
        raise CategoryNotFound(f"no category with code {code!r}")
    return category


def ensure_defaults(session: Session) -> int:
    """Insert the default categories whose codes are missing; return how many.

    Existing rows are never changed, retired or edited ones included, so running
    it again (on every deploy, say) is harmless. Each insert has its own
    savepoint: if another process inserted the same code meanwhile, it is skipped.
    """
    existing = repository.existing_codes(session)
    inserted = 0
    for default in DEFAULT_CATEGORIES:
        if default.code in existing:
            continue
        try:
            with session.begin_nested():
                repository.add(session, Category(**default.as_row()))
        except IntegrityError:
            continue
        inserted += 1
    return inserted


def create_category(session: Session, data: CategoryCreate) -> Category:
    """Add a category; :class:`CategoryCodeTaken` (409) if the code exists, even retired."""
    if repository.get_by_code(session, data.code) is not None:
        raise _code_taken(data.code)
    category = Category(
        code=data.code,
        name_zh=data.name_zh,
        name_en=data.name_en,
        group_code=data.group,
        description=data.description,
        sla_hours=data.sla_hours,
        photo_required=data.photo_required,
        evidence_required=data.evidence_required,
        active=data.active,
        sort_order=data.sort_order,
        keywords=list(data.keywords),
        attributes=[a.model_dump(mode="json") for a in data.attributes],
    )
    try:
        with session.begin_nested():
            repository.add(session, category)
    except IntegrityError:
        # Created by a concurrent request between the check and the insert.
        raise _code_taken(data.code) from None
    return category


def update_category(session: Session, code: str, patch: CategoryPatch) -> Category:
    """Change the fields given in ``patch``; ``active=False`` retires, ``True`` restores.

    Retired categories can be edited too. Fields whose value does not change are
    not written, so a repeated PATCH leaves ``updated_at`` alone.
    """
    category = get_by_code(session, code, include_retired=True)
    # Only the fields sent, but each in full: exclude_unset would also drop the
    # defaults inside nested attribute definitions.
    changes: dict[str, Any] = patch.model_dump(mode="json", include=patch.model_fields_set)
    for field, value in changes.items():
        column = _COLUMN.get(field, field)
        if getattr(category, column) != value:
            setattr(category, column, value)
    session.flush()
    return category


def _code_taken(code: str) -> CategoryCodeTaken:
    return CategoryCodeTaken(
        f"a category with code {code!r} already exists; codes are permanent, "
        "so edit it (PATCH) or choose another code",
        errors=[{"field": "code", "in": "body", "reason": "already exists"}],
    )
