"""What one ticket (or one event) contributes to each rollup. Pure.

The hooks listener adds ``contribution(after) − contribution(before)``; the
rebuild adds ``contribution(ticket)`` for every ticket. One function, two uses,
so incremental maintenance and a rebuild cannot drift apart by construction —
the tests check it anyway.

Every contribution is fanned out to each office on the ticket's materialised
path (the owner and all its ancestors: figures of an office include its
subtree) and, except for hotspots, to category 0 ("all categories"), so a read
touches the rows of one office and one category whatever the tree's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from app.stats import buckets as b
from app.tickets.enums import OPEN_STATUSES, Resolution, TicketStatus

ALL: Final = 0  # category_id of the "all categories" rows

STATUSES: Final[tuple[str, ...]] = tuple(s.value for s in TicketStatus)
RESOLUTIONS: Final[tuple[str, ...]] = tuple(r.value for r in Resolution)
OPEN: Final[frozenset[str]] = frozenset(s.value for s in OPEN_STATUSES)
DONE: Final[frozenset[str]] = frozenset({TicketStatus.resolved.value, TicketStatus.closed.value})

COUNT_COLS: Final[tuple[str, ...]] = (
    "n",
    *(f"st_{s}" for s in STATUSES),
    *(f"res_{r}" for r in RESOLUTIONS),
    "on_time",
    "reworked",
    "ever_resolved",
)
FR_COLS: Final[tuple[str, ...]] = tuple(f"fr_{i:02d}" for i in range(b.NBUCKETS))
RS_COLS: Final[tuple[str, ...]] = tuple(f"rs_{i:02d}" for i in range(b.NBUCKETS))
COHORT_COLS: Final[tuple[str, ...]] = COUNT_COLS + FR_COLS + RS_COLS
FLOW_COLS: Final[tuple[str, ...]] = ("created", "resolved", "reopened", "closed", "rejected")
FLOW_KINDS: Final[frozenset[str]] = frozenset(FLOW_COLS)  # TicketEvent.kind values

CohortKey = tuple[int, int, str, int]  # office, category, grain (A/M/D), slot
BacklogKey = tuple[int, int, str, int]  # office, category, grain (H/D/M), slot
DueKey = tuple[int, int, int, int]  # office, category, due hour, created hour
HotspotKey = tuple[int, int, int, int, int]  # office, cell size, category, cx, cy
FlowKey = tuple[int, int, str, int]  # office, category, grain (M/D), slot


class TicketLike(Protocol):
    @property
    def office_id(self) -> int: ...
    @property
    def category_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def resolved_on_time(self) -> bool | None: ...
    @property
    def reopen_count(self) -> int: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...


def cohort_vector(t: TicketLike) -> dict[str, int]:
    """The cohort counters one ticket sets to 1 (sparse)."""
    status = str(t.status)
    v = {"n": 1, f"st_{status}": 1}
    if t.resolution:
        v[f"res_{t.resolution}"] = 1
    done = status in DONE
    if done and t.resolved_on_time:
        v["on_time"] = 1
    if (t.reopen_count or 0) > 0:
        v["reworked"] = 1
    if done or (t.reopen_count or 0) > 0:
        v["ever_resolved"] = 1
    if t.first_response_at is not None:
        v[FR_COLS[b.duration_bucket(t.created_at, t.first_response_at)]] = 1
    if t.resolved_at is not None and done:
        v[RS_COLS[b.duration_bucket(t.created_at, t.resolved_at)]] = 1
    return v


def is_open(t: TicketLike) -> bool:
    return str(t.status) in OPEN


@dataclass(slots=True)
class Deltas:
    """Signed changes to every rollup, keyed by row; zero entries are dropped on read."""

    tz: ZoneInfo
    # The rebuild skips day rows older than these (no read uses them); the listener keeps all.
    min_cohort_day: int | None = None
    min_flow_day: int | None = None
    cohort: dict[CohortKey, dict[str, int]] = field(default_factory=dict)
    backlog: dict[BacklogKey, int] = field(default_factory=dict)
    due: dict[DueKey, int] = field(default_factory=dict)
    hotspot: dict[HotspotKey, int] = field(default_factory=dict)
    flow: dict[FlowKey, dict[str, int]] = field(default_factory=dict)

    def add_ticket(
        self, t: TicketLike, sign: int, path: Sequence[int], *, own_only: bool = False
    ) -> None:
        """Add (``sign`` = 1) or remove (−1) a ticket's whole contribution.

        ``path`` is the owning office's ancestors-and-self, root first.
        ``own_only``: no "all categories" rows (the rebuild fans out in SQL).
        """
        cats = (t.category_id,) if own_only else (t.category_id, ALL)
        created = t.created_at
        day, month = self._add_cohort(
            {c: sign * x for c, x in cohort_vector(t).items()}, created, cats, path
        )
        if not is_open(t):
            return
        hour = b.hour_slot(created)
        due_hour = b.hour_slot(t.due_at)
        cells = [(res, *b.cell_of(t.lon, t.lat, res)) for res in b.CELL_RESOLUTIONS]
        for office in path:
            for cat in cats:
                for bkey in (
                    (office, cat, "H", hour),
                    (office, cat, "D", day),
                    (office, cat, "M", month),
                ):
                    self.backlog[bkey] = self.backlog.get(bkey, 0) + sign
                dkey = (office, cat, due_hour, hour)
                self.due[dkey] = self.due.get(dkey, 0) + sign
            for res, cx, cy in cells:
                hkey = (office, res, t.category_id, cx, cy)
                self.hotspot[hkey] = self.hotspot.get(hkey, 0) + sign

    def add_change(self, before: TicketLike, after: TicketLike, path: Sequence[int]) -> bool:
        """Add a change that leaves every rollup but the cohort's as it was, in one
        step: the difference of the two cohort vectors, fanned out once.

        That holds when office, category, creation time, open-or-not, due time and
        place all stay (accept, start, a resolve that stays open or not, …). Returns
        False, adding nothing, for any other change: add both tickets instead.
        """
        if (
            before.office_id != after.office_id
            or before.category_id != after.category_id
            or before.created_at != after.created_at
            or is_open(before) != is_open(after)
            or (
                is_open(after)
                and (
                    before.due_at != after.due_at
                    or before.lat != after.lat
                    or before.lon != after.lon
                )
            )
        ):
            return False
        old, new = cohort_vector(before), cohort_vector(after)
        vector = {c: x for c in old.keys() | new.keys() if (x := new.get(c, 0) - old.get(c, 0))}
        if vector:
            self._add_cohort(vector, after.created_at, (after.category_id, ALL), path)
        return True

    def _add_cohort(
        self,
        vector: dict[str, int],
        created: datetime,
        cats: tuple[int, ...],
        path: Sequence[int],
    ) -> tuple[int, int]:
        """Add ``vector`` to the cohort rows of a ticket created at ``created``;
        returns that moment's (day, month) slots."""
        day = b.day_slot(created, self.tz)
        month = b.month_slot(created, self.tz)
        grains: tuple[tuple[str, int], ...] = (("A", 0), ("M", month), ("D", day))
        if self.min_cohort_day is not None and day < self.min_cohort_day:
            grains = grains[:2]
        for office in path:
            for cat in cats:
                for grain, slot in grains:
                    key = (office, cat, grain, slot)
                    row = self.cohort.get(key)
                    if row is None:
                        self.cohort[key] = dict(vector)
                    else:
                        for c, x in vector.items():
                            row[c] = row.get(c, 0) + x
        return day, month

    def add_flow(
        self,
        kind: str,
        at: datetime,
        category_id: int,
        sign: int,
        path: Sequence[int],
        *,
        own_only: bool = False,
    ) -> None:
        """Count (or uncount) one event of a flow ``kind`` at time ``at``."""
        cats = (category_id,) if own_only else (category_id, ALL)
        day = b.day_slot(at, self.tz)
        slots: tuple[tuple[str, int], ...] = (("M", b.month_slot(at, self.tz)), ("D", day))
        if self.min_flow_day is not None and day < self.min_flow_day:
            slots = slots[:1]
        for office in path:
            for cat in cats:
                for grain, slot in slots:
                    row = self.flow.setdefault((office, cat, grain, slot), {})
                    row[kind] = row.get(kind, 0) + sign

    def nonzero(self) -> Deltas:
        """A copy without the rows (and counters) whose change is zero."""
        out = Deltas(self.tz)
        for key, row in self.cohort.items():
            row = {c: x for c, x in row.items() if x}
            if row:
                out.cohort[key] = row
        for key, frow in self.flow.items():
            frow = {c: x for c, x in frow.items() if x}
            if frow:
                out.flow[key] = frow
        out.backlog = {k: v for k, v in self.backlog.items() if v}
        out.due = {k: v for k, v in self.due.items() if v}
        out.hotspot = {k: v for k, v in self.hotspot.items() if v}
        return out

    @property
    def empty(self) -> bool:
        return not (self.cohort or self.backlog or self.due or self.hotspot or self.flow)

    def offices(self) -> set[int]:
        out: set[int] = set()
        for table in (self.cohort, self.backlog, self.due, self.hotspot, self.flow):
            out.update(k[0] for k in table)
        return out


def path_ids(path: str) -> list[int]:
    """Office ids of a materialised path "/1/7/42/", root first."""
    return [int(p) for p in path.strip("/").split("/") if p]
