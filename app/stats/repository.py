"""Writes to the rollup tables: signed upserts, version bumps, bulk loads, pruning.

Some statements are built as text (see :func:`_upsert_sql`); every identifier in
them comes from the table definitions in :mod:`app.stats.models`, never from input.

Reads live in :mod:`app.stats.queries`.

Rows are upserted in key order, table by table in a fixed order, so two
transactions touching the same rows (a district's and the city's) lock them
in the same order and cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.grids.models import Office
from app.stats.contrib import FLOW_KINDS, Deltas, path_ids
from app.stats.models import (
    ROLLUPS,
    stats_backlog,
    stats_cohort,
    stats_due,
    stats_flow,
    stats_hotspot,
    stats_version,
)
from app.tickets.models import TicketEvent

_KEYS: dict[str, tuple[str, ...]] = {
    "stats_cohort": ("office_id", "category_id", "grain", "slot"),
    "stats_backlog": ("office_id", "category_id", "grain", "slot"),
    "stats_due": ("office_id", "category_id", "due_hour", "created_hour"),
    "stats_hotspot": ("office_id", "cell_m", "category_id", "cx", "cy"),
    "stats_flow": ("office_id", "category_id", "grain", "slot"),
}
_CHUNK = 500
_TABLES = (stats_cohort, stats_backlog, stats_due, stats_hotspot, stats_flow, stats_version)
_VALUE_COLS: dict[str, tuple[str, ...]] = {
    t.name: tuple(c.name for c in t.columns if c.name not in _KEYS.get(t.name, ("office_id",)))
    for t in _TABLES
}
Row = tuple[tuple[Any, ...], dict[str, int]]  # key values, changed counters


@lru_cache(maxsize=512)
def _upsert_sql(dialect: str, table: str, cols: tuple[str, ...], nrows: int) -> str:
    """``INSERT … VALUES (…) × nrows ON CONFLICT (key) DO UPDATE SET c = c + excluded.c``
    (SQLite; PostgreSQL uses :func:`_upsert_unnest_sql`).

    Built by hand and cached: SQLAlchemy would compile a statement of this size
    (hundreds of parameters) anew for every change, which costs more than running it.
    """
    keys = _KEYS.get(table, ("office_id",))
    ph = "%s" if dialect == "postgresql" else "?"
    row = "(" + ", ".join([ph] * (len(keys) + len(cols))) + ")"
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in cols)
    return (
        f"INSERT INTO {table} ({', '.join((*keys, *cols))}) VALUES {', '.join([row] * nrows)} "  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


@lru_cache(maxsize=512)
def _upsert_unnest_sql(table: str, cols: tuple[str, ...]) -> str:
    """PostgreSQL: the same upsert with one array parameter a column, the rows
    unnested in key order. Its text and parameter count depend on the table and
    the counters changed, not on the number of rows: short enough for psycopg to
    cache its parsing, and the same text each time, so the server prepares it."""
    keys = _KEYS.get(table, ("office_id",))
    names = (*keys, *cols)
    arrays = ", ".join(f"%s::{'text' if k == 'grain' else 'int'}[]" for k in names)
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in cols)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"AS r({', '.join(names)}) ORDER BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


Statement = tuple[str, list[Any]]


def _array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal of ints and strings: built here in a few
    microseconds, where the driver's list adaptation inspects every element
    (several times slower)."""
    if set(map(type, values)) <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    parts = []
    for v in values:
        if isinstance(v, str):
            parts.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(v, int) and not isinstance(v, bool):
            parts.append(str(v))
        else:
            raise TypeError(f"not a rollup key or counter: {v!r}")
    return "{" + ",".join(parts) + "}"


@lru_cache(maxsize=16)
def _upsert_cells_sql(table: str) -> str:
    """PostgreSQL, for tables of many counters: the upsert with one array
    parameter a key column plus (counter number, value), one element a changed
    counter of a row, pivoted back to rows by ``GROUP BY``. A batch of changes
    touches many counters but each row only a few: sending only those keeps
    the arrays as long as the changes, not rows × counters. One statement in
    key order, whatever counters change, so its text never varies."""
    keys = _KEYS[table]
    cols = _VALUE_COLS[table]
    arrays = ", ".join(f"%s::{'text' if k == 'grain' else 'int'}[]" for k in keys)
    sums = ", ".join(f"COALESCE(SUM(r.v) FILTER (WHERE r.c = {i}), 0)" for i in range(len(cols)))
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in cols)
    key_list = ", ".join(keys)
    return (
        f"INSERT INTO {table} ({key_list}, {', '.join(cols)}) "  # noqa: S608
        f"SELECT {', '.join(f'r.{k}' for k in keys)}, {sums} "
        f"FROM unnest({arrays}, %s::int[], %s::int[]) AS r({key_list}, c, v) "
        f"GROUP BY {key_list} ORDER BY {key_list} "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {sets}"
    )


def _upserts(dialect: str, table: Table, rows: list[Row]) -> list[Statement]:
    """Statements adding each row's counters to the stored row (created at zero if missing).

    Rows go in key order: concurrent writers lock the rows they share (a
    district's, the city's) in the same order, so they queue instead of deadlocking.
    """
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: r[0])
    if dialect == "postgresql" and len(_VALUE_COLS[table.name]) > 1:
        index = {c: i for i, c in enumerate(_VALUE_COLS[table.name])}
        cells = [(key, index[c], n) for key, values in rows for c, n in values.items()]
        columns = [list(k) for k in zip(*(key for key, _, _ in cells), strict=True)]
        columns += [[c for _, c, _ in cells], [n for _, _, n in cells]]
        return [(_upsert_cells_sql(table.name), [_array_literal(c) for c in columns])]
    used = {c for _, values in rows for c in values}
    cols = tuple(c for c in _VALUE_COLS[table.name] if c in used)
    if dialect == "postgresql":
        columns = [list(k) for k in zip(*(key for key, _ in rows), strict=True)]
        columns += [[values.get(c, 0) for _, values in rows] for c in cols]
        return [(_upsert_unnest_sql(table.name, cols), [_array_literal(c) for c in columns])]
    out = []
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        params: list[Any] = []
        for key, values in chunk:
            params.extend(key)
            params.extend(values.get(c, 0) for c in cols)
        out.append((_upsert_sql(dialect, table.name, cols, len(chunk)), params))
    return out


def _upsert_add(session: Session, table: Table, rows: list[Row]) -> None:
    conn = session.connection()
    for sql, params in _upserts(conn.dialect.name, table, rows):
        conn.exec_driver_sql(sql, tuple(params))


def _rows(deltas: Deltas) -> dict[Table, list[Row]]:
    return {
        stats_cohort: list(deltas.cohort.items()),
        stats_backlog: [(k, {"n": n}) for k, n in deltas.backlog.items()],
        stats_due: [(k, {"n": n}) for k, n in deltas.due.items()],
        stats_hotspot: [(k, {"n": n}) for k, n in deltas.hotspot.items()],
        stats_flow: list(deltas.flow.items()),
    }


def apply(session: Session, deltas: Deltas, bump: Iterable[int]) -> None:
    """Add ``deltas`` (already free of zeros) to the rollups and bump office versions, now.

    On PostgreSQL every upsert travels in a single statement (data-modifying
    ``WITH`` parts): one round trip. Ticket changes made in a request do not
    call this but leave their deltas pending (:mod:`app.stats.pending`), and a
    fold calls it once for a whole batch of them.
    """
    conn = session.connection()
    dialect = conn.dialect.name
    statements: list[Statement] = []
    for table, rows in _rows(deltas).items():
        statements += _upserts(dialect, table, rows)
    versions: list[Row] = [((o,), {"version": 1}) for o in sorted(set(bump))]
    statements += _upserts(dialect, stats_version, versions)
    if dialect != "postgresql":
        for sql, params in statements:
            conn.exec_driver_sql(sql, tuple(params))
        return
    if len(statements) > 1:
        parts = ", ".join(f"u{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
        statements = [(f"WITH {parts} SELECT 1", [p for _, ps in statements for p in ps])]
    sql, params = statements[0]
    conn.exec_driver_sql(sql, tuple(params))


def bump_versions(session: Session, office_ids: Sequence[int]) -> None:
    _upsert_add(session, stats_version, [((o,), {"version": 1}) for o in office_ids])


def office_paths(session: Session, office_ids: Iterable[int]) -> dict[int, list[int]]:
    """Ancestors-and-self of each office, root first.

    Offices the request already loaded (the access check does) come from the
    session's identity map, costing no query.
    """
    out: dict[int, list[int]] = {}
    missing = []
    for oid in sorted(set(office_ids)):
        office = session.identity_map.get(identity_key(Office, oid))
        if isinstance(office, Office) and "path" in office.__dict__:
            out[oid] = path_ids(office.path)
        else:
            missing.append(oid)
    if missing:
        rows = session.execute(select(Office.id, Office.path).where(Office.id.in_(missing)))
        out.update({oid: path_ids(path) for oid, path in rows})
    return out


def all_office_paths(session: Session) -> dict[int, list[int]]:
    return {oid: path_ids(path) for oid, path in session.execute(select(Office.id, Office.path))}


def flow_events(session: Session, ticket_id: int, except_id: int | None) -> list[tuple[str, Any]]:
    """(kind, created_at) of a ticket's events that time series count."""
    stmt = select(TicketEvent.kind, TicketEvent.created_at).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(sorted(FLOW_KINDS))
    )
    if except_id is not None:
        stmt = stmt.where(TicketEvent.id != except_id)
    return [(k, at) for k, at in session.execute(stmt)]


# --- rebuild and housekeeping ------------------------------------------------------------


def clear(session: Session) -> None:
    for table in ROLLUPS:
        session.execute(delete(table))


def load_fanned_out(session: Session, own: Deltas, paths: dict[int, list[int]]) -> None:
    """Fill empty rollups from rows keyed by each ticket's own office and category.

    The fan-out to ancestors and to "all categories" is three ``INSERT … SELECT
    … GROUP BY`` a table, which the database does far faster than Python.
    """
    conn = session.connection()
    conn.exec_driver_sql(
        "CREATE TEMP TABLE tmp_stats_anc (office_id INTEGER NOT NULL, ancestor_id INTEGER NOT NULL)"
    )
    _bulk(
        session,
        "tmp_stats_anc",
        ("office_id", "ancestor_id"),
        [(o, a) for o, path in paths.items() for a in path],
    )
    for table, rows in _rows(own).items():
        name, keys, cols = table.name, _KEYS[table.name], _VALUE_COLS[table.name]
        tmp = f"tmp_{name}"
        conn.exec_driver_sql(f"CREATE TEMP TABLE {tmp} AS SELECT * FROM {name} WHERE 1 = 0")  # noqa: S608
        _bulk(session, tmp, (*keys, *cols), [(*k, *(v.get(c, 0) for c in cols)) for k, v in rows])
        names = ", ".join((*keys, *cols))
        picked = ", ".join("a.ancestor_id" if k == "office_id" else f"x.{k}" for k in keys)
        sums = ", ".join(f"SUM(x.{c})" for c in cols)
        conn.exec_driver_sql(
            f"INSERT INTO {name} ({names}) SELECT {picked}, {sums} FROM {tmp} x "  # noqa: S608
            f"JOIN tmp_stats_anc a ON a.office_id = x.office_id GROUP BY {picked}"
        )
        if table is not stats_hotspot:
            rest = [k for k in keys if k != "category_id"]
            picked = ", ".join("0" if k == "category_id" else k for k in keys)
            sums = ", ".join(f"SUM({c})" for c in cols)
            conn.exec_driver_sql(
                f"INSERT INTO {name} ({names}) SELECT {picked}, {sums} FROM {name} "  # noqa: S608
                f"WHERE category_id <> 0 GROUP BY {', '.join(rest)}"
            )
        conn.exec_driver_sql(f"DROP TABLE {tmp}")
    conn.exec_driver_sql("DROP TABLE tmp_stats_anc")


def _bulk(session: Session, table: str, cols: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Append rows fast: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        return
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608
    conn.exec_driver_sql(sql, rows)


def bump_all(session: Session, office_ids: Iterable[int]) -> None:
    """A new version for every office: ETags issued before a rebuild stop matching."""
    bump_versions(session, sorted(set(office_ids)))


def prune(session: Session, *, cohort_day_before: int, flow_day_before: int) -> dict[str, int]:
    """Delete rows no read can use any more; returns rows deleted per table.

    Day rows older than their window are never read (such ranges are served
    from month rows); rows of the open-set tables whose count fell to zero add
    nothing.
    """
    out: dict[str, int] = {}
    c, f = stats_cohort.c, stats_flow.c
    out["stats_cohort"] = _count(
        session, delete(stats_cohort).where(and_(c.grain == "D", c.slot < cohort_day_before))
    )
    out["stats_flow"] = _count(
        session, delete(stats_flow).where(and_(f.grain == "D", f.slot < flow_day_before))
    )
    out["stats_backlog"] = _count(session, delete(stats_backlog).where(stats_backlog.c.n == 0))
    out["stats_due"] = _count(session, delete(stats_due).where(stats_due.c.n == 0))
    out["stats_hotspot"] = _count(session, delete(stats_hotspot).where(stats_hotspot.c.n == 0))
    return out


def _count(session: Session, stmt: Any) -> int:
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return int(result.rowcount or 0)


def table_rows(session: Session, table: Table) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Every non-zero row of a rollup as {key: values} (tests and consistency checks)."""
    keys = _KEYS[table.name]
    values = [c.name for c in table.columns if c.name not in keys]
    out: dict[tuple[Any, ...], tuple[int, ...]] = {}
    for row in session.execute(select(*(table.c[k] for k in keys), *(table.c[v] for v in values))):
        vals = tuple(int(x) for x in row[len(keys) :])
        if any(vals):
            out[tuple(row[: len(keys)])] = vals
    return out


def row_counts(session: Session) -> dict[str, int]:
    return {t.name: int(session.scalar(select(func.count()).select_from(t)) or 0) for t in ROLLUPS}


def version_sum(session: Session, office_ids: Sequence[int]) -> int:
    stmt = select(func.coalesce(func.sum(stats_version.c.version), 0)).where(
        stats_version.c.office_id.in_(list(office_ids))
    )
    return int(session.scalar(stmt) or 0)
