"""A small closed-loop load generator (threads + httpx), run in its own process.

Each worker thread sends requests back to back for a fixed time after a
warm-up and records latencies; the result is throughput, p50 and p99.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Result:
    name: str
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    def row(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "ok": self.ok,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0,
        }


Request = Callable[[httpx.Client, int], httpx.Response]


def run(
    name: str,
    base_url: str,
    make_request: Request,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 2.0,
    ok_statuses: tuple[int, ...] = (200, 201),
) -> Result:
    result = Result(name)
    lock = threading.Lock()
    start = time.monotonic()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s
    counter = iter(range(10**12))

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            while True:
                now = time.monotonic()
                if now >= stop_at:
                    return
                with lock:
                    n = next(counter)
                t0 = time.perf_counter()
                try:
                    r = make_request(client, n)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                dt = time.perf_counter() - t0
                if time.monotonic() < measure_from:
                    continue
                with lock:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status in ok_statuses:
                        result.ok += 1
                        result.latencies.append(dt)
                    else:
                        result.errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = duration_s
    return result
