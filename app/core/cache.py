"""Small in-process caches, built in the lifespan and shared by a worker's threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Values by key for at most ``ttl_s`` seconds, at most ``max_items`` of them.

    For reference data that may be a few seconds stale (office and category
    names shown beside tickets) and for answers keyed by everything they depend
    on (statistics bodies by data version). Permissions only through a bound the
    caller states and tests (the principal cache: a change applies within a few
    seconds, through the authentication epoch).

    ``clock`` is monotonic seconds; tests pass their own to step over the TTL.
    """

    def __init__(
        self,
        ttl_s: float,
        max_items: int = 100_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self.clock = clock
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        hit = self._items.get(key)  # a dict read is atomic under the GIL
        if hit is None or hit[0] <= self.clock():
            return None
        return hit[1]

    def put(self, key: K, value: V, ttl_s: float | None = None) -> None:
        """Keep ``value`` for ``ttl_s`` (default: the cache's TTL; never longer)."""
        ttl = self.ttl_s if ttl_s is None else min(ttl_s, self.ttl_s)
        if ttl <= 0 or self.max_items <= 0:
            return
        now = self.clock()
        with self._lock:
            self._items.pop(key, None)  # re-inserted last: eviction goes oldest first
            if len(self._items) >= self.max_items:
                self._evict(now)
            self._items[key] = (now + ttl, value)

    def _evict(self, now: float) -> None:
        """Drop expired entries; if that frees too little, the oldest eighth."""
        for k in [k for k, (exp, _) in self._items.items() if exp <= now]:
            del self._items[k]
        if len(self._items) >= self.max_items:
            for k in list(self._items)[: max(1, self.max_items // 8)]:
                del self._items[k]

    def discard_if(self, predicate: Callable[[K, V], bool]) -> int:
        """Remove every entry the predicate holds for; returns how many."""
        with self._lock:
            gone = [k for k, (_, v) in self._items.items() if predicate(k, v)]
            for k in gone:
                del self._items[k]
        return len(gone)

    def get_many(self, keys: Iterable[K], load: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        """Values of ``keys``; the missing ones are loaded in one batch and kept."""
        now = self.clock()
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
