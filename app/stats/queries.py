"""Every read of the statistics: sums over rollup rows, grouped by office and
category, for a handful of offices at a time.

Each query is an index range on a rollup's primary key (office, category,
slot…), so its cost follows the number of offices, categories and slots asked
for, not the number of tickets. The one ticket read (in :func:`open_set`) is an
index range on ``(status, due_at)`` spanning less than an hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.core.db import driver_error
from app.grids.models import Office
from app.stats.contrib import COHORT_COLS, FLOW_COLS, OPEN
from app.stats.models import (
    stats_hotspot,
)

SlotRange = tuple[str, int | None, int | None]  # grain, first slot, end slot (exclusive)
_OPEN = tuple(sorted(OPEN))


@dataclass(slots=True)
class OpenSet:
    slots: list[tuple[int, int, str, int, int]]
    waiting: dict[tuple[int, int], int]
    soon: list[tuple[str, int, int]]


class _Sql:
    """Builds a statement's text once per shape and keeps it, so repeated polls
    reuse the same text (PostgreSQL then runs it as a prepared statement) and
    skip SQLAlchemy's per-call construction of wide select lists."""

    def __init__(self, source: Session | Connection) -> None:
        self.conn = source.connection() if isinstance(source, Session) else source
        self.pg = self.conn.dialect.name == "postgresql"
        self.ph = "%s" if self.pg else "?"
        self.params: list[Any] = []

    def any_of(self, column: str, values: Sequence[Any]) -> str:
        if self.pg:
            self.params.append(list(values))
            return f"{column} = ANY({self.ph})"
        self.params.extend(values)
        return f"{column} IN ({', '.join([self.ph] * len(values))})"

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return self.ph

    def ranges(self, ranges: Sequence[SlotRange]) -> str:
        conds = []
        for grain, lo, hi in ranges:
            parts = [f"grain = {self.bind(grain)}"]
            if lo is not None:
                parts.append(f"slot >= {self.bind(lo)}")
            if hi is not None:
                parts.append(f"slot < {self.bind(hi)}")
            conds.append("(" + " AND ".join(parts) + ")")
        return "(" + " OR ".join(conds) + ")"

    def run(self, sql: str) -> Sequence[Any]:
        """Rows as plain tuples, from the driver's own cursor on the connection's
        transaction: SQLAlchemy would build result metadata for every call (the
        cohort read has 98 columns), which cost more than the query itself."""
        conn = self.conn
        raw: Any = conn.connection.dbapi_connection
        cur = raw.cursor()
        try:
            cur.execute(sql, tuple(self.params))
            return cast(Sequence[Any], cur.fetchall())
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(conn, exc, sql, self.params, cur) from exc
        finally:
            cur.close()


_COHORT_SUMS = ", ".join(f"SUM({c})" for c in COHORT_COLS)
_COHORT_PLAIN = ", ".join(COHORT_COLS)


def cohort_sums(
    session: Session,
    office_ids: Sequence[int],
    category_ids: Sequence[int],
    ranges: Sequence[SlotRange],
) -> dict[tuple[int, int], list[int]]:
    """Summed cohort counters (in ``COHORT_COLS`` order) per (office, category)."""
    q = _Sql(session)
    where = f"{q.any_of('office_id', office_ids)} AND {q.any_of('category_id', category_ids)}"
    if list(ranges) == [("A", None, None)]:  # one row per (office, category): no sums to plan
        sql = (
            f"SELECT office_id, category_id, {_COHORT_PLAIN} FROM stats_cohort "  # noqa: S608
            f"WHERE {where} AND grain = 'A'"
        )
    else:
        sql = (
            f"SELECT office_id, category_id, {_COHORT_SUMS} FROM stats_cohort "  # noqa: S608
            f"WHERE {where} AND {q.ranges(ranges)} GROUP BY office_id, category_id"
        )
    return {(r[0], r[1]): [int(x or 0) for x in r[2:]] for r in q.run(sql)}


def open_set(
    session: Session,
    office_ids: Sequence[int],
    category_ids: Sequence[int],
    *,
    first_hour: int,
    first_day: int,
    after_hour: int,
    created_from_hour: int | None,
    created_to_hour: int | None,
    due_from: datetime,
    due_to: datetime,
) -> OpenSet:
    """The open backlog, in one round trip:

    - ``slots``: (office, category, grain, slot, n) open tickets by creation slot,
      hours from ``first_hour``, days from ``first_day``, every month;
    - ``waiting``: per (office, category), open tickets due in an hour after
      ``after_hour`` and created in [``created_from_hour``, ``created_to_hour``);
    - ``soon``: (office path, category, created_at epoch s) of open tickets due in
      [``due_from``, ``due_to``) — a ticket range under an hour long, by the
      ``(status, due_at)`` index.
    """
    q = _Sql(session)
    offices, cats = q.any_of("office_id", office_ids), q.any_of("category_id", category_ids)
    ranges = q.ranges([("H", first_hour, None), ("D", first_day, None), ("M", None, None)])
    backlog = (
        "SELECT 0, office_id, category_id, grain, slot, n FROM stats_backlog "  # noqa: S608
        f"WHERE {offices} AND {cats} AND n <> 0 AND {ranges}"
    )
    offices, cats = q.any_of("office_id", office_ids), q.any_of("category_id", category_ids)
    due = [offices, cats, f"due_hour > {q.bind(after_hour)}"]
    if created_from_hour is not None:
        due.append(f"created_hour >= {q.bind(created_from_hour)}")
    if created_to_hour is not None:
        due.append(f"created_hour < {q.bind(created_to_hour)}")
    waiting = (
        "SELECT 1, office_id, category_id, '', 0, SUM(n) FROM stats_due "  # noqa: S608
        f"WHERE {' AND '.join(due)} GROUP BY office_id, category_id"
    )
    epoch = (
        "CAST(EXTRACT(EPOCH FROM t.created_at) AS BIGINT)"
        if q.pg
        else "CAST(strftime('%s', t.created_at) AS INTEGER)"
    )
    soon = (
        f"SELECT 2, t.office_id, t.category_id, o.path, {epoch}, 1 FROM tickets t "  # noqa: S608
        f"JOIN offices o ON o.id = t.office_id WHERE {q.any_of('t.status', _OPEN)} "
        f"AND t.due_at >= {q.bind(due_from)} AND t.due_at < {q.bind(due_to)}"
    )
    out = OpenSet([], {}, [])
    for kind, office, cat, text_, number, n in q.run(
        f"{backlog} UNION ALL {waiting} UNION ALL {soon}"
    ):
        if kind == 0:
            out.slots.append((office, cat, text_, number, int(n)))
        elif kind == 1:
            out.waiting[(office, cat)] = int(n or 0)
        else:
            out.soon.append((text_, cat, int(number)))
    return out


def flow_sums(
    session: Session,
    office_ids: Sequence[int],
    category_ids: Sequence[int],
    grain: str,
    first: int,
    end: int,
) -> dict[tuple[int, int, int], list[int]]:
    """Event counts (``FLOW_COLS`` order) per (office, category, slot) in [first, end)."""
    q = _Sql(session)
    sql = (
        f"SELECT office_id, category_id, slot, {', '.join(FLOW_COLS)} FROM stats_flow "  # noqa: S608
        f"WHERE {q.any_of('office_id', office_ids)} AND {q.any_of('category_id', category_ids)} "
        f"AND {q.ranges([(grain, first, end)])}"
    )
    return {(r[0], r[1], r[2]): [int(x) for x in r[3:]] for r in q.run(sql)}


def hotspot_cells(
    session: Session,
    office_ids: Sequence[int],
    category_ids: Sequence[int] | None,
    res: int,
    factor: int,
) -> list[tuple[int, int, int, int, int]]:
    """Open tickets per (office, category, cell x, cell y) in cells of ``res × factor``.

    Cell indexes are non-negative, so integer division is a floor on both databases.
    """
    c = stats_hotspot.c
    gx, gy = (c.cx // factor, c.cy // factor) if factor > 1 else (c.cx, c.cy)
    conds = [c.office_id.in_(list(office_ids)), c.cell_m == res, c.n != 0]
    if category_ids is not None:
        conds.append(c.category_id.in_(list(category_ids)))
    stmt = (
        select(c.office_id, c.category_id, gx, gy, func.sum(c.n))
        .where(*conds)
        .group_by(c.office_id, c.category_id, gx, gy)
    )
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in session.execute(stmt)]


HeadRow = tuple[int, str, str, str, str, int]  # office id, code, name, level, path, version


@dataclass(slots=True)
class Head:
    """What an answer's ETag rests on, from one statement: the category asked
    about, and the offices asked about with their data versions."""

    category: tuple[int, str] | None  # None: not asked, or no such code
    offices: list[HeadRow]
    pending: bool = False  # ticket changes wait to be folded into the rollups


def head(
    source: Session | Connection,
    *,
    category_code: str | None,
    office_code: str | None = None,
    office_id: int | None = None,
) -> Head:
    """The category with ``category_code``, and the office with ``office_code``
    (else with ``office_id``, else every top-level office), each office with its
    data version: one statement, so a 304 poll costs a single round trip. It
    also tells whether ticket changes are pending (:mod:`app.stats.pending`):
    the smallest pending id comes from the primary key's first entry.

    Every lookup is by a unique key or the ``parent_id`` index; the
    ``(SELECT 1)`` row keeps the answer non-empty when nothing matches.
    """
    q = _Sql(source)
    cat = f"c.code = {q.bind(category_code)}" if category_code is not None else "1 = 0"
    if office_code is not None:
        office = f"o.code = {q.bind(office_code)}"
    elif office_id is not None:
        office = f"o.id = {q.bind(office_id)}"
    else:
        office = "o.parent_id IS NULL"
    sql = (
        "SELECT c.id, c.code, o.id, o.code, o.name, o.level, o.path, "  # noqa: S608
        "COALESCE(v.version, 0), (SELECT min(id) FROM stats_pending) IS NOT NULL "
        "FROM (SELECT 1 AS one) AS x "
        f"LEFT JOIN categories c ON {cat} LEFT JOIN offices o ON {office} "
        "LEFT JOIN stats_version v ON v.office_id = o.id ORDER BY o.id"
    )
    rows = q.run(sql)
    first = rows[0]
    category = (int(first[0]), str(first[1])) if first[0] is not None else None
    offices = [(int(r[2]), r[3], r[4], r[5], r[6], int(r[7])) for r in rows if r[2] is not None]
    return Head(category, offices, bool(first[8]))


def versions(
    session: Session, office_ids: Sequence[int]
) -> tuple[int, tuple[str, str, str] | None]:
    """Sum of the data versions of ``office_ids`` (a primary-key lookup each), and
    the code, name and level of the office when there is one (for the answer's scope)."""
    q = _Sql(session)
    sql = (
        "SELECT COALESCE(SUM(v.version), 0), MIN(o.code), MIN(o.name), MIN(o.level), "  # noqa: S608
        "COUNT(*) FROM offices o LEFT JOIN stats_version v ON v.office_id = o.id "
        f"WHERE {q.any_of('o.id', office_ids)}"
    )
    version, code, name, level, n = q.run(sql)[0]
    return int(version or 0), ((code, name, level) if n == 1 else None)


# --- offices and categories --------------------------------------------------------------

OfficeRow = tuple[int, str, str, str, str, int | None]  # id, code, name, level, path, parent


def _office_cols() -> tuple[Any, ...]:
    return (Office.id, Office.code, Office.name, Office.level, Office.path, Office.parent_id)


def office_by_code(session: Session, code: str) -> OfficeRow | None:
    row = session.execute(select(*_office_cols()).where(Office.code == code)).first()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5])


_OFFICE_SQL = "SELECT id, code, name, level, path, parent_id FROM offices WHERE "


def root_offices(session: Session) -> list[OfficeRow]:
    q = _Sql(session)
    return [tuple(r) for r in q.run(_OFFICE_SQL + "parent_id IS NULL ORDER BY id")]


def child_offices(session: Session, parent_ids: Sequence[int]) -> list[OfficeRow]:
    q = _Sql(session)
    sql = _OFFICE_SQL + f"{q.any_of('parent_id', parent_ids)} ORDER BY id"
    return [tuple(r) for r in q.run(sql)]


def offices_at_level(
    session: Session, level: str, under_paths: Sequence[str] | None, limit: int
) -> list[OfficeRow]:
    """Offices of ``level`` strictly below any of ``under_paths`` (None: anywhere)."""
    stmt = select(*_office_cols()).where(Office.level == level).order_by(Office.id).limit(limit)
    if under_paths is not None:
        stmt = stmt.where(
            or_(*(Office.path.startswith(p, autoescape=True) for p in under_paths)),
            Office.path.not_in(list(under_paths)),
        )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in session.execute(stmt)]


def category_by_code(session: Session, code: str) -> tuple[int, str] | None:
    row = session.execute(select(Category.id, Category.code).where(Category.code == code)).first()
    return None if row is None else (row[0], row[1])


def categories(session: Session) -> list[tuple[int, str]]:
    rows = _Sql(session).run("SELECT id, code FROM categories ORDER BY sort_order, code")
    return [(r[0], r[1]) for r in rows]
