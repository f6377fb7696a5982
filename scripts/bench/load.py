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
from typing import Any

import httpx

from scripts.bench import cpu


@dataclass
class Result:
    name: str
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    # CPU seconds per process group over the measured window (see cpu.py).
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0,
            "cpu_ms": cpu.per_request_ms(self.cpu_s, self.ok),
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
    result.cpu_s = _cpu_between(measure_from, stop_at)
    for t in threads:
        t.join()
    result.seconds = duration_s
    return result


def _cpu_between(start: float, stop: float) -> dict[str, float]:
    """Sleep until ``start`` and then ``stop`` (monotonic), returning the CPU each
    process group spent in between."""
    sampler = cpu.Sampler()
    time.sleep(max(0.0, start - time.monotonic()))
    before = sampler.snapshot()
    time.sleep(max(0.0, stop - time.monotonic()))
    return sampler.between(before, sampler.snapshot())


# --- several operations at once --------------------------------------------------------------
#
# A mixed workload runs *tasks* (a rider reporting, an officer working a ticket), each of
# which may send several requests; every request is timed under its own operation name.


class Recorder:
    """Per-operation results of one run, shared by its threads."""

    def __init__(self, ok_statuses: dict[str, tuple[int, ...]] | None = None) -> None:
        self.results: dict[str, Result] = {}
        self.races: dict[str, int] = {}
        self.cpu_s: dict[str, float] = {}
        self.ok_statuses = ok_statuses or {}
        self.measuring = False
        self._lock = threading.Lock()

    def timed(
        self,
        name: str,
        send: Callable[[], httpx.Response],
        *,
        ok: tuple[int, ...] = (200, 201),
        race: tuple[int, ...] = (),
    ) -> httpx.Response | None:
        """Send one request; ``race`` statuses (412/409 when two officers collide) are
        expected outcomes of concurrency, counted apart from errors. None on a transport error."""
        t0 = time.perf_counter()
        try:
            r: httpx.Response | None = send()
            status = r.status_code if r is not None else 0
        except httpx.HTTPError:
            r, status = None, 0
        dt = time.perf_counter() - t0
        if not self.measuring:
            return r
        with self._lock:
            res = self.results.setdefault(name, Result(name))
            res.statuses[status] = res.statuses.get(status, 0) + 1
            if status in ok:
                res.ok += 1
                res.latencies.append(dt)
            elif status in race:
                self.races[name] = self.races.get(name, 0) + 1
            else:
                res.errors += 1
        return r

    def rows(self, seconds: float) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for res in self.results.values():
            res.seconds = seconds
            if len(self.results) == 1:  # one operation: the machine's CPU was all its own
                res.cpu_s = self.cpu_s
            out.append(res.row() | {"statuses": res.statuses, "races": self.races.get(res.name, 0)})
        return out


Task = Callable[[httpx.Client, int, Recorder], None]


def run_closed(
    tasks: Callable[[int], Task],
    base_url: str,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 2.0,
) -> Recorder:
    """Closed loop: each thread runs ``tasks(n)`` back to back (as fast as answers come)."""
    rec = Recorder()
    lock = threading.Lock()
    counter = iter(range(10**12))
    start = time.monotonic()
    stop_at = start + warmup_s + duration_s

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            while time.monotonic() < stop_at:
                with lock:
                    n = next(counter)
                tasks(n)(client, n, rec)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(warmup_s)
    rec.measuring = True
    rec.cpu_s = _cpu_between(time.monotonic(), stop_at)
    for t in threads:
        t.join()
    return rec


def run_open(
    tasks: Callable[[int], Task],
    base_url: str,
    *,
    rate: float,
    duration_s: float,
    max_in_flight: int = 64,
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 5.0,
) -> tuple[Recorder, int]:
    """Open loop: start a task every 1/rate seconds whatever the answers' speed (a
    steady arrival rate, as real riders arrive), up to ``max_in_flight`` at once.
    Returns the recorder and how many starts were skipped because that many were
    still running (the service fell behind: a violation for a steady-rate run)."""
    rec = Recorder()
    rec.measuring = True
    local = threading.local()
    sem = threading.BoundedSemaphore(max_in_flight)
    clients: list[httpx.Client] = []
    clients_lock = threading.Lock()
    skipped = 0

    def client() -> httpx.Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=base_url, timeout=60.0)
            with clients_lock:
                clients.append(c)
        return c

    def go(n: int) -> None:
        try:
            tasks(n)(client(), n, rec)
        finally:
            sem.release()

    from concurrent.futures import ThreadPoolExecutor

    start = time.monotonic()
    next_tick = start + tick_s
    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        n = 0
        while True:
            due = start + n / rate
            now = time.monotonic()
            if due - start >= duration_s:
                break
            if due > now:
                time.sleep(due - now)
            if on_tick and time.monotonic() >= next_tick:
                on_tick(time.monotonic() - start)
                next_tick += tick_s
            if sem.acquire(blocking=False):
                pool.submit(go, n)
            else:
                skipped += 1
            n += 1
    for c in clients:
        c.close()
    return rec, skipped
