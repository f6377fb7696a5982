"""Who may see retired categories, and "load the category or 404"."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from app.auth.actor import Actor
from app.auth.dependencies import OptionalPrincipal
from app.auth.enums import Role
from app.categories import service
from app.categories.models import Category
from app.core.db import DbSession
from app.core.errors import Forbidden, Unauthorized


def _is_admin(actor: Actor | None) -> bool:
    return actor is not None and actor.has_role(Role.admin)


async def _include_retired(
    actor: OptionalPrincipal,
    include_retired: Annotated[
        bool, Query(description="Also list retired categories (admins only).")
    ] = False,
) -> bool:
    """The ``include_retired`` flag, refused rather than ignored for non-admins, so a
    client never mistakes the public list for the full one."""
    if include_retired and actor is None:
        raise Unauthorized("include_retired=true needs an admin's credentials")
    if include_retired and not _is_admin(actor):
        raise Forbidden("only admins may list retired categories")
    return include_retired


IncludeRetired = Annotated[bool, Depends(_include_retired)]


def _visible_category(
    session: DbSession,
    actor: OptionalPrincipal,
    code: Annotated[str, Path(max_length=32, description="Category code")],
) -> Category:
    # Retired categories are invisible (404) to everyone but admins.
    return service.get_by_code(session, code, include_retired=_is_admin(actor))


VisibleCategory = Annotated[Category, Depends(_visible_category)]
