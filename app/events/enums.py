"""Event-feed and webhook vocabularies. Values are stored and sent: renaming one is
a data migration and a breaking change for consumers, not a refactor."""

from __future__ import annotations

from enum import StrEnum

from app.tickets.enums import EventKind

# Every published kind is namespaced ("ticket.resolved"): other resources may
# publish events later without clashing with these names.
KIND_PREFIX = "ticket."


def public_kind(kind: str) -> str:
    """``TicketEvent.kind`` → the kind feeds and webhooks publish."""
    return KIND_PREFIX + kind


EVENT_KINDS: frozenset[str] = frozenset(public_kind(k.value) for k in EventKind)


class DeliveryStatus(StrEnum):
    """``WebhookDelivery.status``. ``pending`` covers both "due" and "retrying later"
    (``next_attempt_at`` says when); a claimed delivery stays ``pending`` with its
    ``next_attempt_at`` pushed past the send, so a crashed sender's work comes back."""

    pending = "pending"
    delivered = "delivered"
    dead = "dead"
