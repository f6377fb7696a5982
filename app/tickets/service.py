"""Ticket use cases: open a ticket for a new report, act on it, change its category.

Every change goes through ``workflow.plan`` (the transition table) and leaves a
``TicketEvent``; the ticket's ``version`` column makes concurrent writers fail
cleanly instead of overwriting each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shapely.geometry import Point
from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.auth.actor import Actor
from app.categories.models import Category
from app.config import Settings
from app.core.errors import DomainError, InvalidInput
from app.grids import repository as grids_repo
from app.grids.models import Office
from app.grids.service import Lookup
from app.reports.models import Report
from app.tickets import hooks, repository
from app.tickets.enums import Action, ActorKind, EventKind, TicketStatus
from app.tickets.models import Ticket, TicketCandidate, TicketEvent
from app.tickets.workflow import ActionParams, TicketState, Transition, plan


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition-failed"
    title = "The ticket changed since you read it"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition-required"
    title = "If-Match is required"


class _Versioned(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...


def etag(ticket: _Versioned) -> str:
    return etag_of(ticket.id, ticket.version)


def etag_of(ticket_id: int, version: int) -> str:
    return f'"t{ticket_id}-v{version}"'


def check_if_match(ticket: Ticket, if_match: str | None) -> None:
    """Writes must name the version they saw: 428 without If-Match, 412 when stale."""
    if if_match is None:
        raise PreconditionRequired(
            "send If-Match with the ticket's ETag (from GET /v1/tickets/{id})",
            errors=[{"field": "If-Match", "in": "header", "reason": "missing"}],
        )
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and etag(ticket) not in tags:
        raise PreconditionFailed(
            f"the ticket is now version {ticket.version} ({ticket.status})",
            current_status=ticket.status,
            current_etag=etag(ticket),
        )


def owner_office(routed: Lookup, category: Category) -> Office:
    """The office that owns a report: the routed office, or its ancestor at the
    category's routing level (e.g. a district's traffic office)."""
    if category.route_level:
        for office in [routed.office, *reversed(routed.ancestors)]:
            if office.level == category.route_level:
                return office
    return routed.office


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
    owner = owner_office(routed, category)
    candidates = [o.id for o in routed.alternatives] if owner.id == routed.office.id else []
    ticket = Ticket(
        report_id=report.id,
        office_id=owner.id,
        category_id=category.id,
        status=TicketStatus.new,
        priority=2,
        lat=report.lat,
        lon=report.lon,
        location=Point(report.lon, report.lat),
        route_reason=routed.decision.reason.value,
        route_distance_m=round(routed.decision.distance_m, 2),
        candidate_office_ids=candidates,
        needs_attention=report.needs_attention,
        due_at=now + timedelta(hours=category.sla_hours),
        reopen_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    for office_id in candidates:
        session.add(TicketCandidate(ticket_id=ticket.id, office_id=office_id))
    created = TicketEvent(
        ticket_id=ticket.id,
        kind=EventKind.created.value,
        from_status=None,
        to_status=TicketStatus.new,
        actor_id=actor.id,
        actor_role=actor.role.value,
        office_id=owner.id,
        reason=routed.decision.reason.value,
        data={
            "office_code": owner.code,
            "routed_office_code": routed.office.code,
            "distance_m": round(routed.decision.distance_m, 2),
            "alternatives": [o.code for o in routed.alternatives],
        },
        created_at=now,
    )
    session.add(created)
    session.flush()
    hooks.changed(session, None, ticket, created)
    return ticket


@dataclass(slots=True)
class ActRequest:
    action: Action
    note: str | None = None
    resolution: str | None = None
    reject_reason: str | None = None
    duplicate_of: int | None = None
    target_office_code: str | None = None
    photo_ids: Sequence[str] = field(default_factory=tuple)


def windows(settings: Settings) -> dict[str, timedelta]:
    return {
        "reopen_window": timedelta(days=settings.reopen_window_days),
        "quiet_period": timedelta(hours=settings.auto_close_after_h),
    }


def act(
    session: Session,
    ticket: Ticket,
    *,
    actor: Actor | None,
    kind: ActorKind,
    req: ActRequest,
    settings: Settings,
    now: datetime,
    event_id: int | None = None,
) -> TicketEvent:
    """Apply one workflow action to a loaded ticket and write its event (flushes;
    ``event_id``: see :func:`apply`)."""
    target_id = None
    if req.target_office_code is not None:
        target = grids_repo.get_by_code(session, req.target_office_code)
        if target is None:
            raise InvalidInput(
                f"no office with code {req.target_office_code!r}",
                errors=[{"field": "target_office", "reason": "unknown office code"}],
            )
        target_id = target.id
    if req.action is Action.claim and actor is not None:
        target_id = actor.office_id
    if req.duplicate_of is not None and (
        req.duplicate_of == ticket.id or repository.get(session, req.duplicate_of) is None
    ):
        raise InvalidInput(
            f"ticket {req.duplicate_of} cannot be the original of this one",
            errors=[{"field": "duplicate_of", "reason": "no such other ticket"}],
        )
    state = TicketState.of(ticket)
    transition = plan(
        state,
        req.action,
        kind,
        ActionParams(
            note=req.note,
            resolution=req.resolution,  # type: ignore[arg-type]
            reject_reason=req.reject_reason,  # type: ignore[arg-type]
            duplicate_of=req.duplicate_of,
            target_office_id=target_id,
        ),
        now,
        **windows(settings),
    )
    return apply(
        session,
        ticket,
        transition,
        actor=actor,
        now=now,
        photo_ids=req.photo_ids,
        event_id=event_id,
    )


def apply(
    session: Session,
    ticket: Ticket,
    transition: Transition,
    *,
    actor: Actor | None,
    now: datetime,
    photo_ids: Sequence[str] = (),
    event_id: int | None = None,
) -> TicketEvent:
    """Write a planned transition: the ticket's new values and its event, then tell
    the listeners. Raises :class:`PreconditionFailed` when a concurrent change won.

    ``event_id``, reserved with the ticket's row lock (PostgreSQL): both rows go
    with the COMMIT (see :func:`repository.write_change`); the listeners must be
    deferred to it too."""
    before = hooks.TicketSnapshot.of(ticket)
    values = dict(transition.changes)
    if transition.assign_actor and actor is not None:
        values["assignee_id"] = actor.id
    if (
        transition.to_status is TicketStatus.resolved
        and transition.from_status is not TicketStatus.resolved
    ):
        values["resolved_on_time"] = now <= ticket.due_at
    if "office_id" in values:
        # Claimed or transferred: nobody else may claim it any more.
        repository.clear_candidates(session, ticket.id)
        values["candidate_office_ids"] = []
    if transition.event.kind is not EventKind.commented:
        values["updated_at"] = now
    ev = transition.event
    data: dict[str, Any] = dict(ev.data)
    if photo_ids:
        data["photo_ids"] = list(photo_ids)
    fields = {
        "kind": ev.kind.value,
        "from_status": ev.from_status.value,
        "to_status": ev.to_status.value,
        "actor_id": actor.id if actor else None,
        "actor_role": actor.role.value if actor else ActorKind.system.value,
        "office_id": ev.office_id,
        "reason": ev.reason,
        "note": ev.note,
        "data": data,
        "created_at": now,
    }
    state = inspect(ticket)
    if state.modified or not values:
        # The caller changed the ticket too (a job's own field): one unit of work.
        for name, value in values.items():
            setattr(ticket, name, value)
        event = TicketEvent(ticket_id=ticket.id, **fields)
        session.add(event)
        flush_versioned(session)
    else:
        # The common case, without the unit of work: two Core statements (one
        # round trip on PostgreSQL), then the loaded ticket is told its new values.
        session.flush()  # rows the request added first (a resolve's photos)
        if event_id is not None and not hooks.deferred(session):
            raise RuntimeError("an event written with the commit needs its listeners deferred")
        event_id = repository.write_change(
            session, ticket.id, ticket.version, values, fields, event_id=event_id
        )
        if event_id is None:
            raise _lost_race()
        for name, value in values.items():
            set_committed_value(ticket, name, value)
        set_committed_value(ticket, "version", ticket.version + 1)
        event = TicketEvent(id=event_id, ticket_id=ticket.id, **fields)
        # Into the session as the stored row it is: a caller may still change it
        # (Open311 adds its trace to the data) and the unit of work writes that.
        make_transient_to_detached(event)
        session.add(event)
    hooks.changed(session, before, ticket, event)
    return event


def flush_versioned(session: Session) -> None:
    """Flush; a concurrent writer that bumped the version first makes this a 412."""
    try:
        session.flush()
    except StaleDataError:
        raise _lost_race() from None


def _lost_race() -> PreconditionFailed:
    return PreconditionFailed("another change to this ticket landed first; reload it and try again")


def change_category(
    session: Session,
    ticket: Ticket,
    category: Category,
    *,
    actor: Actor,
    routed: Lookup,
    now: datetime,
    note: str | None,
) -> TicketEvent:
    """Recategorise a ticket: new SLA from its creation, and a new owner when the
    category routes to another level."""
    before = hooks.TicketSnapshot.of(ticket)
    old_category, old_office = ticket.category_id, ticket.office_id
    owner = owner_office(routed, category)
    ticket.category_id = category.id
    ticket.due_at = ticket.created_at + timedelta(hours=category.sla_hours)
    data: dict[str, Any] = {"from_category_id": old_category, "to_category_id": category.id}
    if owner.id != old_office:
        ticket.office_id = owner.id
        ticket.assignee_id = None
        repository.clear_candidates(session, ticket.id)
        ticket.candidate_office_ids = []
        data |= {"from_office_id": old_office, "to_office_code": owner.code}
    ticket.updated_at = now
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=EventKind.recategorised.value,
        from_status=ticket.status,
        to_status=ticket.status,
        actor_id=actor.id,
        actor_role=actor.role.value,
        office_id=ticket.office_id,
        reason="rerouted" if owner.id != old_office else None,
        note=note,
        data=data,
        created_at=now,
    )
    session.add(event)
    flush_versioned(session)
    hooks.changed(session, before, ticket, event)
    return event


def change_priority(
    session: Session,
    ticket: Ticket,
    priority: int,
    *,
    actor: Actor,
    now: datetime,
    note: str | None,
) -> TicketEvent:
    before = hooks.TicketSnapshot.of(ticket)
    old = ticket.priority
    ticket.priority = priority
    ticket.updated_at = now
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=EventKind.reprioritised.value,
        from_status=ticket.status,
        to_status=ticket.status,
        actor_id=actor.id,
        actor_role=actor.role.value,
        office_id=ticket.office_id,
        note=note,
        data={"from": old, "to": priority},
        created_at=now,
    )
    session.add(event)
    flush_versioned(session)
    hooks.changed(session, before, ticket, event)
    return event
