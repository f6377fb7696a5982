"""Auth endpoints: tokens, rider sign-up, the caller, and admin of users and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from app.auth import models, schemas, service, tokens
from app.auth.dependencies import AdminPrincipal, AppSettings, CurrentPrincipal
from app.auth.enums import Role
from app.auth.exceptions import UnsupportedMediaType
from app.core.db import DbSession
from app.core.errors import InvalidInput, problem_responses
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.grids.models import Office

router = APIRouter(tags=["auth"])

PAGE_MAX = 200
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description=f"Page size, at most {PAGE_MAX}.")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]
PrincipalId = Annotated[int, Path(ge=1, le=2**62)]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _validation_error(exc: ValidationError) -> RequestValidationError:
    """Re-raise a model's errors as the framework's, so they render as field problems."""
    errors = []
    for err in exc.errors(include_url=False):
        errors.append({**err, "loc": ("body", *err["loc"])})
    return RequestValidationError(errors)


async def password_credentials(request: Request) -> schemas.PasswordLogin:
    """Read the password grant as a form (OAuth2) or as JSON."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    model: type[BaseModel]
    if media_type in _FORM_TYPES:
        form = await request.form()
        data: Any = dict(form.items())
        model = schemas.PasswordGrantForm
    elif media_type == "application/json" or media_type.endswith("+json"):
        try:
            data = await request.json()
        except ValueError:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "body is not valid JSON"}]
            ) from None
        model = schemas.PasswordLogin
    else:
        raise UnsupportedMediaType(
            "send application/x-www-form-urlencoded (OAuth2) or application/json"
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    assert isinstance(parsed, schemas.PasswordLogin | schemas.PasswordGrantForm)
    return schemas.PasswordLogin(username=parsed.username, password=parsed.password)


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": schemas.PasswordGrantForm.model_json_schema()
            },
            "application/json": {"schema": schemas.PasswordLogin.model_json_schema()},
        },
    }
}


def _after_id(cursor: str | None, kind: str) -> int | None:
    key = decode_cursor(cursor, kind=kind)
    if key is None:
        return None
    after = key.get("id")
    if not isinstance(after, int) or isinstance(after, bool):
        raise InvalidInput(
            "cursor is not valid for this list",
            errors=[{"field": "cursor", "in": "query", "reason": "not a cursor of this list"}],
        )
    return after


def _next_cursor(kind: str, last_id: int | None) -> str | None:
    return None if last_id is None else encode_cursor({"k": kind, "id": last_id})


def _principal_view(principal: models.Principal, office: Office | None) -> schemas.Principal:
    return schemas.Principal(
        id=principal.id,
        name=principal.name,
        display_name=principal.display_name,
        role=Role(principal.role),
        office_id=principal.office_id,
        office_code=office.code if office else None,
    )


def _api_key_view(key: models.ApiKey) -> schemas.ApiKey:
    return schemas.ApiKey.model_validate(key, from_attributes=True)


@router.post(
    "/auth/token",
    summary="Log in with a password",
    response_model=schemas.TokenResponse,
    responses=problem_responses(401, 415, 422),
    openapi_extra=_TOKEN_BODY,
)
def issue_token(
    credentials: Annotated[schemas.PasswordLogin, Depends(password_credentials)],
    session: DbSession,
    settings: AppSettings,
    response: Response,
) -> schemas.TokenResponse:
    """Exchange a user name and password for a bearer token (OAuth2 password grant)."""
    principal = service.authenticate(session, credentials.username, credentials.password)
    token, _expires = tokens.issue_token(settings, principal)
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    return schemas.TokenResponse(
        access_token=token,
        expires_in=tokens.default_ttl_s(settings, principal.role),
        role=Role(principal.role),
        principal_id=principal.id,
    )


@router.post(
    "/riders",
    summary="Register as a rider",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RiderRegistered,
    responses=problem_responses(422),
)
def register_rider(
    body: schemas.RiderRegistration,
    session: DbSession,
    settings: AppSettings,
    response: Response,
) -> schemas.RiderRegistered:
    """Create a pseudonymous rider account and return its long-lived token."""
    rider = service.register_rider(session, display_name=body.display_name, phone=body.phone)
    token, _expires = tokens.issue_token(settings, rider, settings.rider_token_ttl_s)
    response.headers["Cache-Control"] = "no-store"
    return schemas.RiderRegistered(
        rider_id=rider.id, access_token=token, expires_in=settings.rider_token_ttl_s
    )


@router.get(
    "/me",
    summary="The caller",
    response_model=schemas.Me,
    responses=problem_responses(401),
)
def me(actor: CurrentPrincipal, session: DbSession) -> schemas.Me:
    """Describe the authenticated caller, including their own phone number if any."""
    principal, office = service.get_principal(session, actor.id)
    view = _principal_view(principal, office)
    return schemas.Me(**view.model_dump(), phone=principal.phone, auth_method=actor.via)


# ---------------------------------------------------------------- admin: users
@router.post(
    "/users",
    summary="Create a user",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Principal,
    responses=problem_responses(401, 403, 409, 422),
)
def create_user(
    body: schemas.UserCreate, _admin: AdminPrincipal, session: DbSession
) -> schemas.Principal:
    """Create an officer, supervisor, viewer or admin with a password (admin only)."""
    principal, office = service.create_principal(
        session,
        name=body.name,
        role=Role(body.role),
        password=body.password,
        office_code=body.office_code,
        display_name=body.display_name,
    )
    return _principal_view(principal, office)


@router.get(
    "/users",
    summary="List principals",
    response_model=Page[schemas.Principal],
    responses=problem_responses(401, 403, 422),
)
def list_users(
    _admin: AdminPrincipal,
    session: DbSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: Role | None = None,
    office_code: Annotated[str | None, Query(max_length=schemas.OFFICE_CODE_MAX)] = None,
) -> Page[schemas.Principal]:
    """List principals by id, filtered by role or office (admin only)."""
    rows, next_id = service.list_principals(
        session,
        after_id=_after_id(cursor, "principals"),
        limit=limit,
        role=role,
        office_code=office_code,
    )
    items = [
        schemas.Principal(
            id=p.id,
            name=p.name,
            display_name=p.display_name,
            role=Role(p.role),
            office_id=p.office_id,
            office_code=code,
        )
        for p, code in rows
    ]
    return Page[schemas.Principal](items=items, next_cursor=_next_cursor("principals", next_id))


@router.post(
    "/users/{principal_id}/revoke-tokens",
    summary="Revoke a principal's tokens",
    response_model=schemas.Principal,
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_tokens(
    principal_id: PrincipalId, _admin: AdminPrincipal, session: DbSession
) -> schemas.Principal:
    """Invalidate every token issued to the principal so far; API keys keep working (admin only)."""
    principal, office = service.revoke_tokens(session, principal_id)
    return _principal_view(principal, office)


# ---------------------------------------------------------------- admin: API keys
@router.post(
    "/api-keys",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ApiKeyCreated,
    responses=problem_responses(401, 403, 422),
)
def create_api_key(
    body: schemas.ApiKeyCreate, _admin: AdminPrincipal, session: DbSession, response: Response
) -> schemas.ApiKeyCreated:
    """Issue an API key for a principal; the full key is in this response only (admin only)."""
    key, plaintext = service.create_api_key(session, principal_id=body.principal_id, name=body.name)
    response.headers["Cache-Control"] = "no-store"
    return schemas.ApiKeyCreated(**_api_key_view(key).model_dump(), key=plaintext)


@router.get(
    "/api-keys",
    summary="List API keys",
    response_model=Page[schemas.ApiKey],
    responses=problem_responses(401, 403, 422),
)
def list_api_keys(
    _admin: AdminPrincipal,
    session: DbSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    principal_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Page[schemas.ApiKey]:
    """List API keys by id, revoked ones included; never the secrets (admin only)."""
    keys, next_id = service.list_api_keys(
        session, after_id=_after_id(cursor, "api-keys"), limit=limit, principal_id=principal_id
    )
    return Page[schemas.ApiKey](
        items=[_api_key_view(k) for k in keys], next_cursor=_next_cursor("api-keys", next_id)
    )


@router.delete(
    "/api-keys/{key_id}",
    summary="Revoke an API key",
    response_model=schemas.ApiKey,
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**62)], _admin: AdminPrincipal, session: DbSession
) -> schemas.ApiKey:
    """Revoke an API key at once; revoking it again is harmless (admin only)."""
    return _api_key_view(service.revoke_api_key(session, key_id))
