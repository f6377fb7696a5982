"""Where the machine's CPU goes while a phase runs, by process group, from /proc.

Throughput on a small machine is CPU divided among everything that runs: the
service, PostgreSQL, the object store and the load generator itself. Dividing
each group's CPU time over a phase by the requests answered in it gives the
cost of one request to each, so two operations can be compared part by part
(and a ratio of throughputs can be read as a ratio of costs).

Linux only; elsewhere a snapshot is empty and no costs are printed.
"""

from __future__ import annotations

import os
from pathlib import Path

GROUPS = ("service", "postgres", "storage", "load", "other")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _group(pid: int, comm: str, load_pid: int, cache: dict[int, str]) -> str:
    known = cache.get(pid)
    if known is not None:
        return known
    if pid == load_pid:
        group = "load"
    elif comm == "postgres" or comm.startswith("postgres:"):
        group = "postgres"
    elif comm == "weed" or comm == "minio":
        group = "storage"
    else:
        try:
            cmd = (_PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            cmd = b""
        # Benchmark servers are uvicorn processes (gridfix or the bare app) and
        # their worker children, which multiprocessing starts by spawn.
        serving = any(m in cmd for m in (b"uvicorn", b"app.cli", b"multiprocessing.spawn"))
        group = "service" if serving and b"resource_tracker" not in cmd else "other"
    cache[pid] = group
    return group


class Sampler:
    """Per-group CPU seconds between two ``snapshot`` calls, for the calling process's
    view of the machine (the calling process is the load generator)."""

    def __init__(self) -> None:
        self._load_pid = os.getpid()
        self._cache: dict[int, str] = {}

    def snapshot(self) -> dict[int, tuple[str, float]]:
        out: dict[int, tuple[str, float]] = {}
        if not _PROC.is_dir():
            return out
        for entry in _PROC.iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ...": comm may hold spaces and parentheses.
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
            out[pid] = (_group(pid, comm, self._load_pid, self._cache), seconds)
        return out

    @staticmethod
    def between(
        before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
    ) -> dict[str, float]:
        """CPU seconds per group spent between two snapshots. A process that started
        in between counts from zero; one that ended in between is lost (short-lived
        processes are rare here: connections are pooled, workers long-lived)."""
        totals = dict.fromkeys(GROUPS, 0.0)
        for pid, (group, seconds) in after.items():
            start = before.get(pid, (group, 0.0))[1]
            totals[group] += max(0.0, seconds - start)
        return totals


def per_request_ms(cpu_s: dict[str, float], requests: int) -> dict[str, float] | None:
    """Milliseconds of CPU per answered request, per group and in total."""
    if not cpu_s or requests <= 0:
        return None
    out = {g: round(cpu_s.get(g, 0.0) * 1000 / requests, 3) for g in GROUPS}
    out["total"] = round(sum(cpu_s.values()) * 1000 / requests, 3)
    return out


def describe(cost: dict[str, float] | None) -> str:
    """``service 3.10 · postgres 0.90 · … · total 4.90`` (ms a request), or a dash."""
    if not cost:
        return "—"
    return " · ".join(f"{g} {cost[g]:.2f}" for g in (*GROUPS, "total"))
