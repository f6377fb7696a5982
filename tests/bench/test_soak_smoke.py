"""The soak command, run briefly on the embedded default (SQLite + local folder).

Keeps ``python -m scripts.bench.soak`` working: it must finish with exit 0, and
its summary must show real work whose database rows match what was acknowledged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_soak_smoke_on_sqlite(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = {**os.environ, "GRIDFIX_TEST_DATA": str(data_dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.bench.soak",
            "--backend",
            "sqlite",
            "--seconds",
            "35",
            "--rate",
            "8",
            "--warmup",
            "15",
            # 35 s is mostly warm-up (imports, first decodes, allocator arenas): the
            # 15 % bound is for real soaks; here memory only has to level off.
            "--rss-growth",
            "0.5",
            "--sample-s",
            "2",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads(out.read_text())
    assert summary["ok"] is True
    assert summary["violations"] == []
    assert summary["errors"] == 0
    # Real work happened: reports of both kinds, officers' actions, dashboard and Open311 reads.
    ops = {r["name"]: r["ok"] for r in summary["operations"]}
    for name in ("report multipart", "report upload_ids", "officer queue", "open311 requests"):
        assert ops.get(name, 0) > 0, ops
    assert ops.get("stats summary", 0) + ops.get("stats offices", 0) > 0, ops
    assert summary["ledger"]["accepted"] > 0
    # Every acknowledged write is in the database, and nothing else.
    for table, check in summary["rows"].items():
        assert check["actual"] == check["expected"], (table, check)
    assert summary["rows"]["reports"]["actual"] > 0
    assert summary["rows"]["events"]["actual"] >= summary["rows"]["reports"]["actual"]
    # Memory was sampled for every worker, after the warm-up too.
    assert len(summary["rss_samples_mb"]) == 2
    assert all(len(xs) >= 5 for xs in summary["rss_samples_mb"].values())
