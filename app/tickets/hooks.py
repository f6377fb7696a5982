"""Listeners told of every ticket change, inside the transaction that makes it.

Derived data that must never disagree with the tickets — the event outbox,
statistics rollups — registers here, so it commits or rolls back with the
change itself. Listeners must only flush (never commit) and must be fast:
they run on the request path.

A request may :func:`defer` them to the end of its transaction: they then run
when :func:`run_deferred` is called, or at the latest just before the commit.
Still in the same transaction, but the rows they write — statistics rollups
that every change in a city shares — stay locked only for the commit, not
while the response is being built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.tickets.models import Ticket, TicketEvent


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """The ticket fields statistics and feeds care about, at one moment."""

    id: int
    office_id: int
    category_id: int
    status: str
    resolution: str | None
    resolved_on_time: bool | None
    reopen_count: int
    priority: int
    lat: float
    lon: float
    created_at: datetime
    due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, t: Ticket) -> TicketSnapshot:
        return cls(**{f.name: getattr(t, f.name) for f in fields(cls)})


Listener = Callable[[Session, TicketSnapshot | None, TicketSnapshot, TicketEvent], None]
_LISTENERS: list[Listener] = []
_DEFERRED = "gridfix.tickets.hooks.deferred"  # Session.info: changes waiting for listeners
# Session.info: set by :func:`defer`; listeners may then hold writes to rows every
# change shares until the commit itself (see ``app.stats.repository.apply``).
UNTIL_COMMIT = "gridfix.tickets.hooks.until_commit"


def register(listener: Listener) -> Listener:
    """Add a listener (idempotent); usable as a decorator."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


def changed(
    session: Session, before: TicketSnapshot | None, ticket: Ticket, event: TicketEvent
) -> None:
    """Tell every listener that ``ticket`` went from ``before`` (None: created) to now.

    Call after the change and its event were flushed (the event has its id).
    """
    after = TicketSnapshot.of(ticket)
    pending = session.info.get(_DEFERRED)
    if pending is not None:
        pending.append((before, after, event))
        return
    for listener in _LISTENERS:
        listener(session, before, after, event)


def defer(session: Session) -> None:
    """Queue this session's changes for the listeners until :func:`run_deferred`
    (or the commit, whichever comes first), and let listeners send their writes
    to shared rows with the COMMIT itself. Only for a request that reads nothing
    those listeners write after its change."""
    session.info.setdefault(_DEFERRED, [])
    session.info[UNTIL_COMMIT] = True


def deferred(session: Session) -> bool:
    """Whether this session's listeners wait for :func:`run_deferred` or the commit."""
    return session.info.get(_DEFERRED) is not None


def run_deferred(session: Session) -> None:
    """Tell the listeners of every queued change, in order; stop deferring."""
    pending = session.info.pop(_DEFERRED, None) or []
    for before, after, event in pending:
        for listener in _LISTENERS:
            listener(session, before, after, event)


def _discard(session: Session, *_: object) -> None:
    session.info.pop(_DEFERRED, None)


def _end(session: Session, *_: object) -> None:
    session.info.pop(UNTIL_COMMIT, None)


# Before the commit's final flush, so listeners' writes are part of it; a
# rollback drops what was queued with the changes it undid.
sa_event.listen(Session, "before_commit", run_deferred)
sa_event.listen(Session, "after_rollback", _discard)
sa_event.listen(Session, "after_commit", _end)
sa_event.listen(Session, "after_rollback", _end)
