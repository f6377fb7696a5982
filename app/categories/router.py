"""The hazard catalogue: public reads (riders load it before signing in), admin writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status

from app.auth.dependencies import AdminPrincipal
from app.categories import service
from app.categories.dependencies import IncludeRetired, VisibleCategory
from app.categories.fingerprint import catalogue_fingerprint
from app.categories.schemas import CategoryCreate, CategoryList, CategoryOut, CategoryPatch
from app.core.db import DbSession
from app.core.errors import problem_responses

router = APIRouter(prefix="/categories", tags=["categories"])

PUBLIC_CACHE = "public, max-age=60"
# The list with retired categories is for admins only: no shared cache may keep it.
PRIVATE_CACHE = "private, no-cache"

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current"}
}


def _etag(fingerprint: str, include_retired: bool) -> str:
    return f'"{fingerprint}{"-all" if include_retired else ""}"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against a list of tags, or ``*``."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


@router.get(
    "",
    response_model=CategoryList,
    responses={**_NOT_MODIFIED, **problem_responses(401, 403, 422)},
)
def list_categories(
    request: Request, response: Response, session: DbSession, include_retired: IncludeRetired
) -> Any:
    """The hazard catalogue by sort order; send `If-None-Match` to get 304 when unchanged."""
    categories = service.list_categories(session, include_retired=include_retired)
    fingerprint = catalogue_fingerprint(categories, include_retired=include_retired)
    headers = {
        "ETag": _etag(fingerprint, include_retired),
        "Cache-Control": PRIVATE_CACHE if include_retired else PUBLIC_CACHE,
    }
    if _etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    response.headers.update(headers)
    return CategoryList(
        items=[CategoryOut.from_category(c) for c in categories], fingerprint=fingerprint
    )


@router.get(
    "/{code}",
    response_model=CategoryOut,
    responses=problem_responses(401, 404, 422),
)
def get_category(category: VisibleCategory) -> CategoryOut:
    """One category; retired ones are visible to admins only."""
    return CategoryOut.from_category(category)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryOut,
    responses=problem_responses(401, 403, 409, 422),
)
def create_category(
    body: CategoryCreate,
    _admin: AdminPrincipal,
    session: DbSession,
    request: Request,
    response: Response,
) -> CategoryOut:
    """Add a hazard category (admin only)."""
    category = service.create_category(session, body)
    response.headers["Location"] = str(request.url_for("get_category", code=category.code))
    return CategoryOut.from_category(category)


@router.patch(
    "/{code}",
    response_model=CategoryOut,
    responses=problem_responses(401, 403, 404, 422),
)
def update_category(
    code: Annotated[str, Path(max_length=32, description="Category code")],
    body: CategoryPatch,
    _admin: AdminPrincipal,
    session: DbSession,
) -> CategoryOut:
    """Edit a category; `active: false` retires it, `true` brings it back (admin only)."""
    return CategoryOut.from_category(service.update_category(session, code, body))
