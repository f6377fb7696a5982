"""GeoReport v2 errors: ``[{code, description}]`` with HTTP 400, 403 or 404.

The spec (section "Errors"): 404 for resources that do not exist, 403 for a
missing or wrong ``api_key``, 400 for anything else that cannot be fulfilled;
the body is an array, and its ``code`` need not equal the HTTP status, so the
body keeps the precise cause (413, 415, 429, 503 …) while the status line stays
within the spec's three. Unexpected failures stay 500, in the same shape.

The handlers are the application's own, wrapped: a request under the adapter's
prefix gets this format, every other request the problem+json it always got.
Going through the application's handlers (rather than catching inside the
route) keeps the transaction rule intact: the exception still passes through
the session dependency, which rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import DomainError
from app.open311.formats import format_of_path, render

log = logging.getLogger("gridfix.open311")

Handler = Callable[[Request, Any], Awaitable[Response] | Response]
SPEC_STATUSES = frozenset({400, 403, 404})


class Open311Error(DomainError):
    """An error in the spec's terms: HTTP ``status`` and one or more (code, description);
    ``code`` (default: the status) may name the cause more precisely."""

    code = "open311-error"
    title = "Open311 error"

    def __init__(
        self,
        status: int,
        description: str,
        *,
        code: int | None = None,
        more: list[tuple[int, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description, headers=headers)
        self.http_status = status
        self.items = [(code or status, description), *(more or [])]


def error_items(exc: Exception) -> tuple[int, list[tuple[int, str]], dict[str, str]]:
    """(HTTP status, [(code, description)], headers) for any exception."""
    if isinstance(exc, Open311Error):
        return exc.http_status, exc.items, exc.headers
    if isinstance(exc, DomainError):
        status = exc.status
        headers = {k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"}
        if status == 401:  # the spec's word for a bad or missing key is 403
            return 403, [(403, f"invalid api_key: {exc.detail}")], headers
        http = status if status in SPEC_STATUSES else 400
        return http, [(status, exc.detail)], headers
    if isinstance(exc, RequestValidationError):
        items = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
            items.append((400, f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}"))
        return 400, items or [(400, "the request is not valid")], {}
    if isinstance(exc, StarletteHTTPException):
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404:
            return 404, [(404, "no such resource; GeoReport v2 URLs end in .xml or .json")], headers
        if exc.status_code == 405:
            return 400, [(405, f"method not allowed; use {headers.get('Allow', 'GET')}")], headers
        detail = exc.detail if isinstance(exc.detail, str) else "the request is not valid"
        http = exc.status_code if exc.status_code in SPEC_STATUSES else 400
        return http, [(exc.status_code, detail)], headers
    log.exception("unhandled error in the Open311 adapter", exc_info=exc)
    return 500, [(500, "an unexpected error occurred; it has been logged")], {}


def error_response(request: Request, exc: Exception) -> Response:
    status, items, headers = error_items(exc)
    body = [{"code": code, "description": description} for code, description in items]
    return render(format_of_path(request.url.path), "errors", body, status=status, headers=headers)


def install_error_format(app: FastAPI, prefix: str) -> None:
    """Wrap the application's exception handlers: Open311 errors under ``prefix``."""
    if getattr(app.state, "open311_errors_installed", False):
        return

    def under_prefix(request: Request) -> bool:
        path = request.url.path
        return path == prefix or path.startswith(prefix + "/")

    def scoped(original: Handler | None) -> Handler:
        async def handler(request: Request, exc: Any) -> Response:
            if under_prefix(request):
                return error_response(request, exc)
            if original is None:  # no application handler: Starlette's default behaviour
                raise exc
            result = original(request, exc)
            return await result if isinstance(result, Awaitable) else result

        return handler

    for exc_type in (DomainError, RequestValidationError, StarletteHTTPException, Exception):
        app.exception_handlers[exc_type] = scoped(app.exception_handlers.get(exc_type))
    app.state.open311_errors_installed = True
