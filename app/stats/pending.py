"""Pending rollup changes: written with each ticket change, added to the rollups in batches.

Every ticket change adds to rollup rows that it shares with every other change
in the city: the city's and the district's rows, the "all categories" rows,
the all-time cohort. Written in the change's own transaction, an accept
updated some forty wide rows (most of the database's work for it) and held
them locked until its commit, so concurrent changes queued behind each other.

On PostgreSQL a change whose listeners run at its commit (``hooks.defer``, as
every officer action and report does) now writes one row here instead: its
signed deltas as JSON, sent with the COMMIT, so it commits or rolls back with
the change. The deltas reach the rollups when

- a stats read finds pending rows: it folds them before it reads, so a read
  still sees every change committed before it began;
- each worker folds every ``GRIDFIX_STATS_FOLD_INTERVAL_S`` (default 1 s),
  and vacuums the table now and then (:class:`Folder`);
- ``gridfix stats fold`` runs.

A fold deletes the rows it adds (``DELETE … RETURNING``) in the transaction of
its upserts, so each change is added exactly once. Concurrent folds take
disjoint rows: a fold that meets rows another fold holds waits for it, then
skips them. A hundred changes folded together update each shared row once.

Folds share the fold lock; a rebuild takes it alone (it replaces the rollups
and drops what is pending), and a fold that finds it taken leaves the rows for
later: readers then see the old rollups until the rebuild commits, as they
always did.

SQLite has a single writer and no row locks to wait on: changes there write
the rollups directly, and nothing is ever pending.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.core.db import send_with_commit
from app.stats import repository
from app.stats.buckets import stats_timezone
from app.stats.contrib import Deltas
from app.tickets import hooks

log = logging.getLogger("gridfix.stats")

# pg_advisory_xact_lock key: folds share it, a rebuild takes it alone.
FOLD_LOCK = 0x67726964_66310001
BATCH = 2000  # pending changes a fold transaction takes at most
_INSERT = "INSERT INTO stats_pending (deltas) VALUES (%s)"
_TAKE = (
    "DELETE FROM stats_pending WHERE id IN "
    "(SELECT id FROM stats_pending ORDER BY id LIMIT %s FOR UPDATE) RETURNING deltas"
)
_TABLES = ("cohort", "backlog", "due", "hotspot", "flow")


def holds(session: Session) -> bool:
    """Whether this session's rollup changes go to the pending table (PostgreSQL,
    listeners run at the commit) rather than straight to the rollups."""
    return bool(session.info.get(hooks.UNTIL_COMMIT)) and (
        session.get_bind().dialect.name == "postgresql"
    )


def encode(deltas: Deltas, bump: Iterable[int]) -> str:
    """The deltas (already free of zeros) and the offices whose data version moves, as JSON."""
    doc: dict[str, Any] = {}
    for name in _TABLES:
        rows = getattr(deltas, name)
        if rows:
            doc[name] = [[*key, value] for key, value in rows.items()]
    doc["bump"] = sorted(set(bump))
    return json.dumps(doc, separators=(",", ":"))


def merge(into: Deltas, doc: dict[str, Any]) -> set[int]:
    """Add one pending change's deltas to ``into``; returns its offices to bump."""
    for name in ("cohort", "flow"):
        table: dict[Any, dict[str, int]] = getattr(into, name)
        for *key, counters in doc.get(name, ()):
            row = table.setdefault(tuple(key), {})
            for column, n in counters.items():
                row[column] = row.get(column, 0) + int(n)
    for name in ("backlog", "due", "hotspot"):
        counts: dict[Any, int] = getattr(into, name)
        for *key, n in doc.get(name, ()):
            k = tuple(key)
            counts[k] = counts.get(k, 0) + int(n)
    return {int(o) for o in doc.get("bump", ())}


def hold(session: Session, deltas: Deltas, bump: Iterable[int]) -> None:
    """Write one change's deltas as a pending row, with the session's COMMIT."""
    send_with_commit(session, _INSERT, [encode(deltas, bump)])


def fold(session: Session, *, limit: int = BATCH) -> int | None:
    """Add up to ``limit`` pending changes to the rollups, in the session's
    transaction (the caller commits). Returns how many, or None when a rebuild
    holds the fold lock (nothing was done). Waits for rows another fold holds."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return 0
    got = conn.exec_driver_sql(
        "SELECT pg_try_advisory_xact_lock_shared(%s)", (FOLD_LOCK,)
    ).scalar_one()
    if not got:
        return None
    rows = conn.exec_driver_sql(_TAKE, (limit,)).all()
    if not rows:
        return 0
    total = Deltas(stats_timezone())
    bump: set[int] = set()
    for (raw,) in rows:
        try:
            bump |= merge(total, json.loads(raw))
        except (ValueError, TypeError, AttributeError):
            # Written by this module only; one unreadable row must not stop the
            # figures for good. ``gridfix stats rebuild`` repairs what it held.
            log.error("dropped an unreadable pending statistics change: %.200s", raw)
    total = total.nonzero()
    if not total.empty or bump:
        repository.apply(session, total, bump=bump)
    return len(rows)


def fold_all(factory: sessionmaker[Session], *, limit: int = BATCH) -> int:
    """Fold every change pending when called, a transaction a batch; returns how
    many this call folded (other folds may have taken some)."""
    done = 0
    while True:
        with factory() as session:
            n = fold(session, limit=limit)
            session.commit()
        if not n:
            return done
        done += n
        if n < limit:
            return done


class Folder:
    """A process's periodic fold (``GRIDFIX_STATS_FOLD_INTERVAL_S``).

    It also vacuums the pending table after every ``vacuum_after`` rows it
    removed. The table's rows live about a second, so it is mostly dead rows;
    every fold and every stats read walks the primary key's dead entries
    from its start, and autovacuum (off, or on with its default thresholds)
    would let thousands pile up between its passes. ``SKIP_LOCKED``: a vacuum
    another process runs is enough.
    """

    def __init__(self, factory: sessionmaker[Session], *, vacuum_after: int = 2000) -> None:
        self.factory = factory
        self.vacuum_after = vacuum_after
        self.removed = 0

    def __call__(self) -> int:
        done = fold_all(self.factory)
        self.removed += done
        if self.removed >= self.vacuum_after:
            self.removed = 0
            vacuum(self.factory)
        return done


def vacuum(factory: sessionmaker[Session]) -> None:
    """``VACUUM (SKIP_LOCKED) stats_pending`` (PostgreSQL; outside any transaction)."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (SKIP_LOCKED) stats_pending")


def take_all(session: Session) -> int:
    """For a rebuild, in its transaction: wait for running folds, keep new ones
    out until it commits, and drop what is pending (the rebuild recounts it)."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return 0
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (FOLD_LOCK,))
    return conn.exec_driver_sql("DELETE FROM stats_pending").rowcount
