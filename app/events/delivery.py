"""Webhook delivery: claim due deliveries, POST them signed, record the outcome.

At least once: an attempt is counted and leased when claimed, in its own short
transaction; the POST happens with no transaction open; the outcome is written
in another. A sender that dies mid-attempt leaves the lease to run out and the
delivery comes back. Receivers must be idempotent on ``Gridfix-Event-Id``.

2xx → ``delivered``. Anything else (status, timeout, refused address) → retried
after ``base · 2^(attempt-1)`` seconds (capped, plus up to 25 % jitter so a
recovering receiver is not hit by every retry at once), until
``webhook_max_attempts`` attempts → ``dead``. A redelivery resets it to pending.

:func:`run_due` is the unit of work — called by :class:`DeliveryWorker` in each
API process and callable from a CLI or a test with a ``now`` of its choosing.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.db import mark_writer, utcnow
from app.events import outbox, repository, sender, signing
from app.events.enums import DeliveryStatus
from app.events.repository import Claim

log = logging.getLogger("gridfix.events.delivery")

JITTER = 0.25
Sender = Callable[[Claim, int], sender.Outcome]


def backoff_s(attempt: int, base_s: float, max_s: float, rand: float) -> float:
    """Seconds before the attempt after ``attempt`` (1-based); ``rand`` in [0, 1)."""
    exponent = min(attempt - 1, 30)
    delay = min(max_s, base_s * float(2**exponent))
    return delay * (1 + JITTER * rand)


def headers_for(claim: Claim, timestamp: int) -> dict[str, str]:
    body = claim.body.encode()
    return {
        "Gridfix-Event-Id": str(claim.event_id),
        "Gridfix-Event-Kind": claim.kind,
        "Gridfix-Delivery-Id": str(claim.delivery_id),
        "Gridfix-Timestamp": str(timestamp),
        "Gridfix-Signature": signing.header(claim.secret, timestamp, body),
    }


def http_sender(settings: Settings) -> Sender:
    def send(claim: Claim, timestamp: int) -> sender.Outcome:
        return sender.post(
            claim.url,
            claim.body.encode(),
            headers_for(claim, timestamp),
            timeout_s=settings.webhook_timeout_s,
            allow_loopback=settings.outbound_allow_loopback,
        )

    return send


@dataclass(slots=True)
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def lease_s(settings: Settings) -> float:
    """How long a claimed batch is ours: every send of it, with room to spare."""
    rounds = math.ceil(settings.webhook_batch_size / settings.webhook_concurrency)
    return rounds * (settings.webhook_timeout_s + 5) + 30


def claim(factory: sessionmaker[Session], settings: Settings, now: datetime) -> list[Claim]:
    with factory() as s:
        # Look before taking a write lock: most polls find nothing, and on SQLite
        # a claim locks out every other writer for its (short) duration.
        if not repository.any_due(s, now):
            return []
    with factory() as s:
        mark_writer(s)  # SQLite: BEGIN IMMEDIATE, a short exclusive claim
        claims = repository.claim_due(
            s, now, now + timedelta(seconds=lease_s(settings)), settings.webhook_batch_size
        )
        s.commit()
    return claims


def _outcome_values(
    c: Claim, outcome: sender.Outcome, settings: Settings, now: datetime, rand: float
) -> tuple[DeliveryStatus, dict[str, object]]:
    values: dict[str, object] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.ok:
        status = DeliveryStatus.delivered
        values |= {"delivered_at": now}
    elif c.attempt >= settings.webhook_max_attempts:
        status = DeliveryStatus.dead
    else:
        status = DeliveryStatus.pending
        delay = backoff_s(
            c.attempt, settings.webhook_retry_base_s, settings.webhook_retry_max_s, rand
        )
        values |= {"next_attempt_at": now + timedelta(seconds=delay)}
    values["status"] = status.value
    return status, values


def run_due(
    factory: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    *,
    send: Sender | None = None,
    rng: random.Random | None = None,
    max_batches: int = 1,
) -> DeliveryReport:
    """Claim and attempt what is due at ``now`` (up to ``max_batches`` batches)."""
    send = send or http_sender(settings)
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    report = DeliveryReport()
    for _ in range(max_batches):
        claims = claim(factory, settings, now)
        if not claims:
            break
        report.claimed += len(claims)
        timestamp = int(now.timestamp())
        workers = max(1, min(settings.webhook_concurrency, len(claims)))
        with ThreadPoolExecutor(workers, thread_name_prefix="gridfix-webhook") as pool:
            outcomes = list(
                pool.map(functools.partial(_attempt, send, timestamp=timestamp), claims)
            )
        with factory() as s:
            mark_writer(s)
            for c, outcome in zip(claims, outcomes, strict=True):
                status, values = _outcome_values(c, outcome, settings, now, rng.random())
                if not repository.finish_attempt(s, c, values):
                    continue  # reset by a redelivery meanwhile: that one wins
                if status is DeliveryStatus.delivered:
                    report.delivered += 1
                elif status is DeliveryStatus.dead:
                    report.dead += 1
                    log.warning(
                        "webhook %s: delivery %s of event %s is dead after %s attempts: %s",
                        c.webhook_id,
                        c.delivery_id,
                        c.event_id,
                        c.attempt,
                        outcome.error,
                    )
                else:
                    report.retrying += 1
            s.commit()
        if len(claims) < settings.webhook_batch_size:
            break
    return report


def _attempt(send: Sender, c: Claim, *, timestamp: int) -> sender.Outcome:
    try:
        return send(c, timestamp)
    except Exception as exc:  # a bug in one send must not lose the batch's outcomes
        log.exception("webhook %s: sending delivery %s failed", c.webhook_id, c.delivery_id)
        return sender.Outcome(False, None, f"internal error: {type(exc).__name__}")


class DeliveryWorker:
    """A thread per API process: runs :func:`run_due` every ``interval_s`` seconds,
    and at once after a local commit that wrote events (or a redelivery).

    A commit's events can only have deliveries when some webhook is active, so
    while none is, commits do not wake the worker: with no partners subscribed,
    every ticket change would otherwise cost a look for due deliveries (a thread
    wake-up and a read) for nothing. The worker checks for active webhooks at
    most once an interval; a webhook created or changed in this process counts
    at once (:func:`targets_changed`), one made in another process within an
    interval, and its deliveries wait at most that long.
    """

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self._factory = factory
        self._settings = settings
        self._interval = settings.webhook_worker_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._targets = True  # unknown until the first look: wake as if there were
        self._generation = 0  # bumped by targets_changed; a look older than it is stale
        self._looked_at = -math.inf

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        outbox.add_waiter(self._committed)
        _workers.add(self)
        self._thread = threading.Thread(target=self._run, name="gridfix-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _committed(self) -> None:
        """A local commit wrote events: look at once, if they can have deliveries."""
        if self._targets:
            self._wake.set()

    def _targets_may_exist(self) -> None:
        self._generation += 1
        self._targets = True
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        outbox.remove_waiter(self._committed)
        _workers.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout or self._settings.webhook_timeout_s + 5)
            self._thread = None

    def _look_for_targets(self) -> None:
        now = time.monotonic()
        if now - self._looked_at < self._interval:
            return
        generation = self._generation
        with self._factory() as s:
            found = repository.any_active_webhook(s)
        self._looked_at = now
        if generation == self._generation:  # else a change came in meanwhile: keep True
            self._targets = found

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._look_for_targets()
                run_due(self._factory, self._settings, utcnow(), max_batches=5)
            except Exception:
                log.exception("webhook delivery run failed")


# This process's running workers, told when a webhook is created or changed.
_workers: weakref.WeakSet[DeliveryWorker] = weakref.WeakSet()
_TARGETS_CHANGED = "gridfix.events.webhooks_changed"  # Session.info flag


def targets_changed(session: Session) -> None:
    """A webhook was created or changed in ``session``: once it commits, this
    process's workers are woken by commits again until they look for themselves."""
    session.info[_TARGETS_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_TARGETS_CHANGED, False):
        for worker in list(_workers):
            worker._targets_may_exist()


def _after_rollback(session: Session) -> None:
    session.info.pop(_TARGETS_CHANGED, None)


if not sa_event.contains(Session, "after_commit", _after_commit):
    sa_event.listen(Session, "after_commit", _after_commit)
    sa_event.listen(Session, "after_rollback", _after_rollback)
