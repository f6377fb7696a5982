"""The figures, defined once, computed from summed rollup rows. Pure.

For a set of tickets T (the cohort: in scope, matching ``office`` and
``category``, created in [from, to)), at ``as_of``:

- ``total``: |T|. ``by_status``, ``by_resolution``: T counted by current
  status (all 6) and current resolution (all 6; open and reopened tickets have
  none).
- ``resolution_rate``: tickets now resolved or closed ÷ (total − rejected);
  rejected tickets (duplicate, invalid, not responsible) are not work an office
  could resolve. null when the denominator is 0.
- ``on_time_rate``: resolved-or-closed tickets with ``resolved_on_time`` ÷
  resolved-or-closed tickets (the on-time flag of their latest resolution).
- ``rework_rate``: tickets reopened at least once ÷ tickets ever resolved
  (resolved or closed now, or reopened at least once).
- ``time_to_first_response_s``: over tickets with a first response,
  ``first_response_at − created_at``; ``time_to_resolution_s``: over resolved
  or closed tickets, ``resolved_at − created_at`` (latest resolution).
  ``median``/``p90`` are the nearest-rank quantiles (rank ⌈q·n⌉) reported as
  the lower bound of the histogram bucket holding them (:data:`buckets.EDGES`).
- ``overdue``: open tickets (new, accepted, in progress) with ``due_at < as_of``.
- ``backlog.open``: open tickets. Ages are ``as_of`` minus the start of the
  ticket's creation slot: its UTC hour if created in the last
  ``GRIDFIX_STATS_HOUR_WINDOW_H`` (24) hour slots, else its local day if in the
  last ``GRIDFIX_STATS_DAY_WINDOW_DAYS`` (31) local days, else its local
  month. ``median_age_s`` is the nearest-rank median of those ages,
  ``oldest_age_s`` the largest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.stats import buckets as b
from app.stats.contrib import COHORT_COLS, FR_COLS, RESOLUTIONS, RS_COLS, STATUSES

_IDX = {c: i for i, c in enumerate(COHORT_COLS)}
_FR = slice(_IDX[FR_COLS[0]], _IDX[FR_COLS[-1]] + 1)
_RS = slice(_IDX[RS_COLS[0]], _IDX[RS_COLS[-1]] + 1)
FIGURE_NAMES = (
    "total",
    "resolution_rate",
    "on_time_rate",
    "rework_rate",
    "overdue",
    "backlog.open",
    "backlog.median_age_s",
    "backlog.oldest_age_s",
    "time_to_first_response_s.median",
    "time_to_first_response_s.p90",
    "time_to_resolution_s.median",
    "time_to_resolution_s.p90",
    *(f"by_status.{s}" for s in STATUSES),
    *(f"by_resolution.{r}" for r in RESOLUTIONS),
)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def add_into(acc: list[int], vector: list[int], sign: int) -> None:
    for i, x in enumerate(vector):
        acc[i] += sign * x


def ages(slot_starts: Iterable[tuple[int, int]], as_of: int) -> dict[str, int | None]:
    """Median and oldest age from (creation-slot start, open tickets) pairs, in epoch s."""
    pairs = sorted((as_of - s, n) for s, n in slot_starts if n)
    total = sum(n for _, n in pairs)
    if total <= 0:
        return {"median_age_s": None, "oldest_age_s": None}
    r, seen, median = b.rank(1, 2, total), 0, None
    for age, n in pairs:
        seen += n
        if seen >= r:
            median = age
            break
    return {"median_age_s": median, "oldest_age_s": pairs[-1][0]}


def figures(
    vector: list[int], *, not_yet_due: int, backlog_ages: dict[str, int | None]
) -> dict[str, Any]:
    """Every figure of one cell from its cohort counters and its open-set reads."""
    v = dict(zip(COHORT_COLS, vector, strict=True))
    total = v["n"]
    done = v["st_resolved"] + v["st_closed"]
    open_ = v["st_new"] + v["st_accepted"] + v["st_in_progress"]
    return {
        "total": total,
        "by_status": {s: v[f"st_{s}"] for s in STATUSES},
        "by_resolution": {r: v[f"res_{r}"] for r in RESOLUTIONS},
        "resolution_rate": _ratio(done, total - v["st_rejected"]),
        "on_time_rate": _ratio(v["on_time"], done),
        "rework_rate": _ratio(v["reworked"], v["ever_resolved"]),
        "time_to_first_response_s": b.median_p90(vector[_FR]),
        "time_to_resolution_s": b.median_p90(vector[_RS]),
        "overdue": open_ - not_yet_due,
        "backlog": {"open": open_, **backlog_ages},
    }


def figure_value(fig: dict[str, Any], name: str) -> Any:
    """A figure by dotted name (``backlog.open``), for sorting."""
    value: Any = fig
    for part in name.split("."):
        value = value[part]
    return value
