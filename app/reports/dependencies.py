from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from app.auth.actor import Actor
from app.auth.dependencies import CurrentPrincipal
from app.auth.enums import Role
from app.auth.scope import scope_filter
from app.core.db import DbSession
from app.core.errors import NotFound
from app.grids.models import Office
from app.photos.worker import DerivativeWorker
from app.reports import repository
from app.reports.models import Report
from app.tickets import repository as tickets_repo


async def _worker(request: Request) -> DerivativeWorker:
    worker: DerivativeWorker = request.app.state.derivative_worker
    return worker


Worker = Annotated[DerivativeWorker, Depends(_worker)]


async def _session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


SessionFactory = Annotated[sessionmaker[Session], Depends(_session_factory)]


def can_read_report(session: Session, actor: Actor, report: Report) -> bool:
    """Reporters read their own; staff read reports whose ticket is in their scope."""
    if report.reporter_id == actor.id:
        return True
    if actor.role not in (Role.officer, Role.supervisor, Role.admin):
        return False
    ticket = tickets_repo.for_reports(session, [report.id]).get(report.id)
    if ticket is None:
        return False
    office = session.get(Office, ticket.office_id)
    return office is not None and scope_filter(actor).allows(office.id, office.path)


def _readable_report(
    session: DbSession,
    actor: CurrentPrincipal,
    report_id: Annotated[int, Path(ge=1, le=2**62, description="Report id")],
) -> Report:
    report = repository.get(session, report_id)
    # Someone else's report answers 404, not 403: ids of others leak nothing.
    if report is None or not can_read_report(session, actor, report):
        raise NotFound(f"no report {report_id}")
    return report


ReadableReport = Annotated[Report, Depends(_readable_report)]
