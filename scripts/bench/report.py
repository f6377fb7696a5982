"""The benchmark's table, its acceptance checks, and its JSON (comparable run to run)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scripts.bench import cpu
from scripts.bench.mix import CEILING, COMPUTED_OPS, ONE_CLIENT

# (check, operation row, ceiling, minimum ratio of throughputs)
AIMS = [
    ("intake ≥ 0.7 × bare upload", "report multipart", "bare upload", 0.7),
    ("officer actions ≥ 0.2 × tiny JSON", "officer accept", "tiny JSON", 0.2),
    ("stats (cached answer) ≥ 0.25 × tiny JSON", "stats summary", "tiny JSON", 0.25),
    ("stats (computed) ≥ 0.25 × tiny JSON", "stats summary computed", "tiny JSON", 0.25),
    ("per-office stats (computed) ≥ 0.25 × tiny JSON", "stats offices computed", "tiny JSON", 0.25),
    ("304 polls ≥ 0.5 × tiny JSON", "stats poll 304", "tiny JSON", 0.5),
]
FLAT = 1.5  # stats p50 at the large size ≤ this × at the small size
QUEUE_P99_MS = 10.0  # officer queue page, one client


def with_ratios(
    rows: list[dict[str, Any]], ceilings: dict[str, dict[str, Any]], phase: str
) -> list[dict[str, Any]]:
    """Tag rows with their phase, ceiling and (outside the mix) throughput ratio. In the
    mix an operation gets only its share of the load, so a ratio would mean nothing."""
    out = []
    for r in sorted(rows, key=lambda r: str(r["name"])):
        ceiling = CEILING.get(str(r["name"]))
        c = ceilings.get(ceiling or "", {})
        ratio = None
        if phase != "mix" and c.get("rps"):
            ratio = round(r["rps"] / c["rps"], 3)
        out.append(r | {"phase": phase, "ceiling": ceiling, "ratio": ratio})
    return out


def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {(r["phase"], r["name"]): r for r in result["rows"]}
    big, small = result["meta"]["tickets"], result["meta"]["small_tickets"]
    out = []
    for label, op, ceiling, aim in AIMS:
        r = rows.get((f"alone @{big:,}", op))
        c = result["ceilings"].get(ceiling)
        if r and c and c["rps"]:
            value = r["rps"] / c["rps"]
            out.append({"check": label, "value": round(value, 3), "pass": value >= aim})
    q = rows.get((f"alone @{big:,}", "officer queue" + ONE_CLIENT))
    if q:
        tiny = result["ceilings"].get("tiny JSON" + ONE_CLIENT)
        # The bare app's own one-client p99 in this run, for reading the tail.
        beside = f" (tiny JSON, 1 client: {tiny['p99_ms']:g})" if tiny else ""
        out.append(
            {
                "check": f"queue page p99 < {QUEUE_P99_MS:g} ms (1 client){beside}",
                "value": q["p99_ms"],
                "pass": q["p99_ms"] < QUEUE_P99_MS,
            }
        )
    for op in ("stats summary", "stats offices", *COMPUTED_OPS):
        a, b = rows.get((f"alone @{small:,}", op)), rows.get((f"alone @{big:,}", op))
        if a and b and a["p50_ms"]:
            value = b["p50_ms"] / a["p50_ms"]
            out.append(
                {
                    "check": f"{op} p50 flat: @{big:,} ÷ @{small:,} ≤ {FLAT}",
                    "value": round(value, 3),
                    "pass": value <= FLAT,
                }
            )
    return out


def _f(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.{digits}f}"


def print_table(console: Console, result: dict[str, Any]) -> None:
    meta = result["meta"]
    t = Table(
        title=(
            f"gridfix on {meta['backend']}, {meta['tickets']:,} tickets, "
            f"{meta['workers']} workers, {meta['concurrency']} clients, "
            f"{meta['duration_s']:g} s a phase"
        ),
        title_justify="left",
    )
    for col, just in [
        ("phase", "left"),
        ("operation", "left"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("errors", "right"),
        ("races", "right"),
        ("ceiling", "left"),
        ("ratio", "right"),
    ]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for name, c in result["ceilings"].items():
        t.add_row(
            "ceiling",
            name,
            _f(c["rps"]),
            _f(c["p50_ms"], 2),
            _f(c["p99_ms"], 2),
            str(c.get("errors", 0)),
            "",
            "",
            "",
        )
    t.add_section()
    phase = None
    for r in result["rows"]:
        if phase is not None and r["phase"] != phase:
            t.add_section()
        phase = r["phase"]
        t.add_row(
            r["phase"],
            r["name"],
            _f(r["rps"]),
            _f(r["p50_ms"], 2),
            _f(r["p99_ms"], 2),
            str(r["errors"]),
            str(r.get("races", 0) or ""),
            r["ceiling"] or "",
            _f(r["ratio"], 3),
        )
    console.print(t)
    print_cpu(console, result)
    rss = result["rss_peak_mb_per_worker"]
    console.print(
        "peak RSS per worker (MiB): "
        + "; ".join(f"{k}: {', '.join(_f(x) for x in v)}" for k, v in rss.items()),
        highlight=False,
    )
    for c in result["checks"]:
        mark = "[green]pass[/]" if c["pass"] else "[red]FAIL[/]"
        console.print(f"  {mark}  {c['check']}: {c['value']}", highlight=False)


def print_cpu(console: Console, result: dict[str, Any]) -> None:
    """Milliseconds of CPU a request, by process group, for every single-operation row."""
    rows = [("ceiling", name, c) for name, c in result["ceilings"].items()]
    rows += [(r["phase"], r["name"], r) for r in result["rows"]]
    rows = [(phase, name, r["cpu_ms"]) for phase, name, r in rows if r.get("cpu_ms")]
    if not rows:
        return
    t = Table(
        title="CPU a request (ms), by process group, over the measured window",
        title_justify="left",
    )
    t.add_column("phase", no_wrap=True)
    t.add_column("operation", no_wrap=True)
    for g in (*cpu.GROUPS, "total"):
        t.add_column(g, justify="right", no_wrap=True)
    for phase, name, cost in rows:
        t.add_row(phase, name, *(_f(cost[g], 2) for g in (*cpu.GROUPS, "total")))
    console.print(t)


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))


def compare(console: Console, result: dict[str, Any], previous: Path) -> None:
    """Throughput and p99 of each row against an earlier run's JSON."""
    old = json.loads(previous.read_text())
    before = {(r["phase"], r["name"]): r for r in old.get("rows", [])}
    before |= {("ceiling", k): v for k, v in old.get("ceilings", {}).items()}
    now = [(("ceiling", k), v) for k, v in result["ceilings"].items()]
    now += [((r["phase"], r["name"]), r) for r in result["rows"]]
    t = Table(title=f"against {previous.name}", title_justify="left")
    for col in ("phase", "operation", "req/s then", "req/s now", "Δ", "p99 then", "p99 now"):
        t.add_column(col)
    for key, r in now:
        b = before.get(key)
        if not b:
            continue
        delta = (r["rps"] / b["rps"] - 1) * 100 if b["rps"] else float("nan")
        t.add_row(
            key[0],
            key[1],
            _f(b["rps"]),
            _f(r["rps"]),
            f"{delta:+.0f} %",
            _f(b["p99_ms"], 2),
            _f(r["p99_ms"], 2),
        )
    console.print(t)
