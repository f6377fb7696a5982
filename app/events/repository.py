"""SQL for the outbox, the feed, webhook subscriptions and their deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, false, insert, select, true, update
from sqlalchemy.orm import Session

from app.events.enums import DeliveryStatus
from app.events.feed import EventFilter, FeedItem, event_json
from app.events.models import OutboxEvent, Webhook, WebhookDelivery
from app.grids.models import Office


# ---------------------------------------------------------------- outbox
def insert_event(
    session: Session,
    *,
    ticket_id: int,
    ticket_event_id: int,
    office_id: int,
    office_path: str,
    kind: str,
    payload: dict[str, Any],
    created_at: datetime,
) -> OutboxEvent:
    row = OutboxEvent(
        ticket_id=ticket_id,
        ticket_event_id=ticket_event_id,
        office_id=office_id,
        office_path=office_path,
        kind=kind,
        payload=payload,
        created_at=created_at,
    )
    session.add(row)
    session.flush()
    return row


# PostgreSQL: the outbox row and a pending delivery for each subscription that
# wants it (WebhookTarget.wants, in SQL), in one statement. Parameters: ticket,
# ticket event, office id, office path, kind, payload (JSON text), time.
OUTBOX_PG = """
WITH e AS (
    INSERT INTO outbox_events
        (ticket_id, ticket_event_id, office_id, office_path, kind, payload, created_at)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)
    RETURNING id, kind, office_path, created_at
)
INSERT INTO webhook_deliveries
    (webhook_id, event_id, status, attempts, next_attempt_at, created_at)
SELECT w.id, e.id, 'pending', 0, e.created_at, e.created_at
FROM e
JOIN webhooks w ON w.active
LEFT JOIN offices o ON o.id = w.office_id
WHERE (w.event_kinds IS NULL OR w.event_kinds IN ('[]', 'null') OR w.event_kinds ? e.kind)
  AND (o.path IS NULL OR starts_with(e.office_path, o.path))
ORDER BY w.id
"""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    id: int
    event_kinds: list[str]
    office_path: str | None  # None: every office

    def wants(self, kind: str, office_path: str) -> bool:
        if self.event_kinds and kind not in self.event_kinds:
            return False
        return self.office_path is None or office_path.startswith(self.office_path)


def active_webhook_targets(session: Session) -> list[WebhookTarget]:
    """Every active subscription with its office path (a handful of rows: admins make them)."""
    rows = session.execute(
        select(Webhook.id, Webhook.event_kinds, Office.path)
        .outerjoin(Office, Office.id == Webhook.office_id)
        .where(Webhook.active.is_(True))
    ).all()
    return [WebhookTarget(r[0], list(r[1] or []), r[2]) for r in rows]


def any_active_webhook(session: Session) -> bool:
    """Is there at least one active subscription (anything a new event could go to)?"""
    return session.scalar(select(Webhook.id).where(Webhook.active.is_(True)).limit(1)) is not None


def insert_deliveries(
    session: Session, webhook_ids: Sequence[int], event_id: int, now: datetime
) -> None:
    if not webhook_ids:
        return
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "webhook_id": wid,
                "event_id": event_id,
                "status": DeliveryStatus.pending.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for wid in webhook_ids
        ],
    )


# ---------------------------------------------------------------- feed
def _filter_condition(flt: EventFilter) -> ColumnElement[bool]:
    scope = flt.scope
    if scope.everything:
        cond: ColumnElement[bool] = true()
    elif scope.office_id is not None:
        cond = OutboxEvent.office_id == scope.office_id
    elif scope.path_prefix is not None:
        cond = OutboxEvent.office_path.startswith(scope.path_prefix, autoescape=True)
    else:
        return false()
    if flt.office_path is not None:
        cond = and_(cond, OutboxEvent.office_path.startswith(flt.office_path, autoescape=True))
    if flt.kinds:
        cond = and_(cond, OutboxEvent.kind.in_(sorted(flt.kinds)))
    return cond


def probe_after(session: Session, after: int, limit: int) -> list[tuple[int, datetime]]:
    """(id, created_at) of the next ``limit`` visible rows after ``after``, any scope:
    what :func:`app.events.feed.stable_horizon` needs."""
    rows = session.execute(
        select(OutboxEvent.id, OutboxEvent.created_at)
        .where(OutboxEvent.id > after)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    return [(int(r[0]), r[1]) for r in rows]


def _items(stmt: Select[Any], session: Session) -> list[FeedItem]:
    return [
        FeedItem(int(r[0]), int(r[1]), r[2], r[3], event_json(int(r[0]), r[4]))
        for r in session.execute(stmt).all()
    ]


_ITEM_COLUMNS = (
    OutboxEvent.id,
    OutboxEvent.office_id,
    OutboxEvent.office_path,
    OutboxEvent.kind,
    OutboxEvent.payload,
)


def events_between(
    session: Session, flt: EventFilter, after: int, upto: int, limit: int
) -> list[FeedItem]:
    """Events in ``(after, upto]`` the filter lets through, oldest first."""
    if upto <= after:
        return []
    stmt = (
        select(*_ITEM_COLUMNS)
        .where(OutboxEvent.id > after, OutboxEvent.id <= upto, _filter_condition(flt))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    return _items(stmt, session)


def rows_after(session: Session, after: int, limit: int) -> list[tuple[FeedItem, datetime]]:
    """Every visible event after ``after`` (the live poller's read), with created_at."""
    rows = session.execute(
        select(*_ITEM_COLUMNS, OutboxEvent.created_at)
        .where(OutboxEvent.id > after)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    return [
        (FeedItem(int(r[0]), int(r[1]), r[2], r[3], event_json(int(r[0]), r[4])), r[5])
        for r in rows
    ]


def tail(session: Session, limit: int) -> list[tuple[int, datetime]]:
    """(id, created_at) of the newest ``limit`` rows, oldest first."""
    rows = session.execute(
        select(OutboxEvent.id, OutboxEvent.created_at).order_by(OutboxEvent.id.desc()).limit(limit)
    ).all()
    return [(int(r[0]), r[1]) for r in reversed(rows)]


# ---------------------------------------------------------------- webhooks
def get_webhook(session: Session, webhook_id: int) -> Webhook | None:
    return session.get(Webhook, webhook_id)


def list_webhooks(session: Session, after_id: int, limit: int) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook).where(Webhook.id > after_id).order_by(Webhook.id).limit(limit)
        )
    )


def offices_by_id(session: Session, ids: set[int]) -> dict[int, Office]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Office).where(Office.id.in_(ids)))}


def delete_webhook(session: Session, webhook: Webhook) -> None:
    # Deliveries go by ON DELETE CASCADE; deleting them first keeps SQLite honest
    # when foreign keys are off on some connection.
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    session.delete(webhook)
    session.flush()


# ---------------------------------------------------------------- deliveries
def list_deliveries(
    session: Session,
    webhook_id: int,
    *,
    before_id: int | None,
    status: DeliveryStatus | None,
    limit: int,
) -> list[tuple[WebhookDelivery, str]]:
    """A webhook's deliveries, newest first, with their event kind."""
    stmt = (
        select(WebhookDelivery, OutboxEvent.kind)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    return [(r[0], r[1]) for r in session.execute(stmt).all()]


def get_delivery(
    session: Session, webhook_id: int, delivery_id: int
) -> tuple[WebhookDelivery, str] | None:
    row = session.execute(
        select(WebhookDelivery, OutboxEvent.kind)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)
    ).first()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery attempt, claimed: everything the sender needs, no ORM objects."""

    delivery_id: int
    attempt: int  # this attempt's number, 1-based
    webhook_id: int
    url: str
    secret: str
    event_id: int
    kind: str
    body: str


def any_due(session: Session, now: datetime) -> bool:
    """A plain read (the status/next_attempt_at index): is there anything to claim?"""
    return (
        session.scalar(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending.value,
                WebhookDelivery.next_attempt_at <= now,
            )
            .limit(1)
        )
        is not None
    )


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Claim up to ``limit`` due deliveries of active webhooks: count the attempt and
    push ``next_attempt_at`` to ``lease_until`` (if the sender dies, the delivery is
    due again then). Commit right after. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
    processes never claim the same row; SQLite: the caller holds the write lock
    (``BEGIN IMMEDIATE``)."""
    stmt = (
        select(WebhookDelivery.id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending.value,
            WebhookDelivery.next_attempt_at <= now,
            Webhook.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
    ids = list(session.scalars(stmt))
    if not ids:
        return []
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=lease_until)
    )
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            Webhook.id,
            Webhook.url,
            Webhook.secret,
            OutboxEvent.id,
            OutboxEvent.kind,
            OutboxEvent.payload,
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    ).all()
    return [
        Claim(
            delivery_id=int(r[0]),
            attempt=int(r[1]),
            webhook_id=int(r[2]),
            url=r[3],
            secret=r[4],
            event_id=int(r[5]),
            kind=r[6],
            body=event_json(int(r[5]), r[7]),
        )
        for r in rows
    ]


def finish_attempt(session: Session, claim: Claim, values: dict[str, Any]) -> bool:
    """Record an attempt's outcome, unless the delivery changed meanwhile (reset by a
    redelivery, or claimed again after the lease ran out)."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claim.delivery_id,
            WebhookDelivery.attempts == claim.attempt,
            WebhookDelivery.status == DeliveryStatus.pending.value,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))
