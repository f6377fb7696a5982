"""SQL for the category catalogue."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.categories.models import Category


def list_categories(session: Session, *, include_retired: bool = False) -> list[Category]:
    """Categories by ``sort_order``, then ``code``; active ones only unless asked."""
    stmt = select(Category).order_by(Category.sort_order, Category.code)
    if not include_retired:
        stmt = stmt.where(Category.active.is_(True))
    return list(session.scalars(stmt))


# Built once (every report looks its category up): a prebuilt statement's
# cache key is memoized on it.
_BY_CODE = select(Category).where(Category.code == bindparam("code"))


def get_by_code(session: Session, code: str) -> Category | None:
    """The category with ``code``, retired or not."""
    return session.scalar(_BY_CODE, {"code": code})


def existing_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Category.code)))


def add(session: Session, category: Category) -> Category:
    """Insert and flush, so a duplicate code fails here (IntegrityError)."""
    session.add(category)
    session.flush()
    return category
