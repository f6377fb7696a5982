"""Import every model so ``Base.metadata`` is complete (Alembic and tests use it)."""

from app.auth.models import ApiKey, Principal
from app.categories.models import Category
from app.core.db import Base
from app.core.idempotency_models import IdempotencyRecord
from app.events.models import OutboxEvent, Webhook, WebhookDelivery
from app.grids.models import Office
from app.open311.models import Open311Contact, Open311Request
from app.photos.models import Photo, Upload
from app.reports.models import Report, ReportPhoto
from app.stats.models import (
    stats_backlog,
    stats_cohort,
    stats_due,
    stats_flow,
    stats_hotspot,
    stats_version,
)
from app.tickets.models import Ticket, TicketEvent

__all__ = [
    "ApiKey",
    "Base",
    "Category",
    "IdempotencyRecord",
    "Office",
    "Open311Contact",
    "Open311Request",
    "OutboxEvent",
    "Photo",
    "Principal",
    "Report",
    "ReportPhoto",
    "Ticket",
    "TicketEvent",
    "Upload",
    "Webhook",
    "WebhookDelivery",
    "stats_backlog",
    "stats_cohort",
    "stats_due",
    "stats_flow",
    "stats_hotspot",
    "stats_version",
]
