"""Small in-process caches, built in the lifespan and shared by a worker's threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Values by key for ``ttl_s`` seconds; misses are loaded in one batch.

    For reference data that changes rarely and may be a few seconds stale
    (office and category names shown beside tickets); never for permissions.
    """

    def __init__(self, ttl_s: float, max_items: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[K], load: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        now = time.monotonic()
        out: dict[K, V] = {}
        missing: list[K] = []
        with self._lock:
            for k in set(keys):
                hit = self._items.get(k)
                if hit is not None and hit[0] > now:
                    out[k] = hit[1]
                else:
                    missing.append(k)
        if missing:
            loaded = load(missing)
            with self._lock:
                if len(self._items) + len(loaded) > self.max_items:
                    self._items.clear()
                for k, v in loaded.items():
                    self._items[k] = (now + self.ttl_s, v)
            out.update(loaded)
        return out

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
