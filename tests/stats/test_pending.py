"""Pending rollup changes (PostgreSQL): ticket changes made in a request leave
their deltas pending; folds add each exactly once; reads fold before they
read; a rebuild keeps folds out and drops what it recounts."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, insert, select, text

from app.core.db import mark_writer, utcnow
from app.stats import pending
from app.stats.buckets import stats_timezone
from app.stats.contrib import Deltas
from app.stats.models import ROLLUPS, stats_pending, stats_version
from app.stats.rebuild import rebuild
from app.stats.repository import table_rows
from app.tickets import hooks, service
from app.tickets.enums import Action, ActorKind
from app.tickets.models import Ticket
from tests.stats.scenario import actor_of, populate


def _rollups(s):
    return {t.name: table_rows(s, t) for t in ROLLUPS}


def _pending(s) -> int:
    return s.scalar(select(func.count()).select_from(stats_pending))


def _version(s) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(stats_version.c.version), 0))))


def _pg(session_factory) -> bool:
    return session_factory.kw["bind"].dialect.name == "postgresql"


@pytest.fixture
def pg_only(session_factory):
    if not _pg(session_factory):
        pytest.skip("PostgreSQL only: on SQLite changes write the rollups directly")


def _ticket(rng: random.Random) -> SimpleNamespace:
    created = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(40_000))
    status = rng.choice(["new", "accepted", "in_progress", "resolved", "closed", "rejected"])
    done = status in {"resolved", "closed"}
    return SimpleNamespace(
        office_id=rng.choice([3, 4]),
        category_id=rng.choice([1, 2]),
        status=status,
        resolution="fixed" if done else None,
        resolved_on_time=rng.random() < 0.5 if done else None,
        reopen_count=rng.randrange(2),
        lat=22.5 + rng.random() / 50,
        lon=113.0 + rng.random() / 50,
        created_at=created,
        due_at=created + timedelta(hours=rng.randrange(1, 72)),
        first_response_at=created + timedelta(hours=1) if status != "new" else None,
        resolved_at=created + timedelta(hours=5) if done else None,
    )


def _change(rng: random.Random) -> tuple[Deltas, set[int]]:
    d = Deltas(stats_timezone())
    path = [1, rng.choice([2, 5]), rng.choice([3, 4])]
    d.add_ticket(_ticket(rng), rng.choice([1, -1]), path)
    d.add_flow("accepted", datetime(2026, 11, 20, 3, tzinfo=UTC), 1, 1, path)
    d = d.nonzero()
    return d, d.offices()


def test_encoded_changes_merge_to_their_sum():
    """What a fold adds for many pending rows is what adding each change's
    deltas one by one gives; the offices to bump are their union."""
    rng = random.Random(7)
    changes = [_change(rng) for _ in range(25)]
    want = Deltas(stats_timezone())
    want_bump: set[int] = set()
    for d, bump in changes:
        for name in ("cohort", "flow"):
            for key, row in getattr(d, name).items():
                into = getattr(want, name).setdefault(key, {})
                for c, x in row.items():
                    into[c] = into.get(c, 0) + x
        for name in ("backlog", "due", "hotspot"):
            table = getattr(want, name)
            for key, n in getattr(d, name).items():
                table[key] = table.get(key, 0) + n
        want_bump |= bump
    got = Deltas(stats_timezone())
    got_bump: set[int] = set()
    for d, bump in changes:
        got_bump |= pending.merge(got, json.loads(pending.encode(d, bump)))
    assert got.nonzero() == want.nonzero()
    assert got_bump == want_bump == {1, 2, 3, 4, 5}
    assert not got.nonzero().empty


def _accept_held(session_factory, settings, *, commit: bool = True) -> int:
    """Accept the oldest new ticket the way a request does (listeners at the commit)."""
    with session_factory() as s:
        mark_writer(s)
        t = s.scalars(select(Ticket).where(Ticket.status == "new").order_by(Ticket.id)).first()
        assert t is not None
        hooks.defer(s)
        service.act(
            s,
            t,
            actor=actor_of(s, "root"),
            kind=ActorKind.admin,
            req=service.ActRequest(Action.accept),
            settings=settings,
            now=utcnow(),
        )
        if commit:
            s.commit()
        else:
            s.rollback()
        return t.id


def test_a_held_change_is_pending_until_folded_then_equals_a_rebuild(
    pg_only, stats_city, session_factory
):
    populate(session_factory, stats_city.settings, seed=3, tickets=30, days=3)
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Ticket.status == "new")) >= 4
        before, version = _rollups(s), _version(s)
    for _ in range(3):
        _accept_held(session_factory, stats_city.settings)
    _accept_held(session_factory, stats_city.settings, commit=False)
    with session_factory() as s:
        assert _pending(s) == 3  # the rolled-back change left nothing
        assert _rollups(s) == before and _version(s) == version
    assert pending.fold_all(session_factory) == 3
    with session_factory() as s:
        assert _pending(s) == 0
        folded = _rollups(s)
        assert folded != before and _version(s) > version
        mark_writer(s)
        rebuild(s)
        assert _rollups(s) == folded
        s.rollback()


def test_concurrent_folds_add_each_change_exactly_once(pg_only, stats_city, session_factory):
    populate(session_factory, stats_city.settings, seed=4, tickets=30, days=3)
    with session_factory() as s:
        new = s.scalar(select(func.count()).where(Ticket.status == "new"))
    assert new >= 12
    for _ in range(12):
        _accept_held(session_factory, stats_city.settings)
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def folder() -> None:
        try:
            start.wait()
            counts.append(pending.fold_all(session_factory, limit=2))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=folder) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(counts) == 12
    with session_factory() as s:
        assert _pending(s) == 0
        folded = _rollups(s)
        mark_writer(s)
        rebuild(s)
        assert _rollups(s) == folded
        s.rollback()


def test_a_fold_waits_for_the_rows_another_fold_holds(pg_only, stats_city, session_factory):
    """A reader's fold never skips a change another fold is adding: it waits
    for that fold's commit, so what it reads next includes the change."""
    populate(session_factory, stats_city.settings, seed=5, tickets=20, days=2)
    _accept_held(session_factory, stats_city.settings)
    holder = session_factory()
    try:
        assert pending.fold(holder) == 1  # taken, not committed
        done = threading.Event()
        result: list[int] = []

        def reader() -> None:
            result.append(pending.fold_all(session_factory))
            done.set()

        t = threading.Thread(target=reader)
        t.start()
        assert not done.wait(0.5)  # waits for the holder's rows
        holder.commit()
        assert done.wait(10)
        t.join()
        assert result == [0]  # the holder added it
    finally:
        holder.close()
    with session_factory() as s:
        assert _pending(s) == 0


def test_a_rebuild_keeps_folds_out_and_drops_what_it_recounts(pg_only, stats_city, session_factory):
    populate(session_factory, stats_city.settings, seed=6, tickets=20, days=2)
    _accept_held(session_factory, stats_city.settings)
    with session_factory() as s:
        mark_writer(s)
        rebuild(s)  # dropped the pending change: the tickets it read hold it
        assert _pending(s) == 0
        # A change committed while the rebuild runs stays pending ...
        _accept_held(session_factory, stats_city.settings)
        assert pending.fold_all(session_factory) == 0  # ... folds are kept out
        s.commit()
    assert pending.fold_all(session_factory) == 1  # ... and folded after it
    with session_factory() as s:
        folded = _rollups(s)
        mark_writer(s)
        rebuild(s)
        assert _rollups(s) == folded
        s.rollback()


def test_an_unreadable_pending_row_is_dropped_and_logged(
    pg_only, stats_city, session_factory, caplog
):
    populate(session_factory, stats_city.settings, seed=8, tickets=20, days=2)
    with session_factory() as s:
        s.execute(insert(stats_pending).values(deltas="{not json"))
        s.commit()
    _accept_held(session_factory, stats_city.settings)
    with caplog.at_level(logging.ERROR, logger="gridfix.stats"):
        assert pending.fold_all(session_factory) == 2
    assert "unreadable pending statistics change" in caplog.text
    with session_factory() as s:
        folded = _rollups(s)
        mark_writer(s)
        rebuild(s)
        assert _rollups(s) == folded  # the good change was added
        s.rollback()


def test_a_read_folds_first_and_answers_with_the_change(stats_city, session_factory):
    """Over HTTP on both databases: an accept counts in the very next read (on
    PostgreSQL, the read folds it first), and its ETag moves."""
    city = stats_city
    tid = city.report(who="r1")
    h = city.h["sup_d1"]
    first = city.client.get("/v1/stats/summary", headers=h)
    assert first.status_code == 200, first.text
    assert city.act(tid, "accept", "off_a").status_code == 200
    with session_factory() as s:
        assert _pending(s) == (1 if _pg(session_factory) else 0)
    again = city.client.get(
        "/v1/stats/summary", headers={**h, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    with session_factory() as s:
        assert _pending(s) == 0
    figures = again.json()
    assert figures != first.json()


def test_each_process_folds_on_its_own(pg_only, make_city, session_factory):
    city = make_city(stats_fold_interval_s=0.2)
    tid = city.report(who="r1")
    assert city.act(tid, "accept", "off_a").status_code == 200
    deadline = time.monotonic() + 10
    while True:
        with session_factory() as s:
            if _pending(s) == 0:
                break
        assert time.monotonic() < deadline, "nothing folded the pending changes"
        time.sleep(0.05)


def test_the_periodic_fold_vacuums_the_pending_table_now_and_then(
    pg_only, stats_city, session_factory
):
    populate(session_factory, stats_city.settings, seed=9, tickets=20, days=2)

    def vacuums() -> int:
        with session_factory() as s:
            s.execute(text("SELECT pg_stat_clear_snapshot()"))
            return int(
                s.scalar(
                    text(
                        "SELECT vacuum_count FROM pg_stat_user_tables "
                        "WHERE relname = 'stats_pending'"
                    )
                )
            )

    folder = pending.Folder(session_factory, vacuum_after=2)
    before = vacuums()
    _accept_held(session_factory, stats_city.settings)
    assert folder() == 1
    assert vacuums() == before  # one row removed: not yet
    _accept_held(session_factory, stats_city.settings)
    assert folder() == 1
    assert vacuums() == before + 1
    assert folder() == 0 and folder.removed == 0
