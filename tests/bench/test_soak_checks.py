"""The soak's verdict, from made-up runs: each kind of violation is caught."""

from __future__ import annotations

from typing import Any

from scripts.bench.soak import evaluate, expected_growth, parse_args, rss_growth

LEDGER = {"reports": 10, "photos": 12, "after_photos": 2, "uploads_used": 3}
LEDGER |= {"created": 10, "accepted": 4, "started": 2, "resolved": 2}


def _load(errors: int = 0, races: int = 0, skipped: int = 0) -> dict[str, Any]:
    row = {"name": "officer accept", "ok": 4, "errors": errors, "races": races}
    row["statuses"] = {200: 4} | ({500: errors} if errors else {})
    return {"rows": [row], "ledger": LEDGER, "skipped": skipped}


def _counts(**extra: int) -> tuple[dict[str, int], dict[str, int]]:
    base = {"reports": 5, "tickets": 5, "photos": 5, "report_photos": 5, "uploads_used": 0}
    base |= {"events": 5, "events created": 5}
    after = {k: v + expected_growth(LEDGER).get(k, 0) for k, v in base.items()}
    after |= {f"events {k}": LEDGER[k] for k in ("accepted", "started", "resolved")}
    return base, after | extra


FLAT = {1: [(0.0, 100.0), (20.0, 150.0), (25.0, 151.0), (30.0, 150.0), (40.0, 152.0)]}


def _verdict(
    load: dict[str, Any], samples: Any = FLAT, replaced: bool = False, **after: int
) -> dict[str, Any]:
    args = parse_args(["--seconds", "40", "--warmup", "20"])
    before, counted = _counts(**after)
    return evaluate(args, load, before, counted, samples, replaced)


def test_a_clean_run_passes_and_races_are_not_errors() -> None:
    v = _verdict(_load(races=3))
    assert v["ok"], v["violations"]
    assert v["races"] == 3 and v["errors"] == 0
    assert v["rows"]["report_photos"] == {"expected": 10, "actual": 10}


def test_errors_and_skipped_starts_fail() -> None:
    assert not _verdict(_load(errors=1))["ok"]
    v = _verdict(_load(skipped=2))
    assert any("fell behind" in x for x in v["violations"])


def test_a_row_more_or_less_than_acknowledged_fails() -> None:
    v = _verdict(_load(), reports=5 + 10 + 1)
    assert v["violations"] == ["reports: grew by 11, acknowledged 10"]
    v = _verdict(_load(), **{"events accepted": 3})
    assert any(x.startswith("events accepted") for x in v["violations"])


def test_events_nobody_asked_for_fail() -> None:
    v = _verdict(_load(), **{"events escalated": 1})
    assert any("nobody asked for" in x for x in v["violations"])


def test_memory_growth_after_warmup_fails_and_warmup_growth_does_not() -> None:
    growing = {1: [(0.0, 100.0), (20.0, 150.0), (21.0, 150.0), (22.0, 150.0), (39.0, 180.0)]}
    growing[1] += [(39.5, 181.0), (40.0, 182.0)]
    assert rss_growth(growing, 20.0)[1] > 0.15
    assert not _verdict(_load(), samples=growing)["ok"]
    assert rss_growth(FLAT, 20.0)[1] < 0.02  # the 100 → 150 MiB step was during warm-up
    assert not _verdict(_load(), replaced=True)["ok"]
