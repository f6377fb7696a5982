"""SQL for the Open311 adapter. Reads never touch ``open311_contacts``."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.grids.models import Office
from app.open311.models import Open311Contact, Open311Request
from app.open311.status import PUBLIC_EVENT_KINDS
from app.reports.models import Report
from app.tickets.models import Ticket, TicketEvent


# ---------------------------------------------------------------- catalogue
def catalogue_changed_at(session: Session) -> datetime | None:
    """When any category (retired ones too) last changed."""
    return session.scalar(select(func.max(Category.updated_at)))


# ---------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class RequestQuery:
    """Filters of GET requests; ``None`` means "not filtered on"."""

    ids: Collection[int] | None = None
    category_codes: Collection[str] | None = None
    ticket_statuses: Collection[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    limit: int = 1000
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RequestRow:
    report: Report
    ticket: Ticket
    category: Category
    office_name: str
    extra: Open311Request | None


def _requests_stmt() -> Select[Report, Ticket, Category, str, Open311Request]:
    # Office columns by name: the entity would load each boundary polygon.
    return (
        select(Report, Ticket, Category, Office.name, Open311Request)
        .join(Ticket, Ticket.report_id == Report.id)
        .join(Category, Category.id == Ticket.category_id)
        .join(Office, Office.id == Ticket.office_id)
        .outerjoin(Open311Request, Open311Request.report_id == Report.id)
    )


def find_requests(session: Session, q: RequestQuery) -> list[RequestRow]:
    """Requests matching ``q``, newest first. ``ids`` overrides every other filter."""
    stmt = _requests_stmt()
    if q.ids is not None:
        stmt = stmt.where(Report.id.in_(list(q.ids)))
    else:
        if q.category_codes is not None:
            stmt = stmt.where(Category.code.in_(list(q.category_codes)))
        if q.ticket_statuses is not None:
            stmt = stmt.where(Ticket.status.in_(list(q.ticket_statuses)))
        # tickets.created_at is the report's time (one transaction) and is indexed.
        if q.created_from is not None:
            stmt = stmt.where(Ticket.created_at >= q.created_from)
        if q.created_to is not None:
            stmt = stmt.where(Ticket.created_at <= q.created_to)
        if q.updated_from is not None:
            stmt = stmt.where(Ticket.updated_at >= q.updated_from)
        if q.updated_to is not None:
            stmt = stmt.where(Ticket.updated_at <= q.updated_to)
    stmt = stmt.order_by(Report.id.desc()).limit(q.limit).offset(q.offset)
    return [
        RequestRow(report, ticket, category, office_name, extra)
        for report, ticket, category, office_name, extra in session.execute(stmt)
    ]


def latest_public_events(session: Session, ticket_ids: Collection[int]) -> dict[int, TicketEvent]:
    """Per ticket, its latest status-changing event (the one ``status_notes`` explains)."""
    if not ticket_ids:
        return {}
    latest = (
        select(func.max(TicketEvent.id))
        .where(
            TicketEvent.ticket_id.in_(list(ticket_ids)),
            TicketEvent.kind.in_(PUBLIC_EVENT_KINDS),
        )
        .group_by(TicketEvent.ticket_id)
    )
    rows = session.scalars(select(TicketEvent).where(TicketEvent.id.in_(latest)))
    return {e.ticket_id: e for e in rows}


def latest_events_of_kind(
    session: Session, ticket_ids: Collection[int], kind: str
) -> dict[int, TicketEvent]:
    """Per ticket, its latest event of ``kind`` (e.g. the resolution a close verified)."""
    if not ticket_ids:
        return {}
    latest = (
        select(func.max(TicketEvent.id))
        .where(TicketEvent.ticket_id.in_(list(ticket_ids)), TicketEvent.kind == kind)
        .group_by(TicketEvent.ticket_id)
    )
    rows = session.scalars(select(TicketEvent).where(TicketEvent.id.in_(latest)))
    return {e.ticket_id: e for e in rows}


def public_events(session: Session, ticket_ids: Collection[int]) -> dict[int, list[TicketEvent]]:
    """Per ticket, its creation and status-changing events, oldest first."""
    if not ticket_ids:
        return {}
    rows = session.scalars(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_(list(ticket_ids)),
            TicketEvent.kind.in_(PUBLIC_EVENT_KINDS | {"created"}),
        )
        .order_by(TicketEvent.ticket_id, TicketEvent.id)
    )
    out: dict[int, list[TicketEvent]] = {}
    for event in rows:
        out.setdefault(event.ticket_id, []).append(event)
    return out


def find_updates(
    session: Session, start: datetime, end: datetime, *, limit: int, offset: int
) -> list[tuple[TicketEvent, int]]:
    """Status-changing events in [start, end], oldest first, with their report id."""
    stmt = (
        select(TicketEvent, Ticket.report_id)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.kind.in_(PUBLIC_EVENT_KINDS),
            TicketEvent.created_at >= start,
            TicketEvent.created_at <= end,
        )
        .order_by(TicketEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return [(event, int(report_id)) for event, report_id in session.execute(stmt)]


def ticket_of_request(session: Session, report_id: int) -> Ticket | None:
    """The ticket behind a service_request_id (a report id)."""
    return session.scalar(select(Ticket).where(Ticket.report_id == report_id))


def by_token(session: Session, token: str) -> Open311Request | None:
    return session.scalar(select(Open311Request).where(Open311Request.token == token))


def extra_for(session: Session, report_id: int) -> Open311Request | None:
    return session.get(Open311Request, report_id)


def add(session: Session, extra: Open311Request, contact: Open311Contact | None) -> None:
    session.add(extra)
    if contact is not None:
        session.add(contact)
    session.flush()
