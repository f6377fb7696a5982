"""The transactional outbox: every ticket change writes one ``OutboxEvent`` — and a
pending ``WebhookDelivery`` per matching subscription — in the transaction that
makes the change. Roll the change back and they vanish with it; commit it and
the feed, the live stream and the delivery worker find them. Nothing here talks
to the network: delivery happens in the worker, after commit.

After a commit that wrote events, waiters in this process (the live-stream
poller, the delivery worker) are woken at once; other processes notice by
polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.core.db import send_with_commit, utcnow
from app.events import repository
from app.events.enums import public_kind
from app.events.schemas import EventPayload, OfficeRef
from app.grids.models import Office
from app.tickets import hooks
from app.tickets.hooks import TicketSnapshot
from app.tickets.models import TicketEvent

log = logging.getLogger("gridfix.events.outbox")

_WROTE = "gridfix.events.wrote"  # Session.info flag: this transaction wrote events
_waiters: list[Callable[[], None]] = []
_waiters_lock = threading.Lock()


def add_waiter(wake: Callable[[], None]) -> None:
    """Call ``wake`` after every local commit that wrote outbox events."""
    with _waiters_lock:
        _waiters.append(wake)


def remove_waiter(wake: Callable[[], None]) -> None:
    with _waiters_lock:
        if wake in _waiters:
            _waiters.remove(wake)


def _office_ref(office: Office) -> OfficeRef:
    return OfficeRef(code=office.code, name=office.name)


# A category's code never changes (only its names, SLA and the like), so the
# outbox asks the database once per category and process.
_CATEGORY_CODES: dict[int, str] = {}


def _category_code(session: Session, category_id: int) -> str:
    code = _CATEGORY_CODES.get(category_id)
    if code is None:
        category = session.get(Category, category_id)
        assert category is not None
        code = category.code
        if len(_CATEGORY_CODES) < 10_000:
            _CATEGORY_CODES[category_id] = code
    return code


def build_payload(
    session: Session, before: TicketSnapshot | None, after: TicketSnapshot, ev: TicketEvent
) -> tuple[EventPayload, Office]:
    """The public event for one change, and the office that owns the ticket now."""
    office = session.get(Office, after.office_id)
    assert office is not None
    previous_office = None
    if before is not None and before.office_id != after.office_id:
        old = session.get(Office, before.office_id)
        previous_office = _office_ref(old) if old is not None else None
    payload = EventPayload(
        kind=public_kind(ev.kind),
        at=ev.created_at,
        ticket_id=after.id,
        status=after.status,
        previous_status=before.status if before is not None else None,
        resolution=after.resolution,
        reason=ev.reason,
        category=_category_code(session, after.category_id),
        priority=after.priority,
        office=_office_ref(office),
        previous_office=previous_office,
        due_at=after.due_at,
    )
    return payload, office


@hooks.register
def write_outbox(
    session: Session, before: TicketSnapshot | None, after: TicketSnapshot, ev: TicketEvent
) -> None:
    """The hooks listener: one outbox row per ticket event, plus pending deliveries.

    On PostgreSQL both are one statement (the subscriptions are matched in it),
    sent with the COMMIT when the request defers its hooks: nothing in the
    request reads the outbox back."""
    payload, office = build_payload(session, before, after, ev)
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        params = (after.id, ev.id, office.id, office.path, payload.kind)
        sql, args = repository.OUTBOX_PG, (*params, payload.model_dump_json(), now)
        if session.info.get(hooks.UNTIL_COMMIT):
            send_with_commit(session, sql, args)
        else:
            session.connection().exec_driver_sql(sql, args)
        session.info[_WROTE] = True
        return
    row = repository.insert_event(
        session,
        ticket_id=after.id,
        ticket_event_id=ev.id,
        office_id=office.id,
        office_path=office.path,
        kind=payload.kind,
        payload=payload.model_dump(mode="json"),
        # Insertion time, not the change's time: the feed's gap check needs it.
        created_at=now,
    )
    targets = [
        t.id for t in repository.active_webhook_targets(session) if t.wants(row.kind, office.path)
    ]
    repository.insert_deliveries(session, targets, row.id, now)
    session.info[_WROTE] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        with _waiters_lock:
            waiters = list(_waiters)
        for wake in waiters:
            try:
                wake()
            except Exception:  # a waiter must never fail the committing request
                log.exception("outbox waiter failed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_WROTE, None)


def _install() -> None:
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_rollback", _after_rollback)


_install()

__all__ = ["add_waiter", "build_payload", "remove_waiter", "write_outbox"]
