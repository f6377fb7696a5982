"""Typed domain errors and their one rendering: RFC 9457 problem details.

Services raise subclasses of :class:`DomainError`; routers never build
``HTTPException``. Every error a client can cause renders as
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``
and, for validation, ``errors`` (one entry a field).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("gridfix.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://gridfix.dev/problems/"


class DomainError(Exception):
    """Base of every expected failure. Subclasses set ``status``, ``code`` and ``title``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class InvalidInput(DomainError):
    status = 422
    code = "validation-error"
    title = "Request is not valid"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="gridfix"'})
        super().__init__(detail, **kw)


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service-unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, **kw)


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else "body"
        field = ".".join(loc[1:]) if len(loc) > 1 else where
        out.append(
            {
                "field": field,
                "in": where,
                "reason": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return out


_STATUS_CODES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    411: ("length-required", "Length required"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Request is not valid"),
    429: ("too-many-requests", "Too many requests"),
}


# What FastAPI and Starlette raise (as 400s) while parsing a body: limits of the
# multipart parser (too many parts, a part too large) and bodies that cannot be decoded.
_MULTIPART_LIMITS = (
    "Too many files.",
    "Too many fields.",
    "Part exceeded maximum size",
    "Field exceeded maximum size",
)
_UNPARSABLE = (
    "There was an error parsing the body",
    "Missing boundary in multipart.",
    "Invalid multipart data.",
    'The Content-Disposition header field "name" must be provided.',
)


_CLIENT_VALUE_ERRORS = {"NumericValueOutOfRange", "StringDataRightTruncation"}


def _is_client_value(exc: DataError) -> bool:
    orig = exc.orig
    return type(orig).__name__ in _CLIENT_VALUE_ERRORS or "NUL (0x00)" in str(orig)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a client can cause to problem+json; log the rest as 500."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=exc.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        names = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            "Request is not valid",
            f"invalid or missing: {names}",
            code="validation-error",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, DomainError):
            # Raised while the body was read (the size cap), wrapped by FastAPI as a 400.
            return await _domain(request, exc.__cause__)
        detail_text = exc.detail if isinstance(exc.detail, str) else ""
        if exc.status_code == 400 and detail_text.startswith(_MULTIPART_LIMITS):
            return problem_response(
                413,
                "Payload too large",
                exc.detail,
                code="payload-too-large",
                errors=[{"field": "body", "in": "body", "reason": exc.detail}],
                instance=request.url.path,
            )
        if exc.status_code == 400 and detail_text.startswith(_UNPARSABLE):
            # FastAPI answers bad JSON with a 422 (`json_invalid`) but a body it cannot
            # decode at all (not UTF-8, broken multipart) with this 400: one answer for both.
            return problem_response(
                422,
                "Request is not valid",
                "the request body could not be parsed",
                code="validation-error",
                errors=[
                    {"field": "body", "in": "body", "reason": "unparsable", "type": "body_invalid"}
                ],
                instance=request.url.path,
            )
        code, title = _STATUS_CODES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            exc.status_code,
            title,
            detail,
            code=code,
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # A lost connection (server restarted, backend terminated, failover), a
        # database that refuses connections or an exhausted pool is transient: the
        # client retries, and its Idempotency-Key makes a retry safe even if a commit
        # went through just before the connection dropped.
        transient = isinstance(exc, PoolTimeout | OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if not transient:
            raise exc  # a bug, not an outage: the 500 handler below logs it
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503,
            "Database temporarily unavailable",
            "the database could not complete the request; retry shortly",
            code="database-unavailable",
            headers={"Retry-After": "1"},
            instance=request.url.path,
        )

    @app.exception_handler(DataError)
    async def _unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses values that Python and SQLite take (a NUL character in
        # text, a number beyond the column's range). They come from the client.
        if not _is_client_value(exc):
            raise exc  # anything else is a bug: the 500 handler below logs it
        return problem_response(
            422,
            "Request is not valid",
            "a value in the request cannot be stored or compared (NUL character or out of range)",
            code="validation-error",
            errors=[{"field": "request", "in": "request", "reason": "unstorable value"}],
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal server error",
            "an unexpected error occurred; it has been logged",
            code="internal-error",
            # Built outside every middleware, so the security headers come from here.
            headers=getattr(request.app.state, "security_headers", None),
            instance=request.url.path,
        )


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(DomainError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, **kw)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is rendered (for the docs)."""

    type: str = Field(examples=["https://gridfix.dev/problems/validation-error"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation errors, one a field: field, in, reason, type."
    )


_PROBLEM_DESCRIPTIONS = {
    400: "The request is malformed",
    401: "No credential, or a bad, expired or revoked one",
    403: "The caller's role may not do this",
    404: "No such resource (or not visible to the caller)",
    409: "Conflicts with the current state",
    412: "If-Match does not match the current version",
    413: "Body or file too large",
    415: "Unsupported media type",
    422: "The request is not valid; `errors` names each field",
    428: "If-Match is required",
    429: "Rate limit exceeded; see Retry-After",
    503: "A dependency is temporarily unavailable; see Retry-After",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for error statuses, as problem+json."""
    schema = Problem.model_json_schema()
    return {
        code: {
            "description": _PROBLEM_DESCRIPTIONS[code],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for code in codes
    }
