"""Recompute every rollup from the tickets and their events, and prune old rows.

``rebuild`` is the reference the incremental listener is tested against, and
the repair tool after anything that bypassed the hooks (bulk loads, a change
of the office tree or of ``GRIDFIX_LOCAL_TIMEZONE``). It runs in the caller's
transaction: readers see the old rollups until it commits. On PostgreSQL it
first drops the pending changes (the tickets it reads already hold them) and
keeps folds out until it commits; changes committed while it reads stay pending
for after. One committed in the instant between that drop and the ticket read
would count twice, and one whose events it reads but not its ticket would
count its events twice: rebuild a quiet system, or rebuild again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.stats import buckets as b
from app.stats import pending, repository
from app.stats.contrib import FLOW_KINDS, Deltas
from app.tickets.models import Ticket, TicketEvent

_TICKET_COLUMNS = (
    Ticket.office_id,
    Ticket.category_id,
    Ticket.status,
    Ticket.resolution,
    Ticket.resolved_on_time,
    Ticket.reopen_count,
    Ticket.lat,
    Ticket.lon,
    Ticket.created_at,
    Ticket.due_at,
    Ticket.first_response_at,
    Ticket.resolved_at,
)
_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class Windows:
    """How far back day rows are kept (and read), in local days."""

    cohort_days: int
    flow_days: int

    def cohort_first_day(self, now: datetime) -> int:
        return b.day_slot(now, b.stats_timezone()) - (self.cohort_days - 1)

    def flow_first_day(self, now: datetime) -> int:
        return b.day_slot(now, b.stats_timezone()) - (self.flow_days - 1)


@dataclass(slots=True)
class RebuildReport:
    tickets: int = 0
    events: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


Progress = Callable[[str, int], None]


def rebuild(
    session: Session,
    windows: Windows | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Replace every rollup row with one recomputed from the tickets (flushes)."""
    started = time.perf_counter()
    now = now or utcnow()
    pending.take_all(session)
    report = RebuildReport()
    deltas = Deltas(b.stats_timezone())
    if windows is not None:
        # A day of margin: the window's first day moves at local midnight.
        deltas.min_cohort_day = windows.cohort_first_day(now) - 1
        deltas.min_flow_day = windows.flow_first_day(now) - 1
    paths = repository.all_office_paths(session)

    stmt = select(*_TICKET_COLUMNS).execution_options(yield_per=_BATCH)
    for row in session.execute(stmt):
        deltas.add_ticket(row, 1, (row.office_id,), own_only=True)
        report.tickets += 1
        if progress and report.tickets % _BATCH == 0:
            progress("tickets", _BATCH)
    events = (
        select(TicketEvent.kind, TicketEvent.created_at, Ticket.office_id, Ticket.category_id)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.kind.in_(sorted(FLOW_KINDS)))
        .execution_options(yield_per=_BATCH)
    )
    for kind, at, office_id, category_id in session.execute(events):
        deltas.add_flow(kind, at, category_id, 1, (office_id,), own_only=True)
        report.events += 1
        if progress and report.events % _BATCH == 0:
            progress("events", _BATCH)

    deltas = deltas.nonzero()
    session.flush()
    repository.clear(session)
    repository.load_fanned_out(session, deltas, paths)
    repository.bump_all(session, paths)
    report.rows = repository.row_counts(session)
    report.seconds = time.perf_counter() - started
    return report


def prune(session: Session, windows: Windows, *, now: datetime | None = None) -> dict[str, int]:
    """Delete day rows older than their window (minus a day) and zero rows (flushes)."""
    now = now or utcnow()
    return repository.prune(
        session,
        cohort_day_before=windows.cohort_first_day(now) - 1,
        flow_day_before=windows.flow_first_day(now) - 1,
    )
