"""The per-process moving parts of events, for the app's lifespan: the live-stream
hub and the webhook delivery worker — and making open streams end when the
server is told to stop.

Why a signal hook: uvicorn waits for open responses to finish *before* it runs
the lifespan shutdown, so a live stream would hold a graceful shutdown up until
``--timeout-graceful-shutdown`` (``gridfix serve``: 30 s) and then be cancelled.
When the lifespan starts on the main thread (uvicorn, one process or
``--workers N``), we chain the SIGINT/SIGTERM handlers the server installed so
that the signal first tells every stream to end — they say goodbye within
milliseconds — and then does what the server's handler does. Elsewhere (a test
client's thread, other servers) streams still end at lifespan shutdown and, in
any case, after ``events_stream_max_s``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading
from types import FrameType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.events.delivery import DeliveryWorker
from app.events.hub import EventHub

log = logging.getLogger("gridfix.events")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class EventsRuntime:
    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.hub = EventHub(factory, settings)
        self.worker = DeliveryWorker(factory, settings)
        self._chained: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, *, deliveries: bool) -> None:
        if deliveries:
            self.worker.start()
        self._chain_signals()

    def stop(self) -> None:
        self._unchain_signals()
        self.hub.close()
        self.worker.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No locks in a signal handler (the interrupted code may hold them): hand
        # the closing to the event loop, the way asyncio handles signals itself.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(functools.partial(self.hub.close, join=False))
        previous = self._chained.get(signum)
        if callable(previous):
            previous(signum, frame)

    def _chain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):  # default or ignored: not ours to change
                continue
            self._chained[sig] = previous
            signal.signal(sig, self._on_signal)

    def _unchain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._chained.items():
            # Only undo our own handler; if someone replaced it since, leave theirs.
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._chained.clear()
