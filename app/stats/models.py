"""Rollup tables for dashboard statistics, maintained by the ticket hooks listener.

Plain ``Table`` objects rather than mapped classes: rows are only ever summed
and upserted in bulk, never loaded as objects, and ``stats_cohort`` has 96
counter columns generated from the bucket list.

Their size grows with offices × categories × time slots (and, for the open-set
tables, with the open backlog), never with the number of closed tickets. No
foreign keys: ``category_id`` 0 means "all categories", and offices are
never deleted (they are deactivated).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, String, Table, Text

from app.core.db import Base
from app.stats.contrib import COHORT_COLS, FLOW_COLS


def _int(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False)


def _counter(name: str) -> Column[int]:
    # Upserts name only the counters they change; the others start at 0.
    return Column(name, Integer, nullable=False, server_default="0")


# Tickets by creation slot (grain A: all time, M: local month, D: local day).
stats_cohort = Table(
    "stats_cohort",
    Base.metadata,
    _int("office_id"),
    _int("category_id"),
    Column("grain", String(1), nullable=False),
    _int("slot"),
    *(_counter(c) for c in COHORT_COLS),
    PrimaryKeyConstraint("office_id", "category_id", "grain", "slot"),
)

# Open tickets by creation slot (H: UTC hour, D: local day, M: local month): backlog ages.
stats_backlog = Table(
    "stats_backlog",
    Base.metadata,
    _int("office_id"),
    _int("category_id"),
    Column("grain", String(1), nullable=False),
    _int("slot"),
    _counter("n"),
    PrimaryKeyConstraint("office_id", "category_id", "grain", "slot"),
)

# Open tickets by due hour and creation hour: "not yet due" is a short index range.
stats_due = Table(
    "stats_due",
    Base.metadata,
    _int("office_id"),
    _int("category_id"),
    _int("due_hour"),
    _int("created_hour"),
    _counter("n"),
    PrimaryKeyConstraint("office_id", "category_id", "due_hour", "created_hour"),
)

# Open tickets by Web Mercator cell, at a few stored cell sizes.
stats_hotspot = Table(
    "stats_hotspot",
    Base.metadata,
    _int("office_id"),
    _int("cell_m"),
    _int("category_id"),
    _int("cx"),
    _int("cy"),
    _counter("n"),
    PrimaryKeyConstraint("office_id", "cell_m", "category_id", "cx", "cy"),
)

# Events by event time (M: local month, D: local day), for time series.
stats_flow = Table(
    "stats_flow",
    Base.metadata,
    _int("office_id"),
    _int("category_id"),
    Column("grain", String(1), nullable=False),
    _int("slot"),
    *(_counter(c) for c in FLOW_COLS),
    PrimaryKeyConstraint("office_id", "category_id", "grain", "slot"),
)

# A counter per office, bumped with every change in its subtree: the ETag's data version.
stats_version = Table(
    "stats_version",
    Base.metadata,
    Column("office_id", Integer, nullable=False, autoincrement=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("office_id"),
)

# Changes to the rollups not yet added to them (PostgreSQL): one row per ticket
# change, its signed deltas as JSON, written with the change's COMMIT. Folded
# into the rollups in batches by every worker and before every stats read (see
# :mod:`app.stats.pending`), so a row every change in a city shares is written
# once a batch, not once a change.
stats_pending = Table(
    "stats_pending",
    Base.metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("deltas", Text, nullable=False),
)

ROLLUPS = (stats_cohort, stats_backlog, stats_due, stats_hotspot, stats_flow)
