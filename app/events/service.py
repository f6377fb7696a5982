"""Event-feed reads and webhook subscription use cases (services flush, never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.auth.actor import Actor
from app.config import Settings
from app.core.errors import InvalidInput
from app.core.outbound import FetchRefused
from app.events import delivery, repository, sender, signing
from app.events.enums import EVENT_KINDS, DeliveryStatus
from app.events.exceptions import WebhookUrlRefused
from app.events.feed import EventFilter, FeedItem, stable_horizon
from app.events.models import Webhook, WebhookDelivery
from app.grids import repository as grids_repo
from app.grids.models import Office

MAX_PAGE = 500
# How far past the cursor one feed request looks for the stable horizon: a reader
# whose scope is a small share of all events still advances this much per page.
PROBE = 2000


# ---------------------------------------------------------------- feed
def feed_page(
    session: Session,
    flt: EventFilter,
    *,
    after: int,
    limit: int,
    now: datetime,
    grace: timedelta,
) -> tuple[list[FeedItem], int, bool]:
    """A page of the feed: items, the cursor to continue from, whether more are known."""
    probe = repository.probe_after(session, after, PROBE)
    horizon = stable_horizon(probe, after, now, grace)
    items = repository.events_between(session, flt, after, horizon, limit)
    if len(items) == limit:
        next_after = items[-1].id
        has_more = next_after < horizon
    else:
        next_after = horizon
        has_more = len(probe) == PROBE and horizon == probe[-1][0]
    return items, next_after, has_more


def read_events(
    factory: sessionmaker[Session], flt: EventFilter, after: int, upto: int, limit: int
) -> list[FeedItem]:
    """Events in ``(after, upto]`` in their own short session (the live stream's catch-up)."""
    with factory() as s:
        return repository.events_between(s, flt, after, upto, limit)


def parse_kinds(values: Sequence[str], field: str) -> frozenset[str]:
    kinds = frozenset(v.strip() for v in values if v.strip())
    unknown = sorted(kinds - EVENT_KINDS)
    if unknown:
        raise InvalidInput(
            f"{field}: unknown event kind(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(EVENT_KINDS))}",
            errors=[{"field": field, "reason": "unknown event kind"}],
        )
    return kinds


# ---------------------------------------------------------------- webhooks
def check_url(url: str, settings: Settings) -> str:
    """Refuse URLs we would not deliver to: the same rules as delivery (outbound.py)."""
    try:
        sender.check_url(
            url,
            allow_loopback=settings.outbound_allow_loopback,
            timeout_s=settings.webhook_timeout_s,
        )
    except FetchRefused as exc:
        raise WebhookUrlRefused(
            f"url: {exc.detail}", errors=[{"field": "url", "reason": exc.reason.value}]
        ) from None
    return url


def _office(session: Session, code: str) -> Office:
    office = grids_repo.get_by_code(session, code)
    if office is None:
        raise InvalidInput(
            f"no office with code {code!r}",
            errors=[{"field": "office", "reason": "unknown office code"}],
        )
    return office


def create_webhook(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    url: str,
    event_kinds: Sequence[str],
    office_code: str | None,
    description: str | None,
    active: bool,
    now: datetime,
) -> tuple[Webhook, str]:
    """A new subscription and its signing secret (returned once, stored for signing)."""
    kinds = sorted(parse_kinds(event_kinds, "event_kinds"))
    office = _office(session, office_code) if office_code is not None else None
    check_url(url, settings)
    secret = signing.new_secret()
    hook = Webhook(
        url=url,
        secret=secret,
        event_kinds=kinds,
        office_id=office.id if office else None,
        active=active,
        description=description,
        created_by=actor.id,
        created_at=now,
    )
    session.add(hook)
    session.flush()
    delivery.targets_changed(session)
    return hook, secret


def update_webhook(
    session: Session, hook: Webhook, settings: Settings, changes: dict[str, object]
) -> Webhook:
    """Apply the fields present in a PATCH (``office: null`` removes the office scope)."""
    if "url" in changes and changes["url"] is not None:
        hook.url = check_url(str(changes["url"]), settings)
    if "event_kinds" in changes and changes["event_kinds"] is not None:
        kinds = changes["event_kinds"]
        assert isinstance(kinds, list)
        hook.event_kinds = sorted(parse_kinds(kinds, "event_kinds"))
    if "office" in changes:
        code = changes["office"]
        hook.office_id = _office(session, str(code)).id if code is not None else None
    if "description" in changes:
        hook.description = changes["description"]  # type: ignore[assignment]
    if "active" in changes and changes["active"] is not None:
        hook.active = bool(changes["active"])
    session.flush()
    delivery.targets_changed(session)
    return hook


def redeliver(session: Session, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Send again from scratch: pending, due now, attempts reset (dead or delivered alike)."""
    delivery.status = DeliveryStatus.pending.value
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    session.flush()
    return delivery
