"""The server process is SIGKILLed with reports half done.

Three reports are in flight when the process dies: one still uploading its body,
two whose originals are already in the bucket but whose transaction has not
committed (held at the report INSERT by a table lock the test takes — the
real store phase, paused between ``put`` and ``INSERT``). After a restart the
phones retry two of them with their keys; the third phone gives up. The retries
make exactly one report each, and ``gridfix sweep`` then removes the abandoned
original and nothing that a row references.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text

from app.core.idempotency_models import IdempotencyRecord
from app.photos.images import content_key
from app.photos.service import original_key
from app.reports.models import Report
from tests.faults.conftest import LAT, LON, MARKS, FaultWorld
from tests.support.faults import ROOT, HeldBody, multipart, poll, wait_in_flight
from tests.support.photos import jpeg

pytestmark = MARKS


def post(url: str, headers: dict[str, str], content: Any, ctype: str, length: int) -> Any:
    """Send one report; return the response or the transport error the client saw."""
    try:
        return httpx.post(
            url + "/v1/reports",
            content=content,
            headers={**headers, "Content-Type": ctype, "Content-Length": str(length)},
            timeout=60,
        )
    except httpx.TransportError as exc:
        return exc


def waiting_on_lock(world: FaultWorld) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE :insert"
                ),
                {"insert": f"INSERT INTO {Report.__tablename__} %"},
            ).scalar_one()
        )


def busy_backends(world: FaultWorld) -> int:
    """Other connections to the app database that are inside a statement or transaction."""
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            ).scalar_one()
        )


def test_sigkill_mid_report_then_retry_and_sweep(fault_world: FaultWorld) -> None:
    world = fault_world
    service = world.start_service(workers=1, name="sigkill")
    photos = {
        name: jpeg(lat=LAT, lon=LON, size=(160, 120), seed=seed)
        for name, seed in (("uploading", 31), ("stored", 32), ("abandoned", 33))
    }
    keys = {name: str(uuid.uuid4()) for name in photos}
    bodies = {
        name: multipart(
            {"category": "road_damage", "lat": str(LAT), "lon": str(LON)},
            [("photos", f"{name}.jpg", data)],
        )
        for name, data in photos.items()
    }
    results: dict[str, Any] = {}

    def send(name: str, content: Any) -> None:
        body, ctype = bodies[name]
        results[name] = post(service.url, world.headers(key=keys[name]), content, ctype, len(body))

    held = HeldBody(bodies["uploading"][0])
    # Hold every new report row (reads go on): requests store their originals,
    # then wait for the lock inside their write transaction.
    lock_conn = world.engine.connect()
    lock_tx = lock_conn.begin()
    lock_conn.execute(text(f"LOCK TABLE {Report.__tablename__} IN EXCLUSIVE MODE"))
    threads = [
        threading.Thread(target=send, args=("uploading", held)),
        threading.Thread(target=send, args=("stored", bodies["stored"][0])),
        threading.Thread(target=send, args=("abandoned", bodies["abandoned"][0])),
    ]
    try:
        for t in threads:
            t.start()
        poll("two reports waiting to commit", lambda: waiting_on_lock(world) == 2, 60)
        stored = {original_key(content_key(photos[n])) for n in ("stored", "abandoned")}
        assert world.objects() == stored  # written to the bucket, no row yet
        assert held.first_half_sent.wait(10)
        wait_in_flight(service.port, 3)

        os.kill(service.proc.pid, signal.SIGKILL)
        assert service.proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        held.release()
        lock_tx.rollback()
        lock_conn.close()
        for t in threads:
            t.join(30)
    # Every phone saw its connection drop; none got an answer.
    assert all(isinstance(r, httpx.TransportError) for r in results.values()), results
    # The dead process's transactions end with their connections: nothing committed.
    poll("the dead process's transactions ended", lambda: busy_backends(world) == 0, 30)
    assert world.count(Report) == 0
    assert world.count(IdempotencyRecord) == 0
    assert world.objects() == stored  # the orphans the sweeper is for

    service = world.start_service(workers=1, name="sigkill-restarted")
    first = {}
    for name in ("uploading", "stored"):  # the third phone never retries
        body, ctype = bodies[name]
        r = post(service.url, world.headers(key=keys[name]), body, ctype, len(body))
        assert r.status_code == 201, r.text
        first[name] = r.json()["id"]
        again = post(service.url, world.headers(key=keys[name]), body, ctype, len(body))
        assert again.status_code == 200 and again.json()["id"] == first[name], again.text
    with world.sessions() as s:
        assert sorted(s.scalars(select(Report.id))) == sorted(first.values())
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 2

    poll("derivatives made", lambda: world.pending_derivatives() == 0, 60)
    sweep = subprocess.run(
        [sys.executable, "-m", "app.cli", "sweep", "--grace-minutes", "0"],
        env={**os.environ, **world.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sweep.returncode == 0, sweep.stderr
    assert "orphans deleted 1," in sweep.stdout, sweep.stdout

    abandoned = original_key(content_key(photos["abandoned"]))
    left = world.objects()
    assert abandoned not in left
    assert left == world.referenced_keys()  # no orphan, nothing referenced missing
    assert len(left) == 2 * 3  # two photos: original, display, thumb
    # The retried reports' photos still serve.
    for report_id in first.values():
        got = httpx.get(f"{service.url}/v1/reports/{report_id}", headers=world.headers())
        assert got.status_code == 200
        assert httpx.get(got.json()["photos"][0]["display_url"]).status_code == 200
