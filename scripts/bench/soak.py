"""Soak: the benchmark's mix at a steady rate for a bounded time, then checks.

    python -m scripts.bench.soak                         # 30 minutes, 20 tasks/s
    python -m scripts.bench.soak --minutes 5 --rate 40 --backend postgis
    python -m scripts.bench.soak --seconds 40 --rate 8   # a smoke run (CI)

Open loop: a task (a rider's report, an officer's queue page and action, a dashboard
poll, an Open311 read) starts every 1/rate seconds whatever the answers' speed.
Resident memory of every worker is sampled every --sample-s seconds. At the end it
checks, and exits 1 on any violation:

- no errors: every answer 2xx/3xx, except 409/412 when two officers act on one
  ticket at once (counted apart, as races), and no start skipped because the
  service fell behind (more than --max-in-flight tasks still running);
- memory: each worker's RSS after warm-up grows by at most --rss-growth
  (median of the last three samples against the first three after warm-up),
  and no worker was replaced;
- rows: reports, tickets, photos, report photos, used uploads and ticket events
  (by kind) grew by exactly what the service acknowledged.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from scripts.bench import stage
from scripts.bench.mix import drive
from scripts.bench.servers import HEALTHCHECK_S, free_port, gridfix_server, rss_mb

# Wide enough for the table when the output is a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 140)

COUNTS = {
    "reports": "SELECT count(*) FROM reports",
    "tickets": "SELECT count(*) FROM tickets",
    "photos": "SELECT count(*) FROM photos",
    "report_photos": "SELECT count(*) FROM report_photos",
    "uploads_used": "SELECT count(*) FROM uploads WHERE used_at IS NOT NULL",
    "events": "SELECT count(*) FROM ticket_events",
}
EVENT_KINDS = ("created", "accepted", "started", "resolved")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, help="instead of --minutes (short runs)")
    ap.add_argument("--rate", type=float, default=20.0, help="tasks started per second")
    ap.add_argument("--backend", choices=("sqlite", "postgis"), default=stage.default_backend())
    ap.add_argument("--pg-url", default=None)
    ap.add_argument("--storage", choices=("auto", "s3", "local"), default="auto")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-in-flight", type=int, default=64)
    ap.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling interval")
    ap.add_argument(
        "--warmup", type=float, help="seconds before RSS is judged (default: 20 %% of the run)"
    )
    ap.add_argument(
        "--rss-growth",
        type=float,
        default=0.15,
        help="largest allowed RSS growth per worker after warm-up (0.15 = 15 %%)",
    )
    ap.add_argument("--json", type=Path, help="write the summary here")
    args = ap.parse_args(argv)
    args.duration = args.seconds if args.seconds else args.minutes * 60
    args.warmup = args.warmup if args.warmup is not None else 0.2 * args.duration
    return args


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as c:
        out = {k: int(c.execute(text(q)).scalar_one()) for k, q in COUNTS.items()}
        for kind, n in c.execute(text("SELECT kind, count(*) FROM ticket_events GROUP BY kind")):
            out[f"events {kind}"] = int(n)
    engine.dispose()
    return out


def expected_growth(ledger: dict[str, int]) -> dict[str, int]:
    g = ledger.get
    exp = {
        "reports": g("reports", 0),
        "tickets": g("reports", 0),
        "photos": g("photos", 0),
        "report_photos": g("photos", 0) - g("after_photos", 0),
        "uploads_used": g("uploads_used", 0),
        "events": sum(g(k, 0) for k in EVENT_KINDS),
    }
    exp |= {f"events {k}": g(k, 0) for k in EVENT_KINDS}
    return exp


def rss_growth(samples: dict[int, list[tuple[float, float]]], warmup: float) -> dict[int, float]:
    """Per worker: median of its last three samples ÷ median of the first three after
    warm-up, minus one (medians, so one sample taken mid-request does not decide)."""
    out = {}
    for pid, xs in samples.items():
        after = [mb for t, mb in xs if t >= warmup]
        if len(after) >= 2:
            first, last = statistics.median(after[:3]), statistics.median(after[-3:])
            out[pid] = last / first - 1
    return out


def evaluate(
    args: argparse.Namespace,
    load_out: dict[str, Any],
    before: dict[str, int],
    after: dict[str, int],
    samples: dict[int, list[tuple[float, float]]],
    replaced: bool,
) -> dict[str, Any]:
    violations = []
    rows = load_out["rows"]
    errors = sum(r["errors"] for r in rows)
    races = sum(r["races"] for r in rows)
    if errors:
        bad = {r["name"]: r["statuses"] for r in rows if r["errors"]}
        violations.append(f"{errors} errors: {bad}")
    if load_out["skipped"]:
        violations.append(f"{load_out['skipped']} task starts skipped: the service fell behind")
    growth = rss_growth(samples, args.warmup)
    for pid, gr in growth.items():
        if gr > args.rss_growth:
            violations.append(
                f"worker {pid} RSS grew {gr:.1%} after warm-up (> {args.rss_growth:.0%})"
            )
    if not growth:
        violations.append("too few RSS samples after warm-up to judge memory")
    if replaced:
        violations.append("a worker process was replaced during the run")
    expected = expected_growth(load_out["ledger"])
    rows_check = {}
    for k, exp in expected.items():
        actual = after.get(k, 0) - before.get(k, 0)
        rows_check[k] = {"expected": exp, "actual": actual}
        if actual != exp:
            violations.append(f"{k}: grew by {actual}, acknowledged {exp}")
    unexpected = {
        k: after[k] - before.get(k, 0)
        for k in after
        if k.startswith("events ") and k[7:] not in EVENT_KINDS and after[k] != before.get(k, 0)
    }
    if unexpected:
        violations.append(f"events nobody asked for: {unexpected}")
    return {
        "ok": not violations,
        "violations": violations,
        "requests": sum(r["ok"] + r["errors"] for r in rows) + races,
        "errors": errors,
        "races": races,
        "skipped": load_out["skipped"],
        "rows": rows_check,
        "ledger": load_out["ledger"],
        "rss_growth": {str(p): round(g, 4) for p, g in growth.items()},
        "rss_samples_mb": {str(p): [round(mb, 1) for _, mb in xs] for p, xs in samples.items()},
        "operations": rows,
    }


def server_errors(log: str, limit: int = 5) -> list[str]:
    """The last line of each distinct traceback in the service's log (why a 500 was a 500)."""
    seen: dict[str, int] = {}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                j += 1
            if j < len(lines):
                seen[lines[j][:300]] = seen.get(lines[j][:300], 0) + 1
    return [f"{n} × {msg}" for msg, n in list(seen.items())[:limit]]


def run(args: argparse.Namespace) -> dict[str, Any]:
    with stage.backend(args.backend, pg_url=args.pg_url, storage=args.storage) as be:
        console.rule(
            f"[bold]gridfix soak[/] — {be.name}, {args.duration:g} s at {args.rate:g} tasks/s, "
            f"{args.workers} workers"
        )
        people = stage.prepare(be)
        port = free_port()
        env = be.env | {"GRIDFIX_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        server = gridfix_server(env, workers=args.workers, port=port, healthcheck_s=HEALTHCHECK_S)
        try:
            server.wait_ready("/readyz", timeout=120)
            before = counts(be.database_url)
            pids = server.workers()
            samples: dict[int, list[tuple[float, float]]] = {p: [] for p in pids}
            spec = {
                "url": server.url,
                "ops": "mix",
                "mode": "open",
                "rate": args.rate,
                "duration": args.duration,
                "max_in_flight": args.max_in_flight,
            }
            ctx = mp.get_context("spawn")
            started, results = ctx.Event(), ctx.Queue()
            proc = ctx.Process(target=_load, args=(people, spec, started, results))
            proc.start()
            if not started.wait(120):
                proc.kill()
                raise RuntimeError("the load process did not start")
            replaced, load_out = _sample(server, samples, proc, results, args)
            proc.join()
            after = counts(be.database_url)
        finally:
            server.stop()
            log = Path(server.log.name).read_text(errors="replace")
    summary = evaluate(args, load_out, before, after, samples, replaced)
    summary["server_errors"] = server_errors(log)
    summary["meta"] = {
        "backend": be.name,
        "seconds": args.duration,
        "rate": args.rate,
        "workers": args.workers,
        "warmup_s": args.warmup,
        "rss_growth_bound": args.rss_growth,
    }
    return summary


def _load(people: stage.People, spec: dict[str, Any], started: Any, results: Any) -> None:
    """The load process: run the mix, hand back its results."""
    results.put(drive(people, spec, on_start=started.set))


def _sample(
    server: Any,
    samples: dict[int, list[tuple[float, float]]],
    proc: Any,
    results: Any,
    args: argparse.Namespace,
) -> tuple[bool, dict[str, Any]]:
    """Sample each worker's RSS until the load process answers; returns whether the
    workers changed, and the load's results. Times count from the load's start, so
    the warm-up is load, not process start-up."""
    start = time.monotonic()
    replaced = False
    while True:
        t = time.monotonic() - start
        now_pids = set(server.workers())
        replaced |= now_pids != set(samples)
        for pid in samples:
            mb = rss_mb(pid)
            if mb == mb:  # not NaN: the process is still there
                samples[pid].append((t, mb))
        if int(t) % 60 < args.sample_s:
            mbs = ", ".join(f"{xs[-1][1]:.0f}" for xs in samples.values() if xs)
            console.print(f"  {t:6.0f} s  RSS per worker (MiB): {mbs}", highlight=False)
        try:
            return replaced, results.get(timeout=args.sample_s)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the load process died (exit {proc.exitcode})") from None


def print_summary(summary: dict[str, Any]) -> None:
    t = Table(title="operations", title_justify="left")
    for col in ("operation", "ok", "errors", "races", "p50 ms", "p99 ms", "statuses"):
        t.add_column(col)
    for r in sorted(summary["operations"], key=lambda r: r["name"]):
        t.add_row(
            r["name"],
            str(r["ok"]),
            str(r["errors"]),
            str(r["races"]),
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            json.dumps(r["statuses"]),
        )
    console.print(t)
    rows = Table(title="database rows: growth against acknowledged writes", title_justify="left")
    for col in ("rows", "acknowledged", "in database"):
        rows.add_column(col)
    for k, v in summary["rows"].items():
        mark = "" if v["expected"] == v["actual"] else " [red]✗[/]"
        rows.add_row(k, str(v["expected"]), f"{v['actual']}{mark}")
    console.print(rows)
    growth = ", ".join(f"{g:+.1%}" for g in summary["rss_growth"].values())
    console.print(
        f"RSS growth per worker after warm-up: {growth} "
        f"(bound {summary['meta']['rss_growth_bound']:.0%}); "
        f"{summary['requests']} requests, {summary['errors']} errors, {summary['races']} races, "
        f"{summary['skipped']} skipped starts",
        highlight=False,
    )
    if summary["ok"]:
        console.print("[green]soak passed[/]")
    for v in summary["violations"]:
        console.print(f"[red]violation:[/] {v}", highlight=False)
    for e in summary.get("server_errors", []):
        console.print(f"  service log: {e}", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
