"""Statistics use cases: resolve the caller's scope and filters, read the
rollups for a few (office, category) cells, and assemble the figures.

A *target* is what one item's figures cover: the sum of the rows of ``plus``
offices minus those of ``minus`` offices. Rows of an office already include its
subtree, so a supervisor's target is their office; an officer, who sees their
own office only, gets their office minus its children (exact, since every
rollup is a sum).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.scope import scope_filter
from app.config import Settings
from app.core.errors import Forbidden, InvalidInput
from app.stats import buckets as b
from app.stats import figures as f
from app.stats import queries
from app.stats.contrib import ALL, COHORT_COLS, FLOW_COLS, path_ids
from app.stats.periods import Clock, Cohort, Series
from app.stats.queries import OfficeRow


@dataclass(frozen=True, slots=True)
class Target:
    plus: tuple[int, ...]
    minus: tuple[int, ...] = ()

    def owns(self, path: Sequence[int]) -> bool:
        """Whether a ticket of the office with this path counts for the target."""
        return any(p in self.plus for p in path) and not any(m in self.minus for m in path)


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks, about which office and category, at which ``as_of``."""

    actor: Actor
    clock: Clock
    office_id: int | None  # the office asked about; None: an admin's whole scope
    office_path: str | None
    roots: tuple[int, ...]  # offices whose rows make up the scope asked about
    exact: bool  # the caller sees the office itself but not its subtree (officer)
    category: tuple[int, str] | None

    @property
    def category_id(self) -> int:
        return self.category[0] if self.category else ALL


def clock(settings: Settings, now: datetime) -> Clock:
    return Clock(
        as_of=b.floor_time(now, settings.stats_clock_s),
        tz=b.stats_timezone(),
        hour_window=settings.stats_hour_window_h,
        cohort_days=settings.stats_day_window_days,
        flow_days=settings.stats_flow_day_window_days,
    )


def _out_of_scope(field: str, code: str) -> InvalidInput:
    return InvalidInput(
        f"no office {code!r} in your scope",
        errors=[{"field": field, "reason": "unknown or out of scope"}],
    )


def resolve(
    source: Session | Connection,
    actor: Actor,
    clk: Clock,
    *,
    office: str | None,
    category: str | None,
    office_field: str = "office",
) -> tuple[Context, State]:
    """Resolve the caller's scope and the ``office``/``category`` filters (422 if
    unusable), with the data version the answer's ETag rests on: one statement."""
    scope = scope_filter(actor)
    if scope.nothing:
        raise Forbidden("your account has no office, so no statistics are in your scope")
    if office is not None:
        head = queries.head(source, category_code=category, office_code=office)
    elif scope.everything:
        head = queries.head(source, category_code=category)
    else:
        head = queries.head(source, category_code=category, office_id=actor.office_id)
    if category is not None and head.category is None:
        raise InvalidInput(
            f"unknown category {category!r}",
            errors=[{"field": "category", "reason": "unknown category"}],
        )
    exact = scope.office_id is not None
    rows = head.offices
    if office is not None:
        if not rows or not scope.allows(rows[0][0], rows[0][4]):
            raise _out_of_scope(office_field, office)
        ctx = Context(actor, clk, rows[0][0], rows[0][4], (rows[0][0],), exact, head.category)
    elif scope.everything:
        ctx = Context(actor, clk, None, None, tuple(r[0] for r in rows), False, head.category)
    else:
        own = actor.office_id
        assert own is not None  # not nothing, not everything: an office-scoped role
        path = rows[0][4] if rows else actor.office_path
        ctx = Context(actor, clk, own, path, (own,), exact, head.category)
    version = sum(r[5] for r in rows)
    shown = (rows[0][1], rows[0][2], rows[0][3]) if ctx.office_id is not None and rows else None
    return ctx, State(version, shown, head.pending)


@dataclass(frozen=True, slots=True)
class State:
    """What the ETag rests on: the data version of the offices asked about, and
    (for the answer) the office itself."""

    version: int
    office: tuple[str, str, str] | None
    pending: bool = False  # changes not yet in the rollups (nor in the version)


def cache_key(ctx: Context, st: State) -> tuple[object, ...]:
    """Everything a computed answer depends on besides the endpoint's own
    parameters: which rows it sums, the office shown, ``as_of`` and the data version.
    Not who asked: two viewers of one office share answers."""
    return (
        ctx.roots,
        ctx.exact,
        ctx.office_id,
        ctx.category,
        st.office,
        ctx.clock.as_of,
        st.version,
    )


def scope_json(ctx: Context, st: State) -> dict[str, Any]:
    o = st.office
    return {
        "office": {"code": o[0], "name": o[1], "level": o[2]} if o else None,
        "subtree": not ctx.exact,
        "category": ctx.category[1] if ctx.category else None,
    }


def base_target(session: Session, ctx: Context) -> Target:
    if ctx.exact:
        return Target(ctx.roots, tuple(r[0] for r in queries.child_offices(session, ctx.roots)))
    return Target(ctx.roots)


# --- figures -----------------------------------------------------------------------------


def compute(
    session: Session,
    cells: Sequence[tuple[Target, int]],
    cohort: Cohort,
    clk: Clock,
) -> list[dict[str, Any]]:
    """Figures for each (target, category id) cell, reading each rollup once."""
    office_ids = sorted({o for t, _ in cells for o in (*t.plus, *t.minus)})
    cat_ids = sorted({c for _, c in cells})
    sums = queries.cohort_sums(session, office_ids, cat_ids, cohort.ranges(clk.tz))
    lo, hi = cohort.hour_bounds()
    # Open tickets due later this hour but not yet at as_of come from the tickets:
    # a range under an hour long.
    opened = queries.open_set(
        session,
        office_ids,
        cat_ids,
        first_hour=clk.first_hour,
        first_day=clk.first_day,
        after_hour=clk.hour,
        created_from_hour=lo,
        created_to_hour=hi,
        due_from=clk.as_of,
        due_to=b.hour_start(clk.hour + 1),
    )
    backlog, nyd = opened.slots, opened.waiting
    c_lo = int(cohort.start.timestamp()) if cohort.start else None
    c_hi = int(cohort.end.timestamp()) if cohort.end else None
    soon = [
        (path_ids(path), cat)
        for path, cat, created in opened.soon
        if (c_lo is None or created >= c_lo) and (c_hi is None or created < c_hi)
    ]
    # Due-soon tickets per (office on their path, category and "all"): a cell of
    # one office needs a lookup, not a pass over every such ticket.
    soon_at: dict[tuple[int, int], int] = defaultdict(int)
    for path, cat in soon:
        for o in path:
            soon_at[(o, cat)] += 1
            soon_at[(o, ALL)] += 1
    by_cell: dict[tuple[int, int], list[tuple[str, int, int]]] = defaultdict(list)
    for office, cat, grain, slot, n in backlog:
        by_cell[(office, cat)].append((grain, slot, n))

    out = []
    as_of = int(clk.as_of.timestamp())
    zero = [0] * len(COHORT_COLS)
    for target, cat in cells:
        if not target.minus and len(target.plus) == 1:  # the common case: no combining
            key = (target.plus[0], cat)
            vector = sums.get(key, zero)
            waiting = nyd.get(key, 0) + soon_at.get(key, 0)
            rows: list[tuple[str, int, int]] = by_cell.get(key, [])
        else:
            vector = list(zero)
            waiting = 0
            combined: dict[tuple[str, int], int] = defaultdict(int)
            for sign, offices in ((1, target.plus), (-1, target.minus)):
                for o in offices:
                    if (o, cat) in sums:
                        f.add_into(vector, sums[(o, cat)], sign)
                    waiting += sign * nyd.get((o, cat), 0)
                    for grain, slot, n in by_cell.get((o, cat), ()):
                        combined[(grain, slot)] += sign * n
            rows = [(g, slot, n) for (g, slot), n in combined.items()]
            waiting += sum(1 for path, c in soon if (cat == ALL or c == cat) and target.owns(path))
        ages = f.ages(_age_slots(rows, cohort, clk), as_of)
        out.append(f.figures(vector, not_yet_due=waiting, backlog_ages=ages))
    return out


def _age_slots(
    rows: list[tuple[str, int, int]], cohort: Cohort, clk: Clock
) -> list[tuple[int, int]]:
    """(slot start in epoch s, open tickets) at the finest grain each ticket's age is
    kept: its hour if in the hour window, else its day if in the day window, else its
    month. Every open ticket is in one row of each grain, so the coarser rows are
    reduced by the finer rows they contain."""
    first_hour, first_day = clk.first_hour, clk.first_day
    tz = clk.tz
    hours: dict[int, int] = {}
    days: dict[int, int] = {}
    months: dict[int, int] = {}
    for g, slot, n in rows:
        if g == "H":
            if slot >= first_hour:
                hours[slot] = n
        elif g == "D":
            if slot >= first_day:
                days[slot] = n
        else:
            months[slot] = n
    day_rest = dict(days)
    for h, n in hours.items():
        d = b.day_of_hour(h, tz)
        if d >= first_day:
            day_rest[d] = day_rest.get(d, 0) - n
        else:  # an hour window longer than the day window
            m = b.month_of_day(d)
            months[m] = months.get(m, 0) - n
    for d, n in days.items():
        m = b.month_of_day(d)
        months[m] = months.get(m, 0) - n
    lo = int(cohort.start.timestamp()) if cohort.start else None
    hi = int(cohort.end.timestamp()) if cohort.end else None
    slots = [(h * 3600, n) for h, n in hours.items()]
    slots += [(b.day_start_ts(d, tz), n) for d, n in day_rest.items()]
    slots += [(b.month_start_ts(m, tz), n) for m, n in months.items()]
    return [(t, n) for t, n in slots if n and (lo is None or t >= lo) and (hi is None or t < hi)]


def offices_listing(
    session: Session, ctx: Context, *, level: str | None, limit: int
) -> list[OfficeRow]:
    """The offices listed by ``/stats/offices``: children of the parent (or of an
    admin's virtual root: the top-level offices), or offices of ``level`` below it."""
    if ctx.exact:
        return []  # an officer sees no office below their own
    under = None if ctx.office_path is None else [ctx.office_path]
    if level is not None:
        rows = queries.offices_at_level(session, level, under, limit + 1)
    elif ctx.office_id is None:
        rows = queries.root_offices(session)
    else:
        rows = queries.child_offices(session, [ctx.office_id])
    if len(rows) > limit:
        raise InvalidInput(
            f"more than {limit} offices; narrow the list with parent or level",
            errors=[{"field": "level" if level else "parent", "reason": "too many offices"}],
        )
    return rows


# --- time series and hotspots ------------------------------------------------------------


def timeseries(
    session: Session, target: Target, category_id: int, s: Series
) -> list[dict[str, Any]]:
    ids = sorted({*target.plus, *target.minus})
    rows = queries.flow_sums(session, ids, [category_id], s.grain, s.first, s.end)
    per_slot: dict[int, list[int]] = defaultdict(lambda: [0] * len(FLOW_COLS))
    for (office, _, slot), counts in rows.items():
        sign = 1 if office in target.plus else -1
        f.add_into(per_slot[slot], counts, sign)
    out = []
    for first, start in s.starts:
        total = [0] * len(FLOW_COLS)
        for slot in range(first, first + s.width):
            if slot in per_slot:
                f.add_into(total, per_slot[slot], 1)
        out.append({"start": start.isoformat(), **dict(zip(FLOW_COLS, total, strict=True))})
    return out


def hotspots(
    session: Session,
    target: Target,
    category_id: int,
    cell_m: int,
    codes: dict[int, str],
) -> list[dict[str, Any]]:
    res = b.resolution_for(cell_m)
    assert res is not None
    ids = sorted({*target.plus, *target.minus})
    cats = None if category_id == ALL else [category_id]
    cells: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for office, cat, gx, gy, n in queries.hotspot_cells(session, ids, cats, res, cell_m // res):
        cells[(gx, gy)][cat] += n if office in target.plus else -n
    features = []
    for (gx, gy), per_cat in sorted(cells.items()):
        by_category = {codes.get(c, str(c)): n for c, n in sorted(per_cat.items()) if n}
        count = sum(by_category.values())
        if count <= 0:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": b.cell_polygon(gx, gy, cell_m)},
                "properties": {"count": count, "by_category": by_category},
            }
        )
    return features
