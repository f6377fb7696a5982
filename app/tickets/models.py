"""Tickets: the work item a report becomes, owned by one grid office."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from shapely.geometry import Point
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.types import GeometryType, JSONType

# The open set (``OPEN_STATUSES``), written out: index predicates must match the
# migration's text exactly, and the queue's WHERE clauses must imply them.
OPEN_PREDICATE = "status IN ('new', 'accepted', 'in_progress')"

# Work-queue orders over open tickets, one per supported sort (id last, so each
# order is total and a keyset cursor seeks straight to the next page): led by
# office_id for one office at a time, and unled for scopes wide enough that
# walking the global order and skipping other offices' rows is cheaper. Status
# and category trail the order so that a filter on one of each is checked in
# the index, without visiting the rows it rejects.
_FILTERS = ("status", "category_id")
QUEUE_INDEXES: dict[str, tuple[str, ...]] = {
    "ix_tickets_open_office_priority": ("office_id", "priority", "due_at", "id", *_FILTERS),
    "ix_tickets_open_office_due": ("office_id", "due_at", "id", *_FILTERS),
    "ix_tickets_open_office_created": ("office_id", "created_at", "id", *_FILTERS),
    "ix_tickets_open_office_updated": ("office_id", "updated_at", "id", *_FILTERS),
    "ix_tickets_open_priority": ("priority", "due_at", "id", *_FILTERS),
    "ix_tickets_open_due": ("due_at", "id", *_FILTERS),
    "ix_tickets_open_created": ("created_at", "id", *_FILTERS),
}


def _open_index(name: str, columns: tuple[str, ...]) -> Index:
    where = text(OPEN_PREDICATE)
    return Index(name, *columns, postgresql_where=where, sqlite_where=where)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="RESTRICT"), unique=True
    )
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="new")
    resolution: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[int] = mapped_column(Integer, default=2)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    location: Mapped[Point] = mapped_column(GeometryType("POINT"))
    route_reason: Mapped[str] = mapped_column(String(16))
    route_distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    # Offices that may claim a border/gap ticket, as ids.
    candidate_office_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Set at resolve: resolved no later than due_at (the on-time rate, 按期结案率).
    resolved_on_time: Mapped[bool | None] = mapped_column(Boolean)
    # When the overdue escalation (or the unclaimed-border escalation) last ran.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}
    __table_args__ = (
        Index("ix_tickets_office_id_status", "office_id", "status"),
        Index("ix_tickets_status_due_at", "status", "due_at"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_updated_at", "updated_at"),
        Index("ix_tickets_location", "location", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
        *(_open_index(name, cols) for name, cols in QUEUE_INDEXES.items()),
    )


class TicketCandidate(Base):
    """An office that may claim a border or gap ticket (besides its owner)."""

    __tablename__ = "ticket_candidates"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    office_id: Mapped[int] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TicketEvent(Base):
    """Append-only history: every change of a ticket, who made it and why."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id", ondelete="SET NULL"))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
        Index("ix_ticket_events_created_at", "created_at"),
    )
