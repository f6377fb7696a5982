"""Event tests run on the officer-workflow city (tests/tickets/conftest.py), with
fast polling and heartbeats, loopback receivers allowed, and the delivery worker
off unless a test turns it on — tests drive deliveries with a ``now`` they choose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.events.models import OutboxEvent, WebhookDelivery
from tests.tickets.conftest import City, make_city  # noqa: F401 - fixtures

EVENT_SETTINGS: dict[str, Any] = {
    "events_poll_interval_s": 0.05,
    "events_heartbeat_s": 0.2,
    "events_gap_grace_s": 2.0,
    "webhook_worker_interval_s": 0,
    "outbound_allow_loopback": True,
    "webhook_timeout_s": 2.0,
    "webhook_max_attempts": 4,
}


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:  # noqa: F811 - the imported fixture
    return make_city(**EVENT_SETTINGS)


@pytest.fixture
def outbox(session_factory: Any) -> Callable[[], list[OutboxEvent]]:
    def rows() -> list[OutboxEvent]:
        with session_factory() as s:
            return list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))

    return rows


@pytest.fixture
def deliveries(session_factory: Any) -> Callable[[], list[WebhookDelivery]]:
    def rows() -> list[WebhookDelivery]:
        with session_factory() as s:
            return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))

    return rows


def feed(city: City, who: str, **params: Any) -> Any:
    r = city.client.get("/v1/events", params=params, headers=city.h[who])
    assert r.status_code == 200, r.text
    return r.json()


def add_webhook(city: City, url: str, **body: Any) -> dict[str, Any]:
    r = city.client.post("/v1/webhooks", json={"url": url, **body}, headers=city.h["admin"])
    assert r.status_code == 201, r.text
    return dict(r.json())


def later(hours: float) -> datetime:
    """A ``now`` well past any backoff, for driving deliveries by hand."""
    from datetime import timedelta

    return datetime.now(UTC) + timedelta(hours=hours)
