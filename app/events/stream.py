"""Server-Sent Events for live dashboards.

Frames: ``id: <event id>``, ``event: <kind>``, ``data: <event JSON>``; a comment
every ``events_heartbeat_s`` keeps proxies from timing the connection out and
notices a vanished client. A stream resumes after ``Last-Event-ID`` (or
``?after=``); with neither it starts at "now". It ends when the server shuts
down (the hub is closed), and after ``events_stream_max_s`` so that clients
reconnect — re-checking their credential and rebalancing across processes — and
so that no stream can hold a shutdown up for longer than that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio

from app.config import Settings
from app.events import feed
from app.events.feed import EventFilter, FeedItem
from app.events.hub import EventHub, Subscriber
from app.events.service import read_events

CATCH_UP_BATCH = 500
RETRY_MS = 2000


async def event_stream(
    hub: EventHub, settings: Settings, flt: EventFilter, after: int | None
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    sub, head = await anyio.to_thread.run_sync(hub.subscribe, loop)
    try:
        async for frame in _frames(hub, sub, settings, flt, head if after is None else after):
            yield frame
    finally:  # the client left, the stream ran its course, or the server stops
        hub.unsubscribe(sub)


async def _frames(
    hub: EventHub, sub: Subscriber, settings: Settings, flt: EventFilter, cursor: int
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    yield feed.sse_retry(RETRY_MS) + feed.sse_comment(f"resuming after {cursor}")
    deadline = loop.time() + settings.events_stream_max_s
    while not hub.closed:
        sub.event.clear()  # before looking, so a wake-up in between is not lost
        if cursor < hub.horizon:
            items, cursor = await _next(hub, flt, cursor)
            if items:
                yield "".join(feed.sse_event(i) for i in items)
            continue
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            async with asyncio.timeout(min(settings.events_heartbeat_s, left)):
                await sub.event.wait()
        except TimeoutError:
            yield feed.sse_comment("keep-alive")
    yield feed.sse_comment("bye")


async def _next(hub: EventHub, flt: EventFilter, cursor: int) -> tuple[list[FeedItem], int]:
    buffered = hub.since(cursor, flt)
    if buffered is not None:
        return buffered
    # Resuming from before the buffer: read the gap from the database.
    upto = hub.horizon
    items = await anyio.to_thread.run_sync(
        read_events, hub.factory, flt, cursor, upto, CATCH_UP_BATCH
    )
    if len(items) == CATCH_UP_BATCH:
        return items, items[-1].id
    return items, upto
