"""The event feed (`GET /v1/events`) and its live twin (`GET /v1/events/stream`).

The cursor is a plain integer: the id of the last event you have seen (0 at the
start). It is the same number as the stream's ``id:`` lines, the
``Last-Event-ID`` a reconnecting client sends, and webhooks' ``Gridfix-Event-Id``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse

from app.auth.dependencies import AppSettings
from app.core.db import DbSession, utcnow
from app.core.errors import InvalidInput, problem_responses
from app.events import service
from app.events.dependencies import Filter, Runtime
from app.events.exceptions import TooManyStreams
from app.events.schemas import FeedPage
from app.events.stream import event_stream

router = APIRouter(prefix="/events", tags=["events"])

MAX_ID = 2**62
After = Annotated[
    int | None,
    Query(ge=0, le=MAX_ID, description="The last event id you have seen; 0 from the start"),
]


@router.get(
    "",
    response_model=FeedPage,
    responses={
        304: {"description": "Nothing new (If-None-Match)"},
        **problem_responses(401, 403, 422),
    },
)
def list_events(
    session: DbSession,
    flt: Filter,
    settings: AppSettings,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """Ticket events in your office scope, oldest first, after the cursor `after`."""
    items, next_after, has_more = service.feed_page(
        session,
        flt,
        after=after or 0,
        limit=limit,
        now=utcnow(),
        grace=timedelta(seconds=settings.events_gap_grace_s),
    )
    scope = f"{flt.scope}|{flt.office_path}|{sorted(flt.kinds)}"
    key = f"{scope}|{after}|{limit}|{next_after}|{has_more}|{[i.id for i in items]}"
    tag = f'W/"ev-{hashlib.sha256(key.encode()).hexdigest()[:24]}"'
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if if_none_match and tag in if_none_match:
        return Response(status_code=304, headers=headers)
    # Items are stored as the event's JSON already: no need to parse and re-encode.
    body = (
        '{"items":['
        + ",".join(i.data for i in items)
        + f'],"next_after":{next_after},"has_more":{"true" if has_more else "false"}}}'
    )
    return Response(body, media_type="application/json", headers=headers)


def _last_event_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.isdigit() or int(value) > MAX_ID:
        raise InvalidInput(
            "Last-Event-ID must be an event id this stream sent",
            errors=[{"field": "Last-Event-ID", "in": "header", "reason": "not an event id"}],
        )
    return int(value)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless text/event-stream: `id:` event id, `event:` kind, "
            "`data:` the event as JSON (as in the feed); `:` comments are heartbeats",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 422, 503),
    },
)
def stream_events(
    flt: Filter,
    settings: AppSettings,
    runtime: Runtime,
    after: After = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this id (sent by EventSource)"),
    ] = None,
) -> StreamingResponse:
    """Live ticket events in your office scope as Server-Sent Events; resumable."""
    resume = _last_event_id(last_event_id)
    if resume is None:
        resume = after
    if runtime.hub.subscriber_count() >= settings.events_max_streams:
        raise TooManyStreams("too many live streams on this server; retry shortly")
    return StreamingResponse(
        event_stream(runtime.hub, settings, flt, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
