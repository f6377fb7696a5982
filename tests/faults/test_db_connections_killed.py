"""PostgreSQL connections are terminated while riders submit reports.

The real service (two uvicorn workers) takes concurrent reports; meanwhile every
backend of its database is killed with ``pg_terminate_backend`` a few times.
Clients behave as the phone app does: one Idempotency-Key per report, resent on
every retry after a 5xx or a dropped connection. Whatever the timing, every
acknowledged report must exist exactly once and every failure must be a clean,
retryable answer — never a hang, never a duplicate.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.core.idempotency_models import IdempotencyRecord
from app.reports.models import Report
from tests.conftest import PG_ADMIN_URL
from tests.faults.conftest import MARKS, RIDERS, FaultWorld

pytestmark = MARKS

REPORTS = 120
CLIENTS = 6
KILL_AFTER = (10, 35, 60, 85)  # acknowledged reports before each round of kills
MAX_ATTEMPTS = 10
CLIENT_TIMEOUT_S = 30.0  # a request that takes this long counts as a hang
RETRYABLE = {409, 502, 503, 504}


@dataclass
class Outcome:
    key: str
    rider: int
    status: int | None = None
    report_id: int | None = None
    failures: list[str] = field(default_factory=list)


def submit(
    world: FaultWorld, base_url: str, i: int, acked: list[int], lock: threading.Lock
) -> Outcome:
    out = Outcome(key=str(uuid.uuid4()), rider=i % RIDERS)
    data, files = world.report_form(seed=10_000 + i)
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as client:
        for _ in range(MAX_ATTEMPTS):
            try:
                r = client.post(
                    "/v1/reports",
                    data=data,
                    files=files,
                    headers=world.headers(out.rider, key=out.key),
                )
            except httpx.TimeoutException as exc:
                out.failures.append(f"hang: {type(exc).__name__}")
                return out
            except httpx.TransportError as exc:
                out.failures.append(f"transport: {type(exc).__name__}")
                time.sleep(0.2)
                continue
            if r.status_code in (200, 201):
                out.status, out.report_id = r.status_code, int(r.json()["id"])
                with lock:
                    acked[0] += 1
                return out
            ctype = r.headers.get("content-type", "")
            retry_after = r.headers.get("Retry-After")
            out.failures.append(f"{r.status_code} {ctype} retry-after={retry_after}")
            if r.status_code not in RETRYABLE:
                return out  # a phone would retry a 500 too, but the test fails on it anyway
            # A phone honours Retry-After; capped so the test stays short.
            time.sleep(min(float(retry_after or 1), 0.5))
    return out


def terminate_backends(admin_url: str, database: str) -> int:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).all()
            )
    finally:
        engine.dispose()


def test_connections_killed_under_load_lose_and_duplicate_nothing(fault_world: FaultWorld) -> None:
    world = fault_world
    service = world.start_service(workers=2, name="pg-kill")
    database = make_url(world.db_url).database
    assert database
    acked = [0]
    lock = threading.Lock()
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        for threshold in KILL_AFTER:
            while acked[0] < threshold and not done.is_set():
                time.sleep(0.01)
            if done.is_set():
                return
            killed.append(terminate_backends(PG_ADMIN_URL, database))

    kill_thread = threading.Thread(target=killer, daemon=True)
    kill_thread.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = list(
                pool.map(lambda i: submit(world, service.url, i, acked, lock), range(REPORTS))
            )
    finally:
        done.set()
        kill_thread.join(10)

    # The kills happened during the load and each found connections to end.
    assert len(killed) == len(KILL_AFTER), (killed, service.log_tail())
    assert all(n > 0 for n in killed), killed

    failures = [f for o in outcomes for f in o.failures]
    # Never a hang, never a dropped connection (no process died), never a 500:
    # only 503 problem+json with Retry-After, or 409 "still in progress".
    for failure in failures:
        assert failure.startswith(
            ("503 application/problem+json", "409 application/problem+json")
        ), (
            failure,
            service.log_tail(),
        )
        assert "retry-after=None" not in failure, failure
    # Every report was acknowledged in the end.
    unacked = [o for o in outcomes if o.report_id is None]
    assert not unacked, unacked[:3]

    ids = [o.report_id for o in outcomes]
    assert len(set(ids)) == REPORTS  # no two keys share a report
    # The kills ended this test's own pooled connections too; one returned to
    # the pool under 10 s ago is handed out without a ping, so start afresh.
    world.engine.dispose()
    with world.sessions() as s:
        stored = set(s.scalars(select(Report.id)))
        assert stored == set(ids)  # every acknowledged report exists, and nothing else
        records = dict(
            s.execute(select(IdempotencyRecord.key, IdempotencyRecord.response_status)).all()
        )
    assert records == {o.key: 201 for o in outcomes}

    # A retried key replays its one report.
    retried = [o for o in outcomes if o.failures] or outcomes[:3]
    with httpx.Client(base_url=service.url, timeout=CLIENT_TIMEOUT_S) as client:
        for o in retried:
            data, files = world.report_form(seed=10_000 + outcomes.index(o))
            r = client.post(
                "/v1/reports", data=data, files=files, headers=world.headers(o.rider, key=o.key)
            )
            assert r.status_code == 200 and r.json()["id"] == o.report_id, r.text
        assert client.get("/readyz").status_code == 200
    assert world.count(Report) == REPORTS
    print(
        f"\n{REPORTS} reports, backends killed per round {killed}, "
        f"{len(failures)} failed attempts ({len({o.key for o in outcomes if o.failures})} keys "
        f"retried): {sorted(set(f.split(' retry')[0] for f in failures))}"
    )
