"""The earlier single-purpose benchmarks, run as parts of the one command.

Each runs as its own process (as a user would run it), its output shown as it
goes; its ``--json`` result, when the script offers one, lands in the combined JSON.
A script that fails is reported, and the run goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from scripts.bench.stage import ROOT


def _args(
    backend: str, quick: bool, tickets: int, duration: float, pg_url: str
) -> dict[str, list[str]]:
    pg = ["--pg-url", pg_url]
    small = min(10_000, tickets)
    if backend == "sqlite":
        return {
            "bench_routing": ["--backends", "sqlite", "--points", "2000" if quick else "100000"],
            "bench_intake": ["--configs", "sqlite-local", "--duration", f"{duration:g}"],
        }
    return {
        "bench_routing": ["--backends", "postgis", "--points", "2000" if quick else "100000", *pg],
        "bench_intake": ["--configs", "postgis-s3", "--duration", f"{duration:g}", *pg],
        "bench_queue": ["--tickets", str(tickets), "--duration", f"{duration:g}", *pg],
        "bench_stats": ["--sizes", f"{small},{tickets}", "--duration", f"{duration:g}", *pg],
    }


def _supports_json(script: Path) -> bool:
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    return "--json" in out.stdout


def run_all(
    console: Console,
    *,
    backend: str,
    quick: bool,
    tickets: int,
    duration: float,
    pg_url: str,
    only: set[str] | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, extra in _args(backend, quick, tickets, duration, pg_url).items():
        if only and name not in only:
            continue
        script = ROOT / "scripts" / f"{name}.py"
        console.rule(f"[bold]{name}[/] {' '.join(extra)}")
        argv = [sys.executable, str(script), *extra]
        with tempfile.TemporaryDirectory(prefix="gridfix-bench-") as tmp:
            out = Path(tmp) / "result.json"
            if _supports_json(script):
                argv += ["--json", str(out)]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, cwd=ROOT)
            entry: dict[str, Any] = {
                "argv": [Path(a).name if a == str(script) else a for a in argv[1:]],
                "exit": proc.returncode,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if out.is_file():
                entry["result"] = json.loads(out.read_text())
            elif proc.returncode == 0:
                entry["result"] = None  # the script prints its table but writes no JSON
        if proc.returncode != 0:
            console.print(f"[red]{name} failed with exit code {proc.returncode}[/]")
        results[name] = entry
    return results
