"""GET /v1/events/stream: live Server-Sent Events, resumable, scoped, bounded."""

from __future__ import annotations

import time

from tests.events.conftest import EVENT_SETTINGS, feed
from tests.events.sse import StreamReader
from tests.tickets.conftest import A_SPOT


def _hub(city):
    return city.client.app.state.events.hub


def _wait_until(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_live_changes_arrive_as_they_commit(city):
    with StreamReader(city.client, city.h["admin"]) as stream:
        tid = city.report()
        city.act(tid, "accept", "off_a")
        created, accepted = stream.events(2)
    items = feed(city, "admin")["items"]
    assert [(f.id, f.event) for f in (created, accepted)] == [
        (items[0]["id"], "ticket.created"),
        (items[1]["id"], "ticket.accepted"),
    ]
    assert created.data == items[0] and accepted.data["ticket_id"] == tid


def test_resume_with_last_event_id_gets_only_later_events(city):
    tid = city.report()
    with StreamReader(city.client, city.h["admin"], after=0) as stream:
        (first,) = stream.events(1)  # history from the start: ?after=0
        city.act(tid, "accept", "off_a")
        (second,) = stream.events(1)
    assert (first.event, second.event) == ("ticket.created", "ticket.accepted")
    city.act(tid, "start", "off_a")
    city.act(tid, "comment", "off_a", note="on it")

    # Nobody streams now: the hub resumes this one from the database.
    headers = {**city.h["admin"], "Last-Event-ID": str(first.id)}
    with StreamReader(city.client, headers, after=0) as resumed:  # the header wins
        got = resumed.events(3)
        assert resumed.no_events_for(0.3) is not None
    assert [f.event for f in got] == ["ticket.accepted", "ticket.started", "ticket.commented"]
    assert [f.id for f in got] == sorted(f.id for f in got) and got[0].id == second.id

    # While another stream keeps the hub's buffer warm, resuming is served from memory.
    with StreamReader(city.client, city.h["admin"]) as keeper:
        city.act(tid, "comment", "off_a", note="again")
        (live,) = keeper.events(1)
        with StreamReader(city.client, {**city.h["admin"], "Last-Event-ID": str(got[-1].id)}) as r:
            (again,) = r.events(1)
    assert again.id == live.id and again.event == "ticket.commented"


def test_stream_is_scoped_like_the_feed(city):
    with (
        StreamReader(city.client, city.h["off_b"]) as sibling,
        StreamReader(city.client, city.h["sup_d1"], kind="ticket.accepted") as accepted_only,
        StreamReader(city.client, city.h["off_a"]) as own,
    ):
        tid = city.report(A_SPOT)
        city.act(tid, "accept", "off_a")
        assert [f.event for f in own.events(2)] == ["ticket.created", "ticket.accepted"]
        assert [f.event for f in accepted_only.events(1)] == ["ticket.accepted"]
        assert sibling.no_events_for(0.5) is not None


def test_heartbeats_keep_the_connection_alive(city):
    with StreamReader(city.client, city.h["viewer"]) as stream:
        comments = stream.no_events_for(0.9)
    assert comments.count("keep-alive") >= 2


def test_disconnect_unsubscribes(city):
    hub = _hub(city)
    with StreamReader(city.client, city.h["admin"]), StreamReader(city.client, city.h["viewer"]):
        assert hub.subscriber_count() == 2
    assert _wait_until(lambda: hub.subscriber_count() == 0)


def test_streams_end_when_the_server_shuts_down(city):
    hub = _hub(city)
    with StreamReader(city.client, city.h["admin"]) as stream:
        started = time.monotonic()
        hub.close()  # what the lifespan (or SIGTERM, under uvicorn) does first
        assert stream.ended.wait(3) and time.monotonic() - started < 2
        assert "bye" in [c for f in list(stream.frames.queue) for c in f.comments]
    # A stream opened during shutdown ends at once.
    with StreamReader(city.client, city.h["admin"]) as late:
        assert late.ended.wait(2)
    assert hub.subscriber_count() == 0


def test_streams_end_after_their_maximum_lifetime(make_city):
    city = make_city(**{**EVENT_SETTINGS, "events_stream_max_s": 0.5})
    with StreamReader(city.client, city.h["admin"]) as stream:
        assert stream.ended.wait(3)


def test_bad_last_event_id_and_too_many_streams(make_city):
    city = make_city(**{**EVENT_SETTINGS, "events_max_streams": 1})
    for bad in ("abc", "-1", "1e3", str(2**63)):
        r = city.client.get("/v1/events/stream", headers={**city.h["admin"], "Last-Event-ID": bad})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Last-Event-ID"
    with StreamReader(city.client, city.h["admin"]):
        r = city.client.get("/v1/events/stream", headers=city.h["admin"])
        assert r.status_code == 503 and r.headers["retry-after"]


def test_hub_serves_from_its_buffer_and_knows_when_it_cannot(city, session_factory):
    import asyncio

    from app.auth.scope import EVERYTHING
    from app.events.feed import EventFilter
    from app.events.hub import EventHub

    everything = EventFilter(scope=EVERYTHING)
    tid = city.report()
    hub = EventHub(session_factory, city.settings, buffer_size=2)
    loop = asyncio.new_event_loop()
    try:
        sub, head = hub.subscribe(loop)
        assert head == feed(city, "admin")["next_after"]
        assert hub.since(head, everything) == ([], head)
        assert hub.since(head - 1, everything) is None  # older than the buffer: database
        for action in ("accept", "start"):
            city.act(tid, action, "off_a")
        city.act(tid, "comment", "off_a", note="x")
        assert _wait_until(lambda: hub.horizon == feed(city, "admin")["next_after"])
        ids = [e["id"] for e in feed(city, "admin", after=head)["items"]]
        assert hub.since(head, everything) is None  # the first of three fell out
        items, upto = hub.since(ids[0], everything)
        assert [i.id for i in items] == ids[1:] and upto == ids[-1]
        hub.unsubscribe(sub)
    finally:
        hub.close()
        loop.close()


def test_under_uvicorn_workers_events_cross_processes_and_sigterm_ends_streams(city, db_url):
    """Two uvicorn worker processes: a change made elsewhere reaches a stream by
    polling, and SIGTERM ends open streams at once instead of after the 30 s
    graceful timeout."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRIDFIX_ENVIRONMENT": "test",
        "GRIDFIX_DATABASE_URL": db_url,
        "GRIDFIX_STORAGE_URL": city.settings.storage_url,
        "GRIDFIX_SECRET_KEY": city.settings.secret_key.get_secret_value(),
        "GRIDFIX_EVENTS_POLL_INTERVAL_S": "0.1",
        "GRIDFIX_EVENTS_HEARTBEAT_S": "0.5",
        "GRIDFIX_BACKGROUND_WORKERS": "false",
        "GRIDFIX_JOBS_INTERVAL_S": "0",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--timeout-graceful-shutdown",
            "30",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_until(lambda: _up(httpx, base), timeout=60), "uvicorn did not start"
        with httpx.Client(base_url=base, timeout=10) as http:
            stream = StreamReader(http, city.h["viewer"]).__enter__()
            tid = city.report()  # in this process; the stream is served by another
            (created,) = stream.events(1)
            assert created.event == "ticket.created" and created.data["ticket_id"] == tid
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert stream.ended.wait(5), "the stream outlived SIGTERM"
            stream.stop()
        server.wait(15)
        assert time.monotonic() - started < 10
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)
        assert server.stderr is not None
        server.stderr.close()


def _up(httpx, base):
    try:
        return httpx.get(base + "/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
