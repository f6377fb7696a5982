"""A small periodic runner for housekeeping inside an API process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("gridfix.scheduler")


class Periodic:
    """Calls ``fn`` every ``interval_s`` seconds in a daemon thread (first call after
    one interval) until stopped. Exceptions are logged, never fatal."""

    def __init__(self, name: str, interval_s: float, fn: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.fn = fn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name=f"gridfix-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.fn()
            except Exception:
                log.exception("periodic job %s failed", self.name)
