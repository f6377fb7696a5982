"""Pure pieces: the stable horizon, backoff, signatures, filters, SSE framing."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from app.auth.scope import EVERYTHING, NOTHING, OfficeScope
from app.events import signing
from app.events.delivery import backoff_s
from app.events.enums import EVENT_KINDS, public_kind
from app.events.feed import EventFilter, FeedItem, event_json, sse_event, stable_horizon

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=10)
OLD = NOW - timedelta(minutes=1)
YOUNG = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("rows", "after", "expected"),
    [
        ([], 5, 5),
        ([(6, YOUNG), (7, YOUNG)], 5, 7),  # contiguous: young rows are fine
        ([(7, YOUNG), (8, YOUNG)], 5, 5),  # 6 missing, 7 young: 6 may still commit
        ([(6, YOUNG), (8, YOUNG), (9, OLD)], 5, 6),  # stop at the young gap
        ([(7, OLD), (8, YOUNG)], 5, 8),  # 6 missing but 7 is old: 6 rolled back
        ([(6, OLD), (9, OLD), (11, YOUNG)], 5, 9),  # old gap skipped, young one held
        ([(1, YOUNG)], 0, 1),
    ],
)
def test_stable_horizon(rows, after, expected):
    assert stable_horizon(rows, after, NOW, GRACE) == expected


def test_stable_horizon_with_zero_grace_skips_every_gap():
    assert stable_horizon([(9, NOW)], 5, NOW, timedelta(0)) == 9


def test_backoff_doubles_from_base_caps_and_jitters_up_to_a_quarter():
    assert [backoff_s(n, 10, 3600, 0.0) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    assert backoff_s(20, 10, 3600, 0.0) == 3600
    assert backoff_s(100, 10, 3600, 0.0) == 3600  # no overflow
    assert backoff_s(1, 10, 3600, 0.999) == pytest.approx(12.5, abs=0.01)
    rng = random.Random(1)
    delays = [backoff_s(3, 10, 3600, rng.random()) for _ in range(200)]
    assert 40 <= min(delays) < max(delays) <= 50


def test_signature_matches_the_documented_recipe():
    import hashlib
    import hmac

    body = b'{"id":1,"kind":"ticket.created"}'
    header = signing.header("whsec_test", 1764504000, body)
    expected = hmac.new(b"whsec_test", b"1764504000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1764504000,v1={expected}"


def test_verify_accepts_good_and_refuses_tampered_stale_or_foreign():
    body = b'{"id":1}'
    header = signing.header("s1", 1000, body)
    assert signing.verify("s1", header, body, now=1000)
    assert signing.verify("s1", header, body, now=1299)
    assert not signing.verify("s1", header, body, now=1301)  # replayed too late
    assert not signing.verify("s1", header, b'{"id":2}', now=1000)
    assert not signing.verify("s2", header, body, now=1000)
    assert not signing.verify("s1", "v1=" + header.split("v1=")[1], body, now=1000)  # no t
    assert not signing.verify("s1", "garbage", body, now=1000)
    # Several v1 values (a rotation): any match is enough.
    other = signing.signature("old", 1000, body)
    assert signing.verify("s1", f"{header},v1={other}", body, now=1000)


def test_secrets_are_prefixed_and_unguessable():
    a, b = signing.new_secret(), signing.new_secret()
    assert a.startswith("whsec_") and len(a) > 40 and a != b


def test_event_filter_scopes_offices_and_kinds():
    officer = EventFilter(scope=OfficeScope(office_id=4))
    assert officer.matches(4, "/1/2/4/", "ticket.created")
    assert not officer.matches(5, "/1/2/5/", "ticket.created")
    sup = EventFilter(scope=OfficeScope(path_prefix="/1/2/"))
    assert sup.matches(4, "/1/2/4/", "x") and sup.matches(2, "/1/2/", "x")
    assert not sup.matches(3, "/1/3/", "x")
    assert not sup.matches(22, "/1/22/", "x")  # a prefix of digits is not a subtree
    narrowed = EventFilter(
        scope=EVERYTHING, office_path="/1/3/", kinds=frozenset({"ticket.closed"})
    )
    assert narrowed.matches(6, "/1/3/6/", "ticket.closed")
    assert not narrowed.matches(6, "/1/3/6/", "ticket.created")
    assert not narrowed.matches(4, "/1/2/4/", "ticket.closed")
    assert not EventFilter(scope=NOTHING).matches(1, "/1/", "ticket.closed")


def test_event_json_is_byte_stable_and_sse_frames_it_on_one_line():
    payload = {"kind": "ticket.created", "b": "line\nbreak", "a": 1}
    text = event_json(7, payload)
    assert text == event_json(7, dict(reversed(list(payload.items()))))
    assert json.loads(text) == {**payload, "id": 7}
    frame = sse_event(FeedItem(7, 1, "/1/", "ticket.created", text))
    assert frame == f"id: 7\nevent: ticket.created\ndata: {text}\n\n"
    assert frame.count("\n") == 4


def test_kinds_are_namespaced_ticket_events():
    assert public_kind("resolved") == "ticket.resolved"
    assert "ticket.created" in EVENT_KINDS and "ticket.reprioritised" in EVENT_KINDS
    assert all(len(k) <= 24 for k in EVENT_KINDS)  # the column's width
