"""Scheduled ticket work, idempotent and safe to run from several processes:

* auto-close resolved tickets nobody objected to within the quiet period;
* escalate unclaimed border tickets to the common parent office;
* flag overdue open tickets once (an ``escalate`` event) so supervisors see them.

Run by each API process every ``GRIDFIX_JOBS_INTERVAL_S`` and by ``gridfix tick``.
Each ticket is changed in its own short transaction, so one failure skips one ticket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.db import mark_writer
from app.core.errors import DomainError
from app.grids.models import Office
from app.tickets import hooks, repository, service
from app.tickets.enums import Action, ActorKind, EventKind, TicketStatus
from app.tickets.models import Ticket, TicketCandidate, TicketEvent
from app.tickets.workflow import ActionParams, TicketState, plan

log = logging.getLogger("gridfix.tickets.jobs")


@dataclass(slots=True)
class TickReport:
    auto_closed: int = 0
    claims_escalated: int = 0
    overdue_flagged: int = 0


def _ids(factory: sessionmaker[Session], stmt: object) -> list[int]:
    with factory() as s:
        return list(s.scalars(stmt))  # type: ignore[call-overload]


def run(
    factory: sessionmaker[Session], settings: Settings, now: datetime, batch: int = 200
) -> TickReport:
    report = TickReport()
    quiet = timedelta(hours=settings.auto_close_after_h)
    for tid in _ids(
        factory,
        select(Ticket.id)
        .where(Ticket.status == TicketStatus.resolved, Ticket.resolved_at <= now - quiet)
        .limit(batch),
    ):
        report.auto_closed += _one(factory, tid, lambda s, t: _auto_close(s, t, settings, now))
    claim_after = timedelta(hours=settings.claim_escalation_h)
    for tid in _ids(
        factory,
        select(Ticket.id)
        .join(TicketCandidate, TicketCandidate.ticket_id == Ticket.id)
        .where(Ticket.status == TicketStatus.new, Ticket.created_at <= now - claim_after)
        .distinct()
        .limit(batch),
    ):
        report.claims_escalated += _one(factory, tid, lambda s, t: _escalate_claim(s, t, now))
    for tid in _ids(
        factory,
        select(Ticket.id)
        .where(
            Ticket.status.in_([TicketStatus.new, TicketStatus.accepted, TicketStatus.in_progress]),
            Ticket.due_at < now,
            Ticket.escalated_at.is_(None),
        )
        .limit(batch),
    ):
        report.overdue_flagged += _one(factory, tid, lambda s, t: _flag_overdue(s, t, now))
    return report


def _one(factory: sessionmaker[Session], ticket_id: int, fn: object) -> int:
    with factory() as s:
        mark_writer(s)
        try:
            ticket = repository.get_for_update(s, ticket_id)
            if ticket is None:
                return 0
            done = bool(fn(s, ticket))  # type: ignore[operator]
            s.commit()
            return int(done)
        except DomainError as exc:  # the ticket moved on meanwhile: nothing to do
            s.rollback()
            log.info("tick skipped ticket %s: %s", ticket_id, exc.detail)
            return 0


def _auto_close(s: Session, t: Ticket, settings: Settings, now: datetime) -> bool:
    transition = plan(
        TicketState.of(t),
        Action.close,
        ActorKind.system,
        ActionParams(note="closed automatically: no objection within the quiet period"),
        now,
        **service.windows(settings),
    )
    service.apply(s, t, transition, actor=None, now=now)
    return True


def _escalate_claim(s: Session, t: Ticket, now: datetime) -> bool:
    """Move an unclaimed border ticket to the lowest office above all its candidates."""
    if t.status != TicketStatus.new:
        return False
    ids = [t.office_id, *repository.candidate_ids(s, t.id)]
    offices = list(s.scalars(select(Office).where(Office.id.in_(ids))))
    paths = [[int(x) for x in o.path.strip("/").split("/")] for o in offices]
    common = []
    for level in zip(*paths, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    if not common:
        return False
    parent_id = common[-1]
    before = hooks.TicketSnapshot.of(t)
    old = t.office_id
    t.office_id = parent_id
    t.candidate_office_ids = []
    t.escalated_at = now
    t.updated_at = now
    repository.clear_candidates(s, t.id)
    event = TicketEvent(
        ticket_id=t.id,
        kind=EventKind.escalated.value,
        from_status=t.status,
        to_status=t.status,
        actor_id=None,
        actor_role=ActorKind.system.value,
        office_id=parent_id,
        reason="unclaimed",
        note="nobody claimed this border ticket in time",
        data={"from_office_id": old},
        created_at=now,
    )
    s.add(event)
    service.flush_versioned(s)
    hooks.changed(s, before, t, event)
    return True


def _flag_overdue(s: Session, t: Ticket, now: datetime) -> bool:
    transition = plan(
        TicketState.of(t),
        Action.escalate,
        ActorKind.system,
        ActionParams(note="past its due time"),
        now,
        reopen_window=timedelta(days=1),
    )
    t.escalated_at = now
    service.apply(s, t, transition, actor=None, now=now)
    return True
