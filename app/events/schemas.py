"""The public shape of an event (feed items, stream ``data:``, webhook bodies) and
the webhook admin API's bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.events.enums import DeliveryStatus


class OfficeRef(BaseModel):
    code: str
    name: str


class EventPayload(BaseModel):
    """What the outbox stores for one ticket change. Public by design: no people,
    no notes, no coordinates — consumers fetch the ticket with their own rights."""

    kind: str = Field(description="`ticket.<what happened>`, e.g. `ticket.resolved`")
    at: datetime = Field(description="When the change happened (ISO 8601, UTC)")
    ticket_id: int
    status: str = Field(description="The ticket's status after the change")
    previous_status: str | None = Field(description="Before the change; null when created")
    resolution: str | None = Field(
        default=None, description="fixed, self_resolved, unable_to_fix, duplicate, …"
    )
    reason: str | None = Field(
        default=None, description="A code qualifying the change (reject or close reason, …)"
    )
    category: str = Field(description="Category code")
    priority: int = Field(description="1 urgent … 4 low")
    office: OfficeRef = Field(description="The owning office after the change")
    previous_office: OfficeRef | None = Field(
        default=None, description="Set when the change moved the ticket to another office"
    )
    due_at: datetime | None = None


class FeedEvent(EventPayload):
    """One published event. ``id`` is the outbox id: the feed cursor, the stream's
    event id and ``Gridfix-Event-Id`` of webhook deliveries."""

    id: int = Field(description="Event id; increasing, usable as `after` / Last-Event-ID")


class FeedPage(BaseModel):
    items: list[FeedEvent]
    next_after: int = Field(
        description="Pass as `after` for the next page (the last id you have seen, "
        "possibly past the last item when later events are outside your scope or filter)"
    )
    has_more: bool = Field(description="True when the next page is known to have events")


_KINDS_DESCRIPTION = "Event kinds to deliver (e.g. `ticket.resolved`); empty: every kind"


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        description="http(s) URL receiving POSTs; must resolve to public addresses",
        examples=["https://partner.example/gridfix/events"],
    )
    event_kinds: list[str] = Field(
        default_factory=list, max_length=64, description=_KINDS_DESCRIPTION
    )
    office: str | None = Field(
        default=None, max_length=64, description="Office code: only events of its subtree"
    )
    description: str | None = Field(default=None, max_length=500)
    active: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    event_kinds: list[str] | None = Field(
        default=None, max_length=64, description=_KINDS_DESCRIPTION
    )
    office: str | None = Field(
        default=None,
        max_length=64,
        description="Office code; an explicit `null` removes the scope (every office)",
    )
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, description="false pauses deliveries (they wait)")


class WebhookOut(BaseModel):
    id: int
    url: str
    event_kinds: list[str]
    office: OfficeRef | None
    description: str | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signing secret for Gridfix-Signature. Shown only in this response."
    )


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None = None


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: int
    event_kind: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (pending)")
    last_status_code: int | None = Field(description="HTTP status of the last attempt")
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None
