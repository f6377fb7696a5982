"""The incrementally maintained rollups equal a rebuild from the tickets, after
random workflow histories (service.act, change_category, jobs) on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import held_for_commit, mark_writer, utcnow
from app.events.models import OutboxEvent
from app.stats import buckets
from app.stats.models import ROLLUPS, stats_cohort, stats_pending, stats_version
from app.stats.pending import fold_all
from app.stats.rebuild import Windows, prune, rebuild
from app.stats.repository import table_rows
from app.tickets import hooks, service
from app.tickets.enums import Action, ActorKind
from app.tickets.models import Ticket
from tests.stats.scenario import actor_of, populate


def _snapshot(s):
    return {t.name: table_rows(s, t) for t in ROLLUPS}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "at_commit"), [(1, False), (2, False), (3, False), (4, True), (5, True)]
)
def test_incremental_rollups_equal_rebuild(stats_city, session_factory, seed, at_commit):
    """``at_commit``: listeners run at the commit as in requests; on PostgreSQL
    the changes are pending until folded."""
    populate(
        session_factory, stats_city.settings, seed=seed, tickets=35, days=50, at_commit=at_commit
    )
    pg = session_factory.kw["bind"].dialect.name == "postgresql"
    assert (fold_all(session_factory) > 0) is (pg and at_commit)
    with session_factory() as s:
        mark_writer(s)
        incremental = _snapshot(s)
        assert incremental["stats_cohort"] and incremental["stats_flow"]
        before = s.scalar(select(func.sum(stats_version.c.version)))
        report = rebuild(s)
        assert report.tickets == 35
        assert _snapshot(s) == incremental
        assert s.scalar(select(func.sum(stats_version.c.version))) > before
        s.rollback()


def test_a_comment_changes_no_rollup_and_no_version(stats_city, session_factory):
    populate(session_factory, stats_city.settings, seed=5, tickets=3, days=2)
    with session_factory() as s:
        mark_writer(s)
        rows, version = _snapshot(s), s.scalar(select(func.sum(stats_version.c.version)))
        t = s.scalars(select(Ticket)).first()
        service.act(
            s,
            t,
            actor=actor_of(s, "root"),
            kind=ActorKind.admin,
            req=service.ActRequest(Action.comment, note="just a note"),
            settings=stats_city.settings,
            now=utcnow(),
        )
        s.flush()
        assert _snapshot(s) == rows
        assert s.scalar(select(func.sum(stats_version.c.version))) == version
        s.rollback()


def test_windowed_rebuild_and_prune_keep_only_readable_day_rows(stats_city, session_factory):
    populate(session_factory, stats_city.settings, seed=7, tickets=30, days=60)
    windows = Windows(cohort_days=32, flow_days=40)
    now = utcnow()
    tz = buckets.stats_timezone()
    with session_factory() as s:
        mark_writer(s)
        full = _snapshot(s)
        prune(s, windows, now=now)
        pruned = _snapshot(s)
        rebuild(s, windows, now=now)
        assert _snapshot(s) == pruned
        first = buckets.day_slot(now, tz) - 32
        old = [k for k in full["stats_cohort"] if k[2] == "D" and k[3] < first]
        assert old, "the scenario should have day rows older than the window"
        assert not [k for k in pruned["stats_cohort"] if k[2] == "D" and k[3] < first]
        # month and all-time rows are untouched
        assert {k: v for k, v in full["stats_cohort"].items() if k[2] != "D"} == {
            k: v for k, v in pruned["stats_cohort"].items() if k[2] != "D"
        }
        s.rollback()


def test_rebuild_repairs_rollups_after_a_change_that_bypassed_the_hooks(
    stats_city, session_factory
):
    populate(session_factory, stats_city.settings, seed=9, tickets=10, days=5)
    with session_factory() as s:
        mark_writer(s)
        good = _snapshot(s)
        s.execute(stats_cohort.delete())
        rebuild(s)
        assert _snapshot(s) == good
        s.rollback()


def test_commands_rebuild_and_prune(stats_city, session_factory):
    from app.stats.commands import prune_command, rebuild_command

    populate(session_factory, stats_city.settings, seed=17, tickets=8, days=3)
    with session_factory() as s:
        before = _snapshot(s)
    report = rebuild_command(stats_city.settings)
    assert report.tickets == 8 and report.rows["stats_cohort"] > 0
    assert isinstance(prune_command(stats_city.settings), dict)
    with session_factory() as s:
        assert _snapshot(s) == before


def test_rollup_writes_held_for_the_commit_go_with_it_or_not_at_all(stats_city, session_factory):
    """Actions defer their hooks; on PostgreSQL the change's pending rollup row then
    waits on the connection and travels with the COMMIT. Rolled back, it is
    dropped and no later transaction on that pooled connection carries it;
    committed and folded, the rollups equal a rebuild."""
    populate(session_factory, stats_city.settings, seed=7, tickets=4, days=3)
    pg = session_factory.kw["bind"].dialect.name == "postgresql"

    def accept_one(s):
        mark_writer(s)
        t = s.scalars(select(Ticket).where(Ticket.status == "new").order_by(Ticket.id)).first()
        hooks.defer(s)
        service.act(
            s,
            t,
            actor=actor_of(s, "root"),
            kind=ActorKind.admin,
            req=service.ActRequest(Action.accept),
            settings=stats_city.settings,
            now=utcnow(),
        )
        hooks.run_deferred(s)
        # The pending rollup row and the outbox row (with its deliveries).
        assert held_for_commit(s) == (2 if pg else 0)

    def pending_rows(s) -> int:
        return s.scalar(select(func.count()).select_from(stats_pending))

    def outbox_rows(s) -> int:
        return s.scalar(select(func.count()).select_from(OutboxEvent))

    with session_factory() as s:
        before = _snapshot(s)
        events_before = outbox_rows(s)
        s.rollback()
    with session_factory() as s:
        accept_one(s)
        s.rollback()
    with session_factory() as s:
        mark_writer(s)
        assert held_for_commit(s) == 0
        s.commit()  # a commit on the same pooled connection sends nothing held
    with session_factory() as s:
        assert _snapshot(s) == before
        assert outbox_rows(s) == events_before
        assert pending_rows(s) == 0
        s.rollback()
    with session_factory() as s:
        accept_one(s)
        s.commit()
    with session_factory() as s:
        assert pending_rows(s) == (1 if pg else 0)
        assert (_snapshot(s) == before) is pg  # not in the rollups until folded
        s.rollback()
    assert fold_all(session_factory) == (1 if pg else 0)
    with session_factory() as s:
        mark_writer(s)
        incremental = _snapshot(s)
        assert incremental != before
        assert outbox_rows(s) == events_before + 1
        rebuild(s)
        assert _snapshot(s) == incremental
        s.rollback()


def test_rollup_arrays_travel_as_literals_postgresql_reads_back(session_factory):
    """The upsert's arrays are sent as array literals: what PostgreSQL reads from
    them is what was meant, quotes and backslashes included; a value that is
    neither an int nor a string is refused before it is sent."""
    from sqlalchemy import text

    from app.stats.repository import _array_literal

    with pytest.raises(TypeError):
        _array_literal([True])
    with session_factory() as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite's upserts take one row at a time")
        words = ["D", 'a"b', "c\\d", "", "{x,y}", "空 格"]
        numbers = [0, -1, 2**31 - 1]
        got = s.execute(
            text("SELECT CAST(:w AS text[]), CAST(:n AS int[])"),
            {"w": _array_literal(words), "n": _array_literal(numbers)},
        ).one()
        assert (list(got[0]), list(got[1])) == (words, numbers)
