"""How webhooks and deliveries look in the admin API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.events import repository
from app.events.enums import DeliveryStatus
from app.events.models import Webhook, WebhookDelivery
from app.events.schemas import DeliveryOut, OfficeRef, WebhookOut


def webhooks_out(session: Session, hooks: Sequence[Webhook]) -> list[WebhookOut]:
    offices = repository.offices_by_id(session, {h.office_id for h in hooks if h.office_id})
    out = []
    for h in hooks:
        o = offices.get(h.office_id) if h.office_id else None
        out.append(
            WebhookOut(
                id=h.id,
                url=h.url,
                event_kinds=list(h.event_kinds or []),
                office=OfficeRef(code=o.code, name=o.name) if o else None,
                description=h.description,
                active=h.active,
                created_at=h.created_at,
            )
        )
    return out


def delivery_out(d: WebhookDelivery, kind: str) -> DeliveryOut:
    pending = d.status == DeliveryStatus.pending.value
    return DeliveryOut(
        id=d.id,
        webhook_id=d.webhook_id,
        event_id=d.event_id,
        event_kind=kind,
        status=DeliveryStatus(d.status),
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if pending else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )
