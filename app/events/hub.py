"""One live-event poller per process, fanning out to every open stream.

Design: each API process runs at most one poller thread, and only while someone
is streaming. It reads the outbox after its horizon with one indexed range query
(``id > horizon ORDER BY id``) every ``events_poll_interval_s`` — or at once when
a commit in this process wrote events — advances to the stable horizon (see
``app.events.feed``), keeps the newest events in a ring buffer and wakes the
streams. A stream serves itself from the buffer (filtering by its reader's
scope in memory) and falls back to a database read only when it resumes from an
id older than the buffer. So N streams cost one query per interval per process,
not N, and a quiet outbox costs one cheap query that returns nothing.

Streams run on the event loop; the poller is a thread (the database driver is
synchronous), which wakes them with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.db import utcnow
from app.events import outbox, repository
from app.events.feed import EventFilter, FeedItem, stable_horizon

log = logging.getLogger("gridfix.events.hub")

POLL_BATCH = 500
SYNC_TAIL = 1000


@dataclass(eq=False, slots=True)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the stream is gone
            self.loop.call_soon_threadsafe(self.event.set)


class EventHub:
    def __init__(
        self, factory: sessionmaker[Session], settings: Settings, *, buffer_size: int = 2000
    ) -> None:
        self._factory = factory
        self._interval = settings.events_poll_interval_s
        self._grace = timedelta(seconds=settings.events_gap_grace_s)
        self._lock = threading.Lock()
        self._buffer: deque[FeedItem] = deque(maxlen=buffer_size)
        self._floor = 0  # the buffer holds every event in (floor, horizon]
        self._horizon = 0
        self._synced = False
        self._subscribers: set[Subscriber] = set()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ streams' side
    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def factory(self) -> sessionmaker[Session]:
        return self._factory

    @property
    def horizon(self) -> int:
        return self._horizon

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> tuple[Subscriber, int]:
        """Register a stream; returns it and the current horizon (where a stream with
        no cursor starts). Blocking (it may read the database): call from a thread."""
        sub = Subscriber(loop)
        with self._lock:
            self._subscribers.add(sub)
        try:
            self._ensure_synced()
        except BaseException:
            self.unsubscribe(sub)
            raise
        self._ensure_thread()
        return sub, self._horizon

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def since(self, after: int, flt: EventFilter) -> tuple[list[FeedItem], int] | None:
        """Buffered events after ``after`` the filter lets through, and the id they run
        up to; None when ``after`` is older than the buffer (read the database)."""
        with self._lock:
            if after < self._floor:
                return None
            upto = self._horizon
            items = [
                i
                for i in self._buffer
                if i.id > after and flt.matches(i.office_id, i.office_path, i.kind)
            ]
        return items, upto

    def wake(self) -> None:
        self._wake.set()

    def close(self, *, join: bool = True) -> None:
        """End every stream (they notice at once) and stop the poller. Idempotent;
        ``join=False`` (from a signal handler) does not wait for the poller."""
        self._closed.set()
        self._wake.set()
        outbox.remove_waiter(self.wake)
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.notify()
        if not join:
            return
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    # ------------------------------------------------------------ poller's side
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self.closed:
                return
            self._thread = threading.Thread(target=self._run, name="gridfix-events", daemon=True)
            outbox.add_waiter(self.wake)
            self._thread.start()

    def _ensure_synced(self) -> None:
        """Start from the stable end of the outbox, with an empty buffer."""
        with self._lock:
            if self._synced:
                return
        with self._factory() as s:
            rows = repository.tail(s, SYNC_TAIL)
        start = rows[0][0] - 1 if rows else 0
        horizon = stable_horizon(rows, start, utcnow(), self._grace)
        with self._lock:
            if not self._synced:
                self._buffer.clear()
                self._floor = self._horizon = horizon
                self._synced = True

    def _run(self) -> None:
        while not self.closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self.closed:
                return
            with self._lock:
                idle = not self._subscribers
                if idle:
                    # Nobody listens: stop reading; the next stream re-syncs.
                    self._synced = False
                    continue
            try:
                while self.poll_once() >= POLL_BATCH and not self.closed:
                    pass
            except Exception:
                log.exception("live event poll failed")

    def poll_once(self) -> int:
        """Read past the horizon, advance it, wake streams. Returns rows read."""
        after = self._horizon
        with self._factory() as s:
            rows = repository.rows_after(s, after, POLL_BATCH)
        if not rows:
            return 0
        horizon = stable_horizon(((i.id, at) for i, at in rows), after, utcnow(), self._grace)
        if horizon == after:
            return 0
        with self._lock:
            if self._horizon != after:  # re-synced meanwhile
                return 0
            for item, _ in rows:
                if item.id > horizon:
                    break
                if len(self._buffer) == self._buffer.maxlen:
                    self._floor = self._buffer[0].id
                self._buffer.append(item)
            self._horizon = horizon
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.notify()
        return len(rows)
