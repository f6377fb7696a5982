"""Listeners told of every ticket change, inside the transaction that makes it.

Derived data that must never disagree with the tickets — the event outbox,
statistics rollups — registers here, so it commits or rolls back with the
change itself. Listeners must only flush (never commit) and must be fast:
they run on the request path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime

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
    for listener in _LISTENERS:
        listener(session, before, after, event)
