"""Ticket use cases used by intake; the officer workflow builds on these."""

from __future__ import annotations

from datetime import datetime, timedelta

from shapely.geometry import Point
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.categories.models import Category
from app.grids.service import Lookup
from app.reports.models import Report
from app.tickets.enums import TicketStatus
from app.tickets.models import Ticket, TicketEvent


def open_ticket(
    session: Session,
    *,
    report: Report,
    category: Category,
    routed: Lookup,
    actor: Actor,
    now: datetime,
) -> Ticket:
    """Create the ticket for a new report, routed to its office, with its first event."""
    ticket = Ticket(
        report_id=report.id,
        office_id=routed.office.id,
        category_id=category.id,
        status=TicketStatus.new,
        priority=2,
        lat=report.lat,
        lon=report.lon,
        location=Point(report.lon, report.lat),
        route_reason=routed.decision.reason.value,
        route_distance_m=round(routed.decision.distance_m, 2),
        candidate_office_ids=[o.id for o in routed.alternatives],
        needs_attention=report.needs_attention,
        due_at=now + timedelta(hours=category.sla_hours),
        reopen_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="created",
            from_status=None,
            to_status=TicketStatus.new,
            actor_id=actor.id,
            actor_role=actor.role.value,
            office_id=routed.office.id,
            reason=routed.decision.reason.value,
            data={
                "office_code": routed.office.code,
                "distance_m": round(routed.decision.distance_m, 2),
                "alternatives": [o.code for o in routed.alternatives],
            },
            created_at=now,
        )
    )
    return ticket
