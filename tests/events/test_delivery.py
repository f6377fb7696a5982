"""Webhook delivery against real HTTP receivers on loopback: signatures, retries with
backoff, dead letters, redelivery, and never in the way of the ticket action."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

from app.core.db import utcnow
from app.events import delivery, signing
from app.events.delivery import run_due
from tests.events.conftest import EVENT_SETTINGS, add_webhook, feed
from tests.events.receiver import closed_port, receiver


def test_delivery_is_signed_and_verifiable(city, session_factory, deliveries):
    with receiver() as rec:
        hook = add_webhook(city, rec.url("/in?src=gridfix"))
        tid = city.report()
        now = utcnow()
        report = run_due(session_factory, city.settings, now)
        assert (report.claimed, report.delivered) == (1, 1)
        (got,) = rec.received
    event = feed(city, "admin")["items"][0]
    h = got.headers
    assert got.path == "/in?src=gridfix"
    assert h["Content-Type"] == "application/json" and h["User-Agent"].startswith("gridfix")
    assert h["Gridfix-Event-Id"] == str(event["id"])
    assert h["Gridfix-Event-Kind"] == "ticket.created"
    t = int(now.timestamp())
    assert h["Gridfix-Timestamp"] == str(t)
    # The receiver's side, from the documented recipe alone:
    mac = hmac.new(hook["secret"].encode(), f"{t}.".encode() + got.body, hashlib.sha256)
    assert h["Gridfix-Signature"] == f"t={t},v1={mac.hexdigest()}"
    assert signing.verify(hook["secret"], h["Gridfix-Signature"], got.body, now=t + 10)
    assert not signing.verify("whsec_other", h["Gridfix-Signature"], got.body, now=t)
    assert json.loads(got.body) == event and event["ticket_id"] == tid
    (d,) = deliveries()
    assert (d.status, d.attempts, d.last_status_code) == ("delivered", 1, 200)
    assert d.delivered_at == now
    # Nothing left to do.
    assert run_due(session_factory, city.settings, now + timedelta(days=1)).claimed == 0


def test_retries_back_off_then_deliver(city, session_factory, deliveries):
    with receiver([500, 503]) as rec:
        add_webhook(city, rec.url())
        city.report()
        t0 = utcnow()
        assert run_due(session_factory, city.settings, t0).retrying == 1
        (d,) = deliveries()
        assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, 500)
        assert d.last_error == "HTTP 500: nope"
        assert t0 + timedelta(seconds=10) <= d.next_attempt_at <= t0 + timedelta(seconds=12.5)
        assert run_due(session_factory, city.settings, t0 + timedelta(seconds=9)).claimed == 0
        t1 = t0 + timedelta(seconds=13)
        assert run_due(session_factory, city.settings, t1).retrying == 1
        (d,) = deliveries()
        assert d.attempts == 2 and d.last_status_code == 503
        assert t1 + timedelta(seconds=20) <= d.next_attempt_at <= t1 + timedelta(seconds=25)
        t2 = t1 + timedelta(seconds=26)
        assert run_due(session_factory, city.settings, t2).delivered == 1
        assert len(rec.received) == 3
    (d,) = deliveries()
    assert (d.status, d.attempts, d.last_status_code, d.delivered_at) == ("delivered", 3, 200, t2)
    # Same event, same body every time; each attempt signed at its own time.
    assert len({r.body for r in rec.received}) == 1
    assert len({r.headers["Gridfix-Event-Id"] for r in rec.received}) == 1
    assert len({r.headers["Gridfix-Timestamp"] for r in rec.received}) == 3


def _drive(session_factory, settings, times=8):
    now = utcnow()
    for i in range(times):
        run_due(session_factory, settings, now + timedelta(days=i + 1))


def test_dead_after_max_attempts_then_redelivered(city, session_factory, deliveries):
    with receiver(then=500) as rec:
        hook = add_webhook(city, rec.url())
        city.report()
        _drive(session_factory, city.settings)
        assert len(rec.received) == EVENT_SETTINGS["webhook_max_attempts"] == 4
        (d,) = deliveries()
        assert (d.status, d.attempts, d.last_status_code) == ("dead", 4, 500)
        log = city.client.get(
            f"/v1/webhooks/{hook['id']}/deliveries",
            params={"status": "dead"},
            headers=city.h["admin"],
        ).json()["items"]
        assert [(x["id"], x["status"], x["next_attempt_at"]) for x in log] == [(d.id, "dead", None)]

        rec.then = 200
        r = city.client.post(
            f"/v1/webhooks/{hook['id']}/deliveries/{d.id}/redeliver", headers=city.h["admin"]
        )
        assert r.status_code == 202, r.text
        assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
        assert run_due(session_factory, city.settings, utcnow()).delivered == 1
        (d,) = deliveries()
        assert (d.status, d.attempts) == ("delivered", 1)
        # A delivered one may be sent again too (the partner lost it): at least once.
        city.client.post(
            f"/v1/webhooks/{hook['id']}/deliveries/{d.id}/redeliver", headers=city.h["admin"]
        )
        assert run_due(session_factory, city.settings, utcnow()).delivered == 1
        assert len(rec.received) == 6


def test_unreachable_receiver_is_retried_with_the_error_logged(city, session_factory, deliveries):
    add_webhook(city, f"http://127.0.0.1:{closed_port()}/hook")
    city.report()
    assert run_due(session_factory, city.settings, utcnow()).retrying == 1
    (d,) = deliveries()
    assert d.last_status_code is None and d.last_error.startswith("connection failed")


def test_slow_receiver_times_out(make_city, session_factory, deliveries):
    city = make_city(**{**EVENT_SETTINGS, "webhook_timeout_s": 0.3})
    with receiver(delay_s=2.0) as rec:
        add_webhook(city, rec.url())
        city.report()
        started = time.monotonic()
        assert run_due(session_factory, city.settings, utcnow()).retrying == 1
        assert time.monotonic() - started < 1.5
    (d,) = deliveries()
    assert d.last_error == "timeout after 0.3 s"


def test_redirects_are_not_followed(city, session_factory, deliveries):
    with receiver([302]) as rec:
        add_webhook(city, rec.url())
        city.report()
        run_due(session_factory, city.settings, utcnow())
        assert len(rec.received) == 1
    (d,) = deliveries()
    assert d.last_status_code == 302 and "redirects are not followed" in d.last_error


def test_address_is_checked_again_at_delivery(city, session_factory, deliveries):
    with receiver() as rec:
        add_webhook(city, rec.url())  # allowed when registered (tests allow loopback)
        city.report()
        strict = city.settings.model_copy(update={"outbound_allow_loopback": False})
        assert run_due(session_factory, strict, utcnow()).retrying == 1
        assert rec.received == []
    (d,) = deliveries()
    assert d.last_error == "refused: 127.0.0.1 is a loopback address"


def test_paused_webhooks_keep_their_deliveries_waiting(city, session_factory):
    with receiver() as rec:
        hook = add_webhook(city, rec.url())
        city.report()
        url = f"/v1/webhooks/{hook['id']}"
        city.client.patch(url, json={"active": False}, headers=city.h["admin"])
        assert run_due(session_factory, city.settings, utcnow()).claimed == 0
        city.client.patch(url, json={"active": True}, headers=city.h["admin"])
        assert run_due(session_factory, city.settings, utcnow()).delivered == 1


def test_concurrent_runs_deliver_each_event_once(city, session_factory, db_url):
    with receiver() as rec:
        add_webhook(city, rec.url())
        add_webhook(city, rec.url("/other"))
        for seed in range(1, 6):
            city.report(seed=seed)
        settings = city.settings.model_copy(update={"webhook_batch_size": 2})
        now = utcnow()
        reports = []

        def work():
            reports.append(run_due(session_factory, settings, now, max_batches=10))

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum(r.delivered for r in reports) == 10
        keys = [(r.path, r.headers["Gridfix-Event-Id"]) for r in rec.received]
        assert len(keys) == len(set(keys)) == 10


def test_a_failing_sender_is_recorded_not_fatal(city, session_factory, deliveries):
    add_webhook(city, "http://127.0.0.1:9/hook")
    city.report()

    def broken(claim, timestamp):
        raise RuntimeError("boom")

    assert run_due(session_factory, city.settings, utcnow(), send=broken).retrying == 1
    assert deliveries()[0].last_error == "internal error: RuntimeError"


def test_a_lease_that_ran_out_is_claimed_again(city, session_factory, deliveries):
    """A sender that died mid-attempt: its claim expires and the delivery comes back."""
    add_webhook(city, "http://127.0.0.1:9/hook")
    city.report()
    now = utcnow()
    (claim,) = delivery.claim(session_factory, city.settings, now)  # ... and never finished
    assert delivery.claim(session_factory, city.settings, now) == []
    later = now + timedelta(seconds=delivery.lease_s(city.settings) + 1)
    (again,) = delivery.claim(session_factory, city.settings, later)
    assert (again.delivery_id, claim.attempt, again.attempt) == (claim.delivery_id, 1, 2)


def test_receiver_down_neither_slows_nor_fails_the_ticket_action(make_city, deliveries):
    city = make_city(
        **{**EVENT_SETTINGS, "webhook_worker_interval_s": 0.1, "webhook_timeout_s": 4.0}
    )
    with receiver(delay_s=5.0) as slow:
        add_webhook(city, slow.url())
        add_webhook(city, f"http://127.0.0.1:{closed_port()}/down")
        tid = city.report()
        etag = city.etag(tid)
        started = time.monotonic()
        r = city.act(tid, "accept", "off_a", etag=etag)
        elapsed = time.monotonic() - started
        assert r.status_code == 200 and r.json()["status"] == "accepted"
        assert elapsed < 2.0, elapsed  # a delivery in the request would take 4 s or more
        # Meanwhile the worker tried them, after the commit, on its own thread.
        end = time.monotonic() + 15
        while time.monotonic() < end and not all(d.attempts for d in deliveries()):
            time.sleep(0.05)
    assert all(d.attempts >= 1 for d in deliveries()) and len(deliveries()) == 4


def test_worker_delivers_right_after_the_commit(make_city):
    city = make_city(**{**EVENT_SETTINGS, "webhook_worker_interval_s": 30})
    with receiver() as rec:
        add_webhook(city, rec.url())
        started = time.monotonic()
        city.report()
        rec.wait_for(1, timeout=5)
        # Woken by the commit, not by its 30 s interval.
        assert time.monotonic() - started < 5


def test_with_no_webhook_commits_do_not_wake_the_worker(make_city, monkeypatch):
    """No active webhook: a ticket change has no deliveries, so its commit must not
    send the worker looking for some. A webhook made here counts at once."""
    looks: list[float] = []
    real = delivery.repository.any_due

    def counted(session, now):
        looks.append(time.monotonic())
        return real(session, now)

    monkeypatch.setattr(delivery.repository, "any_due", counted)
    city = make_city(**{**EVENT_SETTINGS, "webhook_worker_interval_s": 30})
    city.report()  # the worker does not know yet: it looks, and finds no webhook
    end = time.monotonic() + 5
    while time.monotonic() < end and not looks:
        time.sleep(0.05)
    assert len(looks) == 1
    for seed in (1, 2, 3):
        city.report(seed=seed)
    time.sleep(0.5)
    assert len(looks) == 1  # three commits with events, no look
    with receiver() as rec:
        add_webhook(city, rec.url())
        started = time.monotonic()
        city.report(seed=4)
        rec.wait_for(1, timeout=5)
        assert time.monotonic() - started < 5  # the commit woke it, not the interval
