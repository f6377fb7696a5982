"""How /v1/stats answers a request: 304, cached answer or computed answer.

See :mod:`app.stats.router` for what a poll costs; the ETag and the answer
cache live here so the router keeps to parameters and figures. When ticket
changes are pending (:mod:`app.stats.pending`), a request folds them into the
rollups before it answers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from app.auth.actor import Actor
from app.config import Settings
from app.core.cache import TTLCache
from app.core.db import DbSession, read_snapshot, single_read
from app.stats import pending, service
from app.stats.periods import Clock

# Bump when a figure's definition changes, so caches drop answers computed the old way.
DEFINITIONS = "stats-1"


def _etag(request: Request, actor: Actor, clk: Clock, version: int, roots: Any) -> str:
    query = sorted(request.query_params.multi_items())
    raw = (
        f"{DEFINITIONS}|{request.url.path}|{query}|{actor.role.value}:{actor.office_id}"
        f"|{roots}|{int(clk.as_of.timestamp())}|{version}"
    )
    return 'W/"' + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest() + '"'


def _headers(tag: str, settings: Settings) -> dict[str, str]:
    return {
        "ETag": tag,
        "Cache-Control": f"private, max-age={settings.stats_max_age_s}",
        "Vary": "Authorization, X-API-Key",
    }


def _not_modified(request: Request, tag: str, settings: Settings) -> Response | None:
    """A 304 when ``If-None-Match`` names ``tag`` (weak comparison), else None."""
    header = request.headers.get("if-none-match")
    if not header:
        return None
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if "*" in tags or tag.removeprefix("W/") in tags:
        return Response(status_code=304, headers=_headers(tag, settings))
    return None


AnswerCache = TTLCache[Hashable, bytes]


def build_stats_cache(settings: Settings) -> AnswerCache:
    """The lifespan's answer cache. Entries live one ``as_of`` step (they cannot
    be hit after it anyway), which also bounds how long a renamed office or a
    new category shows under the old data version."""
    return TTLCache(float(settings.stats_clock_s), settings.stats_cache_items)


def _ok(body: bytes, tag: str, settings: Settings) -> Response:
    return Response(body, media_type="application/json", headers=_headers(tag, settings))


def _dumps(body: dict[str, Any]) -> bytes:
    # Starlette's JSONResponse encoding, done once per cached answer.
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


Build = Callable[["service.Context", "service.State"], dict[str, Any]]


def answer(
    request: Request,
    session: DbSession,
    actor: Actor,
    settings: Settings,
    clk: Clock,
    *,
    office: str | None,
    category: str | None,
    params: tuple[Hashable, ...],
    build: Build,
    office_field: str = "office",
) -> Response:
    """304, cached answer or computed answer, in that order (see the module docstring).

    ``params`` are the endpoint's own parsed parameters besides ``office`` and
    ``category``; with the scope, ``as_of`` and the data version they key the
    answer cache.
    """

    def resolve(source: Any) -> tuple[service.Context, service.State, str]:
        ctx, st = service.resolve(
            source, actor, clk, office=office, category=category, office_field=office_field
        )
        return ctx, st, _etag(request, actor, clk, st.version, ctx.roots)

    read_engine = getattr(request.app.state, "read_engine", None)
    with single_read(session, read_engine) as source:
        ctx, st, tag = resolve(source)
    if st.pending:
        # Ticket changes wait to reach the rollups: add them first, so the answer
        # (and its version) holds every change committed before this request.
        pending.fold_all(request.app.state.sessionmaker)
        with single_read(session, read_engine) as source:
            ctx, st, tag = resolve(source)
    if (cached := _not_modified(request, tag, settings)) is not None:
        return cached
    cache: AnswerCache | None = getattr(request.app.state, "stats_cache", None)
    key = (DEFINITIONS, request.url.path, params, *service.cache_key(ctx, st))
    if cache is not None and (body := cache.get(key)) is not None:
        return _ok(body, tag, settings)
    if read_snapshot(session):
        # The answer and the version it is cached under come from one snapshot.
        ctx, st, tag = resolve(session)
        key = (DEFINITIONS, request.url.path, params, *service.cache_key(ctx, st))
    body = _dumps(build(ctx, st))
    if cache is not None:
        cache.put(key, body)
    return _ok(body, tag, settings)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
