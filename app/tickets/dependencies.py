from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path

from app.auth.actor import Actor
from app.auth.dependencies import CurrentPrincipal
from app.auth.enums import Role
from app.auth.scope import scope_filter
from app.core.db import DbSession
from app.core.errors import NotFound
from app.grids.models import Office
from app.reports.models import Report
from app.tickets import repository
from app.tickets.enums import ActorKind
from app.tickets.models import Ticket
from app.tickets.workflow import actor_kind_for


@dataclass(frozen=True, slots=True)
class TicketAccess:
    ticket: Ticket
    actor: Actor
    kind: ActorKind | None  # capacity the caller acts in; None: read only
    staff: bool  # sees staff detail (names, originals)
    candidate: bool  # may only claim (officer of a candidate office)


def access_for(session: DbSession, actor: Actor, ticket: Ticket) -> TicketAccess | None:
    """How ``actor`` may see ``ticket``, or None when it is out of their scope."""
    if actor.role in (Role.officer, Role.supervisor, Role.admin):
        office = session.get(Office, ticket.office_id)
        if office is not None and scope_filter(actor).allows(office.id, office.path):
            return TicketAccess(
                ticket, actor, actor_kind_for(actor.role, is_reporter=False), True, False
            )
        if actor.office_id is not None and repository.is_candidate(
            session, ticket.id, actor.office_id
        ):
            return TicketAccess(
                ticket, actor, actor_kind_for(actor.role, is_reporter=False), True, True
            )
        return None
    if actor.role is Role.rider:
        report = session.get(Report, ticket.report_id)
        if report is not None and report.reporter_id == actor.id:
            return TicketAccess(ticket, actor, ActorKind.reporter, False, False)
    return None


def _ticket_in_scope(
    session: DbSession,
    actor: CurrentPrincipal,
    ticket_id: Annotated[int, Path(ge=1, le=2**62, description="Ticket id")],
) -> TicketAccess:
    ticket = repository.get(session, ticket_id)
    access = access_for(session, actor, ticket) if ticket is not None else None
    if access is None:
        # Out of scope is indistinguishable from absent.
        raise NotFound(f"no ticket {ticket_id}")
    return access


TicketInScope = Annotated[TicketAccess, Depends(_ticket_in_scope)]
