"""SIGTERM (a deploy, a scale-down) lets in-flight requests finish.

Slow phones are mid-upload when the server is told to stop: each upload still
completes and gets its 201, new connections are no longer served, and the
process exits within its graceful-shutdown timeout.

With one worker the listening socket closes at once, so a new connection is
refused. With several, uvicorn's supervisor keeps the shared socket open until
the workers are done: the kernel still completes new handshakes but no worker
accepts them, so they get no answer (and a reset when the supervisor exits).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from app.reports.models import Report
from tests.faults.conftest import LAT, LON, MARKS, FaultWorld
from tests.support.faults import HeldBody, multipart, poll, wait_in_flight
from tests.support.photos import jpeg

pytestmark = MARKS

IN_FLIGHT = 3


def not_served(url: str, *, refused_only: bool) -> bool:
    """True when a new request gets no answer: refused, or (several workers) left unaccepted."""
    try:
        httpx.get(url + "/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return not refused_only
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_in_flight_uploads_and_serves_no_new_ones(
    fault_world: FaultWorld, workers: int
) -> None:
    world = fault_world
    service = world.start_service(workers=workers, name="sigterm")
    held: list[HeldBody] = []
    results: dict[int, Any] = {}
    threads = []
    for i in range(IN_FLIGHT):
        body, ctype = multipart(
            {"category": "road_damage", "lat": str(LAT), "lon": str(LON)},
            [("photos", f"slow{i}.jpg", jpeg(lat=LAT, lon=LON, size=(160, 120), seed=40 + i))],
        )
        h = HeldBody(body)
        held.append(h)
        headers = {
            **world.headers(i % len(world.tokens), key=str(uuid.uuid4())),
            "Content-Type": ctype,
            "Content-Length": str(len(body)),
        }

        def send(i: int = i, h: HeldBody = h, headers: dict[str, str] = headers) -> None:
            try:
                results[i] = httpx.post(
                    service.url + "/v1/reports", content=h, headers=headers, timeout=60
                )
            except httpx.HTTPError as exc:
                results[i] = exc

        threads.append(threading.Thread(target=send))
    try:
        for t in threads:
            t.start()
        for h in held:
            assert h.first_half_sent.wait(10)
        wait_in_flight(service.port, IN_FLIGHT)

        service.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        # New requests go unserved while the uploads are still half sent.
        poll(
            "new connections not served",
            lambda: not_served(service.url, refused_only=workers == 1),
            15,
        )
        assert service.proc.poll() is None
    finally:
        for h in held:
            h.release()
        for t in threads:
            t.join(60)

    for i in range(IN_FLIGHT):
        r = results[i]
        assert isinstance(r, httpx.Response), r
        assert r.status_code == 201, r.text
        assert r.headers.get("connection") == "close"  # no keep-alive past shutdown
    # Lifespan shutdown (background threads, pool) adds a little to the request drain.
    code = service.proc.wait(timeout=service.graceful_s + 15)
    assert time.monotonic() - stopped_at < service.graceful_s + 15
    # A lone uvicorn server re-raises the signal after a clean shutdown ("killed by
    # SIGTERM" is its normal end); the multi-worker supervisor exits 0.
    expected = (0, -signal.SIGTERM) if workers == 1 else (0,)
    assert code in expected, (code, service.log_tail())
    log = service.log_tail(20_000)
    assert "Application shutdown complete" in log, log
    assert "Traceback" not in log, log
    assert world.count(Report) == IN_FLIGHT
