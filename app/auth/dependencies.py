"""Who is calling, and may they: the dependencies every router uses.

Credentials, in order of precedence:

- ``X-API-Key: gfk_…`` (partner systems), or ``Authorization: ApiKey gfk_…``
  (``Authorization: Bearer gfk_…`` too, for clients that only speak Bearer);
- ``Authorization: Bearer <jwt>`` (people, from ``POST /v1/auth/token`` or rider sign-up).

Sending both ``X-API-Key`` and ``Authorization`` is refused: guessing which one
the caller meant is how privilege mix-ups start.

A credential that resolved recently is answered from this process's
:class:`~app.auth.service.PrincipalCache` without looking its principal up:
revocation, deactivation, role and office changes made elsewhere apply within
``GRIDFIX_AUTH_CACHE_TTL_S`` seconds (default 5).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.actor import Actor, AuthMethod
from app.auth.enums import Role
from app.auth.exceptions import InvalidToken
from app.auth.scope import Scope, can_see_office, office_ids_visible, scope_filter
from app.auth.security import API_KEY_TAG
from app.config import Settings
from app.core.db import DbSession, single_read
from app.core.errors import Unauthorized

__all__ = [
    "AdminPrincipal",
    "AppSettings",
    "CurrentPrincipal",
    "CurrentScope",
    "OptionalPrincipal",
    "RiderPrincipal",
    "StaffPrincipal",
    "build_principal_cache",
    "can_see_office",
    "current_principal",
    "get_settings",
    "office_ids_visible",
    "optional_principal",
    "require_roles",
    "scope_filter",
]

TOKEN_URL = "/v1/auth/token"  # noqa: S105 - a URL, not a secret
API_KEY_HEADER = "X-API-Key"

# These two only describe the schemes in OpenAPI (the docs' "Authorize" button);
# the header parsing below is ours, since neither understands "ApiKey" credentials.
_oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    scheme_name="BearerToken",
    description="A token from POST /v1/auth/token or POST /v1/riders.",
)
_api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="A partner key, gfk_…; `Authorization: ApiKey gfk_…` works too.",
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_settings)]


def build_principal_cache(settings: Settings) -> service.PrincipalCache | None:
    """The lifespan's principal cache; ``None`` when the TTL setting is 0 (off)."""
    ttl = settings.auth_cache_ttl_s
    return service.PrincipalCache(ttl) if ttl > 0 else None


def _credential(request: Request) -> tuple[AuthMethod, str] | None:
    """Which credential the request carries, and its text; None when it sends none."""
    api_key = request.headers.get(API_KEY_HEADER)
    authorization = request.headers.get("Authorization")
    if api_key is not None and authorization is not None:
        raise InvalidToken(f"send either {API_KEY_HEADER} or Authorization, not both")
    if api_key is not None:
        return "api_key", api_key
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        raise InvalidToken("Authorization header has no credentials")
    scheme = scheme.lower()
    # Many HTTP clients only know Bearer; a key sent that way is still recognised.
    if scheme == "apikey" or (scheme == "bearer" and credentials.startswith(API_KEY_TAG + "_")):
        return "api_key", credentials
    if scheme == "bearer":
        return "token", credentials
    raise InvalidToken("unsupported Authorization scheme; use Bearer or ApiKey")


async def optional_principal(
    request: Request,
    session: DbSession,
    _bearer: Annotated[str | None, Depends(_oauth2_scheme)],
    _api_key: Annotated[str | None, Depends(_api_key_scheme)],
) -> Actor | None:
    """The caller, or ``None`` when no credential was sent. A bad credential is a 401.

    A credential in the principal cache is answered on the event loop; only a
    lookup (a query, perhaps a key's last-use stamp) goes to a worker thread.
    Every request solves this, so its own dependencies are kept to the ones
    OpenAPI needs to see (FastAPI solves a dependency's sub-tree on each use).
    """
    settings: Settings = request.app.state.settings
    found = _credential(request)
    if found is None:
        return None
    kind, credential = found
    cache: service.PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    if cache is not None:
        # A revocation made in this request clears this process's entries too.
        session.info[service.PRINCIPAL_CACHE_INFO] = cache
        key = cache.key(kind, credential)
        if (hit := cache.get(key)) is None and cache.holds(key) and cache.due():
            # Held, but the epoch was last seen too long ago: one read of it
            # (at most once every few seconds in this process) vouches again.
            await run_in_threadpool(_refresh_epoch, request, session, cache)
            hit = cache.get(key)
        if hit is not None:
            return hit
    if kind == "api_key":
        return await run_in_threadpool(service.actor_from_api_key, session, credential, cache=cache)
    return await run_in_threadpool(
        service.actor_from_token, session, settings, credential, cache=cache
    )


def _refresh_epoch(request: Request, session: Session, cache: service.PrincipalCache) -> None:
    with single_read(session, request.app.state.read_engine) as conn:
        service.refresh_epoch(cache, conn)


def _authenticated(actor: Actor | None) -> Actor:
    if actor is None:
        raise Unauthorized("authentication required: send a bearer token or an API key")
    return actor


async def current_principal(
    actor: Annotated[Actor | None, Depends(optional_principal)],
) -> Actor:
    """The caller; 401 when no credential was sent."""
    return _authenticated(actor)


OptionalPrincipal = Annotated[Actor | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Actor, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    """Dependency factory: the caller if their role is one of ``roles``, else 403.

    ``actor: Annotated[Actor, Depends(require_roles(Role.officer, Role.supervisor))]``
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")

    # On optional_principal directly, not current_principal: one level less to
    # solve on every request.
    async def dependency(caller: OptionalPrincipal) -> Actor:
        actor = _authenticated(caller)
        service.require_role(actor, *roles)
        return actor

    dependency.__name__ = "require_" + "_or_".join(r.value for r in roles)
    return dependency


AdminPrincipal = Annotated[Actor, Depends(require_roles(Role.admin))]
StaffPrincipal = Annotated[Actor, Depends(require_roles(Role.officer, Role.supervisor, Role.admin))]
RiderPrincipal = Annotated[Actor, Depends(require_roles(Role.rider))]


async def current_scope(actor: CurrentPrincipal) -> Scope:
    return Scope(actor)


CurrentScope = Annotated[Scope, Depends(current_scope)]
