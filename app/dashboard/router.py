"""``/dashboard``: a page of figures, a boundary map and live events for viewers.

Everything the page runs is shipped in this package (no CDN, no build step) and
served from a fixed list of files, so no request path ever reaches the file
system. The page signs in with a bearer token kept in ``sessionStorage`` and
calls the ``/v1`` API like any other client; it holds no data of its own, so the
HTML and assets are the same for everyone and need no authentication.

Every response carries a strict Content-Security-Policy: scripts and styles only
from this origin and never inline, requests only to this origin, no framing. A
token in ``sessionStorage`` is only as safe as the page is free of injected
script, and the policy is what keeps it so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

from app.core.errors import NotFound

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The only files served, with their types: adding a file means naming it here.
ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "format.js": "text/javascript; charset=utf-8",
    "main.js": "text/javascript; charset=utf-8",
    "map.js": "text/javascript; charset=utf-8",
    "stream.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
PAGE = "index.html"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _asset(name: str, media_type: str) -> Asset:
    body = resources.files("app.dashboard").joinpath("static", name).read_bytes()
    return Asset(body, media_type, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


def _send(request: Request, asset: Asset) -> Response:
    # no-cache: revalidate every time, so a new release is picked up at once; the
    # ETag makes that revalidation a 304 without a body.
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/dashboard")
def dashboard_page(request: Request) -> Response:
    """The dashboard page."""
    return _send(request, _asset(PAGE, "text/html; charset=utf-8"))


@router.get("/dashboard/static/{name}")
def dashboard_asset(request: Request, name: str) -> Response:
    """One of the dashboard's scripts, styles or images."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard file {name!r}")
    return _send(request, _asset(name, media_type))
