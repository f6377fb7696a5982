"""Seeded random ticket histories, driven through the real services and jobs.

Tickets are opened with ``service.open_ticket`` at past times and walked
through random valid workflow paths with ``service.act`` (accept, claim, start,
resolve, reject, transfer, reopen, close, comment), ``service.change_category``
and ``jobs.run``, each at a later time, never after now. Every change goes
through the hooks, so the rollups are maintained exactly as in production.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.enums import Role
from app.auth.models import Principal
from app.categories.models import Category
from app.core.db import utcnow
from app.core.errors import DomainError
from app.grids.models import Office
from app.grids.service import GridRouter
from app.reports.models import Report
from app.tickets import hooks, jobs, service
from app.tickets.enums import Action, ActorKind, TicketStatus
from app.tickets.models import Ticket


def actor_of(s: Session, name: str) -> Actor:
    p = s.scalar(select(Principal).where(Principal.name == name))
    assert p is not None
    office = s.get(Office, p.office_id) if p.office_id else None
    return Actor(
        id=p.id,
        name=p.name,
        role=Role(p.role),
        office_id=p.office_id,
        office_code=office.code if office else None,
        office_path=office.path if office else None,
    )


@dataclass
class Walk:
    rng: random.Random
    s: Session
    settings: Any
    now: datetime
    admin: Actor
    rider: Actor
    router: GridRouter
    office_codes: list[str]
    categories: list[Category]
    ids: list[int] = field(default_factory=list)

    def later(self, t: datetime) -> datetime | None:
        step = timedelta(minutes=self.rng.choice([1, 5, 30, 90, 240, 700, 1500, 3000, 6000]))
        step += timedelta(seconds=self.rng.randint(0, 3599))
        nt = t + step
        return nt if nt < self.now - timedelta(minutes=2) else None

    def open(self, t0: datetime) -> Ticket:
        lat = self.rng.uniform(22.5004, 22.5196)
        lon = self.rng.uniform(113.0004, 113.0396)
        if self.rng.random() < 0.1:
            lon = 113.01005  # on the ga/gb border: a claimable ticket
        cat = self.rng.choice(self.categories)
        report = Report(
            reporter_id=self.rider.id,
            category_id=cat.id,
            lat=lat,
            lon=lon,
            location_source="given",
            needs_attention=False,
            source="app",
            created_at=t0,
        )
        self.s.add(report)
        self.s.flush()
        routed = self.router.route(self.s, lat, lon)
        ticket = service.open_ticket(
            self.s, report=report, category=cat, routed=routed, actor=self.rider, now=t0
        )
        self.ids.append(ticket.id)
        return ticket

    def act(self, t: Ticket, at: datetime) -> None:
        """One random action that may or may not be valid now (invalid ones are skipped)."""
        r = self.rng.random()
        status = TicketStatus(t.status)
        req: service.ActRequest
        kind, who = ActorKind.admin, self.admin
        if r < 0.08:
            cat = self.rng.choice(self.categories)
            if cat.id != t.category_id:
                routed = self.router.route(self.s, t.lat, t.lon)
                service.change_category(
                    self.s, t, cat, actor=self.admin, routed=routed, now=at, note="recat"
                )
            return
        if r < 0.12:
            req = service.ActRequest(Action.comment, note="hello")
        elif status is TicketStatus.new:
            choice = self.rng.choice(["accept", "accept", "transfer", "reject", "claim"])
            if choice == "claim" and t.candidate_office_ids:
                office = self.s.get(Office, t.candidate_office_ids[0])
                assert office is not None
                who = Actor(self.admin.id, "x", Role.officer, office.id, office.code, office.path)
                kind = ActorKind.officer
                req = service.ActRequest(Action.claim)
            elif choice == "transfer":
                req = self._transfer()
            elif choice == "reject":
                req = self._reject(t)
            else:
                req = service.ActRequest(Action.accept)
        elif status in (TicketStatus.accepted, TicketStatus.in_progress):
            choice = self.rng.choice(["start", "resolve", "resolve", "reject", "transfer"])
            if choice == "start" and status is TicketStatus.accepted:
                req = service.ActRequest(Action.start)
            elif choice == "transfer":
                req = self._transfer()
            elif choice == "reject":
                req = self._reject(t)
            else:
                res = self.rng.choice(["fixed", "fixed", "self_resolved", "unable_to_fix"])
                req = service.ActRequest(Action.resolve, resolution=res, note="done")
        elif status in (TicketStatus.resolved, TicketStatus.closed):
            if status is TicketStatus.resolved and self.rng.random() < 0.6:
                if self.rng.random() < 0.5:
                    kind, who = ActorKind.reporter, self.rider
                req = service.ActRequest(Action.close)
            else:
                req = service.ActRequest(Action.reopen, note="still broken")
        else:
            return
        try:
            with self.s.begin_nested():
                service.act(
                    self.s, t, actor=who, kind=kind, req=req, settings=self.settings, now=at
                )
        except DomainError:
            pass

    def _transfer(self) -> service.ActRequest:
        return service.ActRequest(
            Action.transfer, target_office_code=self.rng.choice(self.office_codes), note="yours"
        )

    def _reject(self, t: Ticket) -> service.ActRequest:
        why = self.rng.choice(["duplicate", "invalid", "not_responsible"])
        if why == "duplicate":
            others = [i for i in self.ids if i != t.id]
            if not others:
                return service.ActRequest(Action.reject, reject_reason="invalid", note="no")
            return service.ActRequest(
                Action.reject, reject_reason="duplicate", duplicate_of=self.rng.choice(others)
            )
        return service.ActRequest(Action.reject, reject_reason=why, note="no")


def populate(
    session_factory: Any,
    settings: Any,
    *,
    seed: int,
    tickets: int = 45,
    days: int = 60,
    at_commit: bool = False,
) -> list[int]:
    """Open ``tickets`` tickets over the last ``days`` days and walk each; run the jobs.

    ``at_commit``: the listeners run at the commit, as in a request (on
    PostgreSQL the changes then leave their rollup deltas pending)."""
    rng = random.Random(seed)
    now = utcnow()
    with session_factory() as s:
        if at_commit:
            hooks.defer(s)
        walk = Walk(
            rng=rng,
            s=s,
            settings=settings,
            now=now,
            admin=actor_of(s, "root"),
            rider=actor_of(s, "rider-1"),
            router=GridRouter(
                tolerance_m=settings.route_tolerance_m, border_margin_m=settings.border_margin_m
            ),
            office_codes=[o.code for o in s.scalars(select(Office))],
            categories=list(s.scalars(select(Category).order_by(Category.id))),
        )
        for _ in range(tickets):
            # Recent tickets are likelier, as in life; some are minutes old.
            age = timedelta(minutes=int(days * 1440 * rng.random() ** 2) + 3)
            t0 = now - age
            ticket = walk.open(t0)
            at: datetime | None = t0
            for _ in range(rng.randint(0, 7)):
                at = walk.later(at) if at else None
                if at is None:
                    break
                walk.act(ticket, at)
        s.commit()
    # Scheduled jobs: overdue flags, claim escalation, auto-close (each its own transaction).
    jobs.run(session_factory, settings, now - timedelta(minutes=5))
    return walk.ids
