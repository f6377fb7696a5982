"""Security headers on every HTTP response and a cap on request bodies, as a pure
ASGI middleware.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs the
app in a separate task and re-streams its body, which breaks Server-Sent
Events and streamed downloads. This middleware only edits the
``http.response.start`` message, so bodies pass through untouched.

What is added, unless the response already set the header itself:

* ``X-Content-Type-Options: nosniff`` — browsers never reinterpret a photo or
  JSON as HTML or script.
* ``Referrer-Policy: no-referrer`` — presigned and signed photo URLs carry
  their signature in the query string; ``no-referrer`` keeps a page that
  shows them from leaking those URLs to any site it links to. The API has no
  navigation of its own that needs a referrer, so the strictest value costs
  nothing. A page that needs one (the dashboard) sets its own.
* ``X-Frame-Options: DENY`` and a CSP of ``default-src 'none';
  frame-ancestors 'none'`` — an API answer is data: it loads nothing and is
  framed by nobody. Pages set their own CSP (the dashboard; the signed
  storage URLs send ``sandbox``) and keep it.
* Bodies larger than ``Settings.request_body_limit`` get 413: at once when
  ``Content-Length`` says so, else when the streamed bytes pass the limit.
* ``Strict-Transport-Security`` only when ``GRIDFIX_HSTS_MAX_AGE_S`` > 0, i.e.
  when the deployment says it is reached over TLS; on plain HTTP it would be
  ignored at best and lock out a mis-set-up host at worst.

The Swagger UI page (``/docs``) loads its script and stylesheet from the
jsDelivr CDN and starts with an inline script. It gets a CSP allowing exactly
that CDN and the SHA-256 of each inline script of the page as served, so it
keeps working without ``'unsafe-inline'`` scripts.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.core.errors import PayloadTooLarge, problem_response

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI as FastAPI serves it: script and CSS from jsDelivr, favicon from
# fastapi.tiangolo.com, icons as data: URIs, requests to this origin only.
_SWAGGER_CDN = "https://cdn.jsdelivr.net"
_DOCS_CSP = (
    "default-src 'none'; "
    f"script-src {_SWAGGER_CDN} {{hashes}}; "
    # Swagger UI's React components write style attributes; styles cannot run code.
    f"style-src {_SWAGGER_CDN} 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# The docs page is a few KB; anything larger is not the page we know how to hash.
_MAX_DOCS_BODY = 256 * 1024


def baseline_headers(settings: Settings) -> dict[str, str]:
    """The headers every response gets (unless it sets them itself)."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": API_CSP,
    }
    if settings.hsts_max_age_s > 0:
        headers["Strict-Transport-Security"] = (
            f"max-age={settings.hsts_max_age_s}; includeSubDomains"
        )
    return headers


def docs_csp(html: bytes) -> str:
    """The CSP for a Swagger UI page: the CDN plus the hash of each inline script."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return _DOCS_CSP.format(hashes=hashes)


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: dict[str, str],
        docs_prefix: str | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.headers = dict(headers)
        self.docs_prefix = docs_prefix
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_body_bytes is not None:
            limit = self.max_body_bytes
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                # Refused before a byte of the body is read (or spooled to disk).
                await self._too_large(scope, receive, send, limit)
                return
            receive = _capped(receive, limit)
        if self._is_docs(scope["path"]):
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _set_defaults(MutableHeaders(scope=message), self.headers.items())
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _is_docs(self, path: str) -> bool:
        prefix = self.docs_prefix
        return prefix is not None and (path == prefix or path.startswith(prefix + "/"))

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) page until its body is known, then hash its inline scripts."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passthrough = False

        async def hold(message: Message) -> None:
            nonlocal start, size, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if more and size <= _MAX_DOCS_BODY:
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            if headers.get("content-type", "").startswith("text/html") and not more:
                headers.setdefault("Content-Security-Policy", docs_csp(body))
            _set_defaults(headers, self.headers.items())
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": more})
            passthrough = True

        await self.app(scope, receive, hold)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            "Payload too large",
            f"the request body is larger than {limit} bytes",
            code="payload-too-large",
            headers={**self.headers, "Connection": "close"},
            instance=scope["path"],
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that fails with 413 once a body without (or under-declaring) its
    length passes ``limit``; parsers see the error where they read the body."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        return message

    return capped


def _set_defaults(headers: MutableHeaders, defaults: Iterable[tuple[str, str]]) -> None:
    for name, value in defaults:
        if name not in headers:
            headers[name] = value


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    """Add the middleware; unhandled-error responses (built outside every middleware)
    read the same headers from ``app.state.security_headers``."""
    headers = baseline_headers(settings)
    app.state.security_headers = headers
    app.add_middleware(
        SecurityHeadersMiddleware,
        headers=headers,
        docs_prefix=app.docs_url,
        max_body_bytes=settings.request_body_limit,
    )
