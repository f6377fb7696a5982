"""SQL for ticket exports: keyset batches by id over the work queue's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from app.categories.models import Category
from app.grids.models import Office
from app.reports.models import Report
from app.tickets.enums import EventKind
from app.tickets.models import Ticket, TicketEvent
from app.tickets.repository import QueueFilter
from app.tickets.repository import _filtered as queue_conditions


@dataclass(frozen=True, slots=True)
class ExportRow:
    id: int
    report_id: int
    status: str
    resolution: str | None
    category_code: str
    category_name_zh: str
    priority: int
    office_code: str
    office_name: str
    created_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime
    lat: float
    lon: float
    description: str | None


def max_ticket_id(session: Session) -> int:
    """The highest ticket id now: an export stops there, so it ends even while intake runs."""
    return int(session.scalar(select(func.coalesce(func.max(Ticket.id), 0))) or 0)


def export_batch(
    session: Session, f: QueueFilter, *, after_id: int, upto_id: int, limit: int
) -> list[ExportRow]:
    """Up to ``limit`` tickets matching ``f`` with ``after_id < id <= upto_id``, by id."""
    # Aliases, because the scope and office filters are subqueries on ``offices``:
    # joining the plain table would let SQLAlchemy correlate them with the join.
    office = aliased(Office)
    category = aliased(Category)
    # When the current owner took the ticket: its latest accept or claim (a
    # reopen keeps the owner and their acceptance time).
    accepted_at = (
        select(func.max(TicketEvent.created_at))
        .where(
            TicketEvent.ticket_id == Ticket.id,
            TicketEvent.kind.in_([EventKind.accepted.value, EventKind.claimed.value]),
        )
        .correlate(Ticket)
        .scalar_subquery()
    )
    stmt = (
        select(
            Ticket.id,
            Ticket.report_id,
            Ticket.status,
            Ticket.resolution,
            category.code,
            category.name_zh,
            Ticket.priority,
            office.code,
            office.name,
            Ticket.created_at,
            accepted_at.label("accepted_at"),
            Ticket.resolved_at,
            Ticket.closed_at,
            Ticket.due_at,
            Ticket.lat,
            Ticket.lon,
            Report.description,
        )
        .join(office, office.id == Ticket.office_id)
        .join(category, category.id == Ticket.category_id)
        .join(Report, Report.id == Ticket.report_id)
        .where(Ticket.id > after_id, Ticket.id <= upto_id)
    )
    # The queue's own WHERE clause (scope and filters), so that an export and the
    # queue never disagree about which tickets a caller sees; it is typed for
    # one-entity selects, hence the cast.
    stmt = queue_conditions(cast("Select[Any]", stmt), f, session)
    return [ExportRow(*row) for row in session.execute(stmt.order_by(Ticket.id).limit(limit))]
