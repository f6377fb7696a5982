"""The officer workflow through the real app, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.categories.models import Category
from app.core.db import utcnow
from app.tickets import jobs
from app.tickets.models import Ticket
from tests.support.photos import jpeg
from tests.tickets.conftest import A_SPOT, AB_BORDER, C_SPOT, after_photo


def test_full_cycle_accept_start_resolve_close(city):
    tid = city.report()
    t = city.get(tid, "off_a").json()
    assert t["status"] == "new" and t["office"]["code"] == "ga"
    assert "accept" in t["allowed_actions"] and "close" not in t["allowed_actions"]
    r = city.act(tid, "accept", "off_a")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["assignee"] == "Officer Wang"
    assert r.json()["first_response_at"] is not None
    assert city.act(tid, "start", "off_a").json()["status"] == "in_progress"
    r = city.resolve(tid, "off_a", photos=[after_photo()])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["resolution"] == "fixed"
    assert body["resolved_on_time"] is True
    # Officers cannot verify their own work; the supervisor does.
    assert city.act(tid, "close", "off_a").status_code == 403
    r = city.act(tid, "close", "sup_d1", note="checked on site")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["resolution"] == "fixed"
    kinds = [e["kind"] for e in r.json()["events"]]
    assert kinds == ["created", "accepted", "started", "resolved", "closed"]
    resolved = r.json()["events"][3]
    assert len(resolved["photo_ids"]) == 1 and resolved["note"] == "patched"


def test_if_match_required_and_checked(city):
    tid = city.report()
    r = city.act(tid, "accept", "off_a", etag="")
    assert r.status_code == 428 and r.json()["errors"][0]["field"] == "If-Match"
    old = city.etag(tid)
    assert city.act(tid, "accept", "off_a", etag=old).status_code == 200
    r = city.act(tid, "start", "off_a", etag=old)
    assert r.status_code == 412
    assert r.json()["current_status"] == "accepted" and r.json()["current_etag"] != old
    # If-None-Match on GET: 304 while unchanged.
    tag = city.etag(tid)
    r = city.client.get(f"/v1/tickets/{tid}", headers={**city.h["off_a"], "If-None-Match": tag})
    assert r.status_code == 304


def test_two_officers_accept_at_once_exactly_one_wins(city):
    tid = city.report()
    tag = city.etag(tid)
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def go(who: str) -> None:
        barrier.wait()
        results[who] = city.act(tid, "accept", who, etag=tag).status_code

    threads = [threading.Thread(target=go, args=(w,)) for w in ("off_a", "off_a2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 412], results
    events = city.client.get(f"/v1/tickets/{tid}/events", headers=city.h["off_a"]).json()
    assert [e["kind"] for e in events] == ["created", "accepted"]


@pytest.mark.parametrize(
    ("photo", "check"),
    [
        (None, "evidence.photo"),
        ("far", "evidence.location"),
        ("before", "evidence.time"),
        ("no_gps", "evidence.location"),
    ],
)
def test_evidence_checks_name_the_failing_check(city, photo, check):
    tid = city.report()
    city.act(tid, "accept", "off_a")
    photos = {
        None: [],
        "far": [after_photo((22.515, 113.005))],  # ~550 m north
        "before": [after_photo(minutes=-60)],
        "no_gps": [jpeg(seed=5, captured_at=utcnow() + timedelta(minutes=5))],
    }[photo]
    r = city.resolve(tid, "off_a", photos=photos)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/evidence-rejected")
    assert check in [e.get("check") for e in r.json()["errors"]]
    assert city.get(tid, "off_a").json()["status"] == "accepted"


def test_evidence_location_may_be_given_and_not_needed_for_some_categories(city):
    tid = city.report()
    city.act(tid, "accept", "off_a")
    no_gps = jpeg(seed=6, captured_at=utcnow() + timedelta(minutes=5))
    r = city.resolve(tid, "off_a", photos=[no_gps], lat=A_SPOT[0], lon=A_SPOT[1])
    assert r.status_code == 200, r.text
    light = city.report(category="street_light_out", seed=7)
    city.act(light, "accept", "off_a")
    r = city.resolve(light, "off_a", photos=[])
    assert r.status_code == 200, r.text


def test_reject_reasons(city):
    first, dup = city.report(seed=11), city.report(seed=12)
    r = city.act(dup, "reject", "off_a", reject_reason="duplicate")
    assert r.status_code == 422 and "duplicate_of" in [e["field"] for e in r.json()["errors"]]
    r = city.act(dup, "reject", "off_a", reject_reason="duplicate", duplicate_of=999999)
    assert r.status_code == 422
    r = city.act(dup, "reject", "off_a", reject_reason="duplicate", duplicate_of=first)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["resolution"] == "duplicate"
    other = city.report(seed=13)
    assert (
        city.act(other, "reject", "off_a", reject_reason="invalid").status_code == 422
    )  # needs a note
    r = city.act(other, "reject", "off_a", reject_reason="invalid", note="no hazard in photo")
    assert r.json()["resolution"] == "invalid"
    assert city.act(other, "reopen", "r1", note="it is there").status_code == 409


def test_transfer_moves_ticket_and_scope(city):
    tid = city.report()
    r = city.act(tid, "transfer", "off_a", target_office="gc")
    assert r.status_code == 422  # a reason (note) is mandatory
    r = city.act(tid, "transfer", "off_a", target_office="gc", note="wrong side of the road")
    assert r.status_code == 200, r.text
    assert r.json()["office"]["code"] == "gc" and r.json()["status"] == "new"
    assert city.get(tid, "off_a").status_code == 404
    assert city.get(tid, "off_c").status_code == 200
    ev = city.client.get(f"/v1/tickets/{tid}/events", headers=city.h["off_c"]).json()[-1]
    assert ev["kind"] == "transferred" and ev["note"] == "wrong side of the road"
    assert city.act(tid, "transfer", "off_c", target_office="nowhere", note="x").status_code == 422


def test_reporter_confirms_or_reopens(city):
    tid = city.report()
    city.act(tid, "accept", "off_a")
    city.resolve(tid, "off_a", photos=[after_photo()])
    r = city.act(tid, "reopen", "r1", note="still broken")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert r.json()["reopen_count"] == 1 and r.json()["resolution"] is None
    assert city.act(tid, "reopen", "r2", note="x").status_code == 404  # not their report
    city.resolve(tid, "off_a", photos=[after_photo(seed=100)])
    r = city.act(tid, "close", "r1")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["events"][-1]["reason"] == "confirmed"
    assert city.act(tid, "reopen", "sup_d1", note="again").status_code == 200


def test_reopen_window(make_city, session_factory):
    city = make_city(reopen_window_days=1)
    tid = city.report()
    city.act(tid, "accept", "off_a")
    city.resolve(tid, "off_a", photos=[after_photo()])
    with session_factory() as s:
        s.execute(
            update(Ticket).where(Ticket.id == tid).values(resolved_at=utcnow() - timedelta(days=2))
        )
        s.commit()
    r = city.act(tid, "reopen", "r1", note="still broken")
    assert r.status_code == 409 and r.json()["type"].endswith("/reopen-window-expired")


def test_rider_sees_office_not_officer(city):
    tid = city.report()
    city.act(tid, "accept", "off_a", note="on my way")
    events = city.client.get(f"/v1/tickets/{tid}/events", headers=city.h["r1"]).json()
    accepted = events[-1]
    assert accepted["actor"] == {
        "role": "staff",
        "name": None,
        "office": {"code": "ga", "name": "Grid A"},
    }
    assert accepted["note"] == "on my way"
    staff = city.client.get(f"/v1/tickets/{tid}/events", headers=city.h["sup_d1"]).json()[-1]
    assert staff["actor"]["name"] == "Officer Wang"
    assert city.get(tid, "r1").json()["photos"][0]["original_url"] is None
    assert city.get(tid, "r1").json()["assignee"] is None


def test_queue_scope_filters_sort_and_pages(city):
    a1, a2, c1 = city.report(seed=21), city.report(seed=22), city.report(C_SPOT, seed=23)
    light = city.report(category="street_light_out", seed=24)

    def ids(who: str, **params) -> list[int]:
        r = city.client.get("/v1/tickets", params=params, headers=city.h[who])
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    assert ids("off_a") == [a1, a2, light]
    assert ids("off_c") == [c1]
    assert ids("sup_d1") == [a1, a2, light]
    assert ids("sup_city") == [a1, a2, c1, light]
    assert ids("sup_city", sort="-age") == [light, c1, a2, a1]
    assert ids("sup_city", category="street_light_out") == [light]
    assert ids("sup_city", office="d2") == [c1]
    assert ids("sup_city", bbox="113.02,22.50,113.04,22.52") == [c1]
    city.act(a2, "accept", "off_a")
    assert ids("sup_city", status="accepted") == [a2]
    # Same priority: the earliest due first (the street light's SLA is shorter than road damage's).
    due = {t: city.get(t, "admin").json()["due_at"] for t in (a1, a2, c1, light)}
    assert ids("sup_city", sort="priority") == sorted(due, key=lambda t: (due[t], t))
    page1 = city.client.get("/v1/tickets", params={"limit": 2}, headers=city.h["sup_city"]).json()
    page2 = city.client.get(
        "/v1/tickets",
        params={"limit": 2, "cursor": page1["next_cursor"]},
        headers=city.h["sup_city"],
    ).json()
    assert [t["id"] for t in page1["items"] + page2["items"]] == [a1, a2, c1, light]
    assert page2["next_cursor"] is None
    geo = city.client.get("/v1/tickets", params={"format": "geojson"}, headers=city.h["off_c"])
    assert geo.headers["content-type"].startswith("application/geo+json")
    feat = geo.json()["features"][0]
    assert feat["geometry"] == {"type": "Point", "coordinates": [C_SPOT[1], C_SPOT[0]]}
    for params, field in [
        ({"status": "done"}, "status"),
        ({"office": "gc"}, "office"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"created_from": "2026-01-01T00:00:00"}, "created_from"),
        ({"limit": 1000}, "limit"),
    ]:
        r = city.client.get("/v1/tickets", params=params, headers=city.h["off_a"])
        assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], (
            params,
            r.text,
        )


def test_overdue_flag_escalation_and_auto_close(city, session_factory):
    late, done = city.report(seed=31), city.report(seed=32)
    city.act(done, "accept", "off_a")
    city.resolve(done, "off_a", photos=[after_photo(seed=33)])
    with session_factory() as s:
        s.execute(
            update(Ticket).where(Ticket.id == late).values(due_at=utcnow() - timedelta(hours=1))
        )
        s.commit()
    r = city.client.get("/v1/tickets", params={"overdue": True}, headers=city.h["sup_d1"])
    assert [t["id"] for t in r.json()["items"]] == [late]
    assert r.json()["items"][0]["overdue"] is True
    report = jobs.run(session_factory, city.settings, utcnow())
    assert report.overdue_flagged == 1 and report.auto_closed == 0
    assert jobs.run(session_factory, city.settings, utcnow()).overdue_flagged == 0  # once only
    later = utcnow() + timedelta(hours=city.settings.auto_close_after_h + 1)
    assert jobs.run(session_factory, city.settings, later).auto_closed == 1
    t = city.get(done, "admin").json()
    assert t["status"] == "closed" and t["events"][-1]["reason"] == "quiet_period"
    assert t["events"][-1]["actor"]["role"] == "system"


def test_border_ticket_claim_and_escalation(city, session_factory):
    tid = city.report(AB_BORDER, seed=41)
    t = city.get(tid, "admin").json()
    assert t["office"]["code"] == "gb" and [c["code"] for c in t["candidates"]] == ["ga"]
    claims = city.client.get("/v1/tickets/claims", headers=city.h["off_a"]).json()
    assert [c["id"] for c in claims] == [tid]
    assert city.act(tid, "start", "off_a").status_code == 403  # candidates may only claim
    r = city.act(tid, "claim", "off_a")
    assert r.status_code == 200, r.text
    assert r.json()["office"]["code"] == "ga" and r.json()["status"] == "accepted"
    assert city.get(tid, "off_b").status_code == 404
    assert city.client.get("/v1/tickets/claims", headers=city.h["off_a"]).json() == []
    # An unclaimed one escalates to the common parent after the claim period.
    other = city.report(AB_BORDER, seed=42)
    later = utcnow() + timedelta(hours=city.settings.claim_escalation_h + 1)
    assert jobs.run(session_factory, city.settings, later).claims_escalated == 1
    t = city.get(other, "sup_d1").json()
    assert t["office"]["code"] == "d1" and t["events"][-1]["kind"] == "escalated"


def test_patch_category_reroutes_and_priority(city, session_factory):
    tid = city.report(seed=51)
    with session_factory() as s:
        s.execute(
            update(Category)
            .where(Category.code == "traffic_facility")
            .values(route_level="district")
        )
        s.commit()
        sla = s.scalar(select(Category.sla_hours).where(Category.code == "traffic_facility"))
    headers = {**city.h["off_a"], "If-Match": city.etag(tid)}
    r = city.client.patch(
        f"/v1/tickets/{tid}", json={"category": "traffic_facility", "note": "sign"}, headers=headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["category"] == "traffic_facility" and body["office"]["code"] == "d1"
    from datetime import datetime

    created, due = (datetime.fromisoformat(body[k]) for k in ("created_at", "due_at"))
    assert due - created == timedelta(hours=sla)
    assert body["events"][-1]["kind"] == "recategorised"
    headers = {**city.h["sup_d1"], "If-Match": city.etag(tid)}
    r = city.client.patch(f"/v1/tickets/{tid}", json={"priority": 1}, headers=headers)
    assert r.json()["priority"] == 1
    r = city.client.patch(
        f"/v1/tickets/{tid}", json={"priority": 9}, headers={**headers, "If-Match": city.etag(tid)}
    )
    assert r.status_code == 422


def test_prefer_return_minimal_answers_204_with_the_new_etag(city, session_factory):
    from app.events.models import OutboxEvent

    tid = city.report()
    old = city.etag(tid, "off_a")

    def send(method: str, path: str, tag: str, **kw: Any) -> httpx.Response:
        headers = {**city.h["off_a"], "If-Match": tag, "Prefer": "handling=lenient, return=minimal"}
        return city.client.request(method, f"/v1/tickets/{tid}{path}", headers=headers, **kw)

    r = send("POST", "/accept", old)
    assert r.status_code == 204, r.text
    assert r.content == b"" and r.headers["preference-applied"] == "return=minimal"
    tag = r.headers["etag"]
    assert tag != old and tag == city.etag(tid, "off_a")
    # The ETag answered is good for the next write: actions, PATCH and resolve alike.
    r = send("POST", "/start", tag)
    assert r.status_code == 204, r.text
    r = send("PATCH", "", r.headers["etag"], json={"priority": 1})
    assert r.status_code == 204, r.text
    r = send(
        "POST",
        "/resolve",
        r.headers["etag"],
        data={"resolution": "fixed", "note": "patched"},
        files=[("photos", ("a.jpg", after_photo(), "image/jpeg"))],
    )
    assert r.status_code == 204, r.text
    t = city.get(tid, "off_a").json()
    assert t["status"] == "resolved" and t["priority"] == 1
    assert r.headers["etag"] == city.etag(tid, "off_a")
    kinds = [e["kind"] for e in t["events"]]
    assert kinds == ["created", "accepted", "started", "reprioritised", "resolved"]
    # The change's listeners ran as for a full answer: each change is in the outbox.
    with session_factory() as s:
        n = s.scalar(select(func.count()).where(OutboxEvent.ticket_id == tid))
    assert n == len(kinds)
    # A stale tag still gets its problem body; no preference, the ticket as before.
    r = send("POST", "/close", old)
    assert r.status_code == 412 and r.json()["current_status"] == "resolved"
    r = city.client.post(
        f"/v1/tickets/{tid}/comment",
        json={"note": "seen"},
        headers={
            **city.h["off_a"],
            "If-Match": city.etag(tid, "off_a"),
            "Prefer": "return=representation",
        },
    )
    assert r.status_code == 200 and r.json()["events"][-1]["kind"] == "commented"
    assert "preference-applied" not in r.headers
