"""The outbox: one row per ticket event, written in the change's own transaction."""

from __future__ import annotations

import json
from datetime import timedelta

from app.auth.actor import Actor
from app.auth.enums import Role
from app.core.db import utcnow
from app.tickets import jobs, repository, service
from app.tickets.enums import Action, ActorKind
from tests.events.conftest import add_webhook
from tests.tickets.conftest import after_photo

PAYLOAD_KEYS = {
    "kind",
    "at",
    "ticket_id",
    "status",
    "previous_status",
    "resolution",
    "reason",
    "category",
    "priority",
    "office",
    "previous_office",
    "due_at",
}


def test_every_ticket_change_writes_one_public_event(city, outbox):
    tid = city.report()
    assert city.act(tid, "accept", "off_a").status_code == 200
    assert city.act(tid, "start", "off_a").status_code == 200
    note = "called Mr Li on 13800000000 about it"
    assert city.act(tid, "comment", "off_a", note=note).status_code == 200
    assert city.resolve(tid, "off_a", photos=[after_photo()]).status_code == 200
    assert city.act(tid, "close", "sup_d1", note="checked").status_code == 200

    rows = outbox()
    history = city.client.get(f"/v1/tickets/{tid}/events", headers=city.h["admin"]).json()
    assert [r.kind for r in rows] == [
        "ticket.created",
        "ticket.accepted",
        "ticket.started",
        "ticket.commented",
        "ticket.resolved",
        "ticket.closed",
    ]
    assert [r.ticket_event_id for r in rows] == [e["id"] for e in history]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    ga = city.office_ids["ga"]
    assert {(r.ticket_id, r.office_id) for r in rows} == {(tid, ga)}
    assert all(r.office_path.endswith(f"/{ga}/") for r in rows)

    created, accepted, *_, resolved, closed = (r.payload for r in rows)
    assert set(created) == PAYLOAD_KEYS
    assert created["previous_status"] is None and created["status"] == "new"
    assert created["office"] == {"code": "ga", "name": "Grid A"}
    assert created["category"] == "road_damage" and created["ticket_id"] == tid
    assert accepted["previous_status"] == "new" and accepted["status"] == "accepted"
    assert resolved["resolution"] == "fixed" and resolved["status"] == "resolved"
    assert closed["reason"] == "verified" and closed["previous_status"] == "resolved"
    assert (
        accepted["at"].replace("+00:00", "Z")[:19] == history[1]["at"].replace("+00:00", "Z")[:19]
    )
    # Public: no people, no notes, no places.
    text = json.dumps([r.payload for r in rows])
    for secret in (
        "Officer Wang",
        "off-a",
        "rider-1",
        "13800000000",
        "checked",
        "22.51",
        "113.005",
    ):
        assert secret not in text


def test_stale_if_match_writes_nothing(city, outbox, deliveries):
    add_webhook(city, "http://127.0.0.1:9/hook")
    tid = city.report()
    old = city.etag(tid)
    assert city.act(tid, "accept", "off_a", etag=old).status_code == 200
    before = [r.id for r in outbox()], len(deliveries())
    assert city.act(tid, "start", "off_a", etag=old).status_code == 412
    assert city.act(tid, "start", "off_a", etag="").status_code == 428
    assert ([r.id for r in outbox()], len(deliveries())) == before == (before[0], 2)


def test_outbox_row_rolls_back_with_the_change(city, outbox, session_factory):
    tid = city.report()
    admin = Actor(
        id=1, name="root", role=Role.admin, office_id=None, office_code=None, office_path=None
    )
    with session_factory() as s:
        ticket = repository.get_for_update(s, tid)
        service.act(
            s,
            ticket,
            actor=admin,
            kind=ActorKind.admin,
            req=service.ActRequest(action=Action.comment, note="never committed"),
            settings=city.settings,
            now=utcnow(),
        )
        assert len(outbox()) == 1  # not visible to others before commit
        s.rollback()
    assert [r.kind for r in outbox()] == ["ticket.created"]


def test_transfer_event_belongs_to_the_new_office_and_names_the_old(city, outbox):
    tid = city.report()
    r = city.act(tid, "transfer", "off_a", target_office="gc", note="other side")
    assert r.status_code == 200, r.text
    moved = outbox()[-1]
    assert moved.kind == "ticket.transferred" and moved.office_id == city.office_ids["gc"]
    assert moved.payload["office"]["code"] == "gc"
    assert moved.payload["previous_office"] == {"code": "ga", "name": "Grid A"}


def test_scheduled_jobs_write_events_too(city, outbox, session_factory):
    tid = city.report()
    report = jobs.run(session_factory, city.settings, utcnow() + timedelta(days=30))
    assert report.overdue_flagged == 1
    last = outbox()[-1]
    assert (last.kind, last.ticket_id, last.payload["status"]) == ("ticket.escalated", tid, "new")


def test_matching_webhooks_get_pending_deliveries_in_the_same_transaction(city, outbox, deliveries):
    every = add_webhook(city, "http://127.0.0.1:9/a")
    accepted_only = add_webhook(city, "http://127.0.0.1:9/b", event_kinds=["ticket.accepted"])
    district1 = add_webhook(city, "http://127.0.0.1:9/c", office="d1")
    add_webhook(city, "http://127.0.0.1:9/d", office="d2")  # another district: never
    add_webhook(city, "http://127.0.0.1:9/e", active=False)  # paused: nothing queued
    tid = city.report()
    city.act(tid, "accept", "off_a")
    created, accepted = (r.id for r in outbox())
    got = sorted((d.webhook_id, d.event_id, d.status, d.attempts) for d in deliveries())
    assert got == sorted(
        [
            (every["id"], created, "pending", 0),
            (every["id"], accepted, "pending", 0),
            (accepted_only["id"], accepted, "pending", 0),
            (district1["id"], created, "pending", 0),
            (district1["id"], accepted, "pending", 0),
        ]
    )
