"""The ticket change write: Core statements instead of the unit of work.

The answer to an action is built from the loaded ticket, told its new values
without reading them back; these tests hold that to what the database has.
"""

from __future__ import annotations

import time
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.tickets import repository
from app.tickets.models import Ticket, TicketEvent
from tests.tickets.conftest import AB_BORDER, C_SPOT, after_photo


def _same_as_stored(city: Any, r: Any, tid: int, who: str) -> dict[str, Any]:
    """The action's answer equals a fresh read of the ticket, field for field (but
    the photos, which the derivative worker changes meanwhile)."""
    assert r.status_code == 200, r.text
    fresh = city.get(tid, who)
    assert fresh.status_code == 200, fresh.text
    answered, stored = r.json(), fresh.json()
    assert [p["id"] for p in answered.pop("photos")] == [p["id"] for p in stored.pop("photos")]
    assert answered == stored
    assert r.headers["etag"] == fresh.headers["etag"]
    return dict(r.json())


def test_every_change_answers_what_was_stored(city):
    tid = city.report()
    t = _same_as_stored(city, city.act(tid, "accept", "off_a"), tid, "off_a")
    assert t["status"] == "accepted" and t["first_response_at"] is not None
    _same_as_stored(city, city.act(tid, "comment", "off_a", note="on my way"), tid, "off_a")
    _same_as_stored(city, city.act(tid, "start", "off_a"), tid, "off_a")
    r = city.resolve(tid, "off_a", photos=[after_photo()])
    t = _same_as_stored(city, r, tid, "off_a")
    assert t["status"] == "resolved" and t["resolution"] == "fixed"
    assert t["resolved_on_time"] is True and t["events"][-1]["photo_ids"]
    _same_as_stored(city, city.act(tid, "reopen", "sup_d1", note="still broken"), tid, "sup_d1")
    t = _same_as_stored(
        city,
        city.act(tid, "transfer", "sup_d1", target_office="gb", note="their side"),
        tid,
        "sup_d1",
    )
    assert t["status"] == "new" and t["office"]["code"] == "gb" and t["assignee"] is None
    t = _same_as_stored(
        city, city.act(tid, "reject", "off_b", reject_reason="invalid", note="no"), tid, "off_b"
    )
    assert t["status"] == "rejected" and t["resolution"] == "invalid"


def test_claim_answers_what_was_stored(city):
    tid = city.report(AB_BORDER)
    assert city.get(tid, "admin").json()["office"]["code"] == "gb"
    t = _same_as_stored(city, city.act(tid, "claim", "off_a"), tid, "off_a")
    assert t["office"]["code"] == "ga" and t["status"] == "accepted" and t["candidates"] == []


def test_write_change_refuses_a_stale_version_and_writes_nothing(city, session_factory):
    tid = city.report(C_SPOT)
    now = datetime.now(UTC)
    event = {c: None for c in repository.EVENT_COLUMNS} | {
        "kind": "accepted",
        "data": {},
        "created_at": now,
    }
    with session_factory() as s:
        version = s.get(Ticket, tid).version
        before = s.scalar(select(func.count()).where(TicketEvent.ticket_id == tid))
        got = repository.write_change(
            s, tid, version - 1, {"status": "accepted", "updated_at": now}, event
        )
        assert got is None
        s.commit()
    with session_factory() as s:
        t = s.get(Ticket, tid)
        assert (t.status, t.version) == ("new", version)
        assert s.scalar(select(func.count()).where(TicketEvent.ticket_id == tid)) == before
        # The current version takes: one event, the version bumped by one.
        got = repository.write_change(
            s, tid, version, {"status": "accepted", "updated_at": now}, event
        )
        s.commit()
        assert got is not None
        assert s.get(TicketEvent, got).kind == "accepted"
        s.expire_all()
        t = s.get(Ticket, tid)
        assert (t.status, t.version, t.updated_at) == ("accepted", version + 1, now)


@pytest.mark.parametrize("stale", [False, True])
def test_a_change_behind_the_loaded_ticket_is_a_412(city, session_factory, stale):
    """A writer that loaded version n and finds n+1 in the database gets 412 and
    writes nothing; with the version it loaded, it goes through."""
    from app.core.errors import DomainError
    from app.tickets import service
    from app.tickets.enums import Action, ActorKind
    from app.tickets.workflow import ActionParams, TicketState, plan

    tid = city.report(C_SPOT)
    with session_factory() as s:
        t = s.get(Ticket, tid)
        transition = plan(
            TicketState.of(t),
            Action.escalate,
            ActorKind.system,
            ActionParams(note="late"),
            datetime.now(UTC),
            reopen_window=service.windows(city.settings)["reopen_window"],
        )
        if stale:
            # Another writer's change, behind the loaded ticket's back.
            s.execute(
                update(Ticket.__table__)
                .where(Ticket.__table__.c.id == tid)
                .values(version=Ticket.__table__.c.version + 1)
            )
            with pytest.raises(DomainError) as caught:
                service.apply(s, t, transition, actor=None, now=datetime.now(UTC))
            assert caught.value.status == 412
            s.rollback()
        else:
            service.apply(s, t, transition, actor=None, now=datetime.now(UTC))
            s.commit()
    with session_factory() as s:
        kinds = s.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == tid)).all()
    assert kinds == (["created"] if stale else ["created", "escalated"])


def _event_fields(now: datetime) -> dict[str, Any]:
    return {c: None for c in repository.EVENT_COLUMNS} | {
        "kind": "accepted",
        "data": {"k": "数据"},
        "created_at": now,
    }


def _pg_only(session_factory: Any) -> None:
    with session_factory() as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: elsewhere a change is written when it is made")


@pytest.mark.parametrize("stale", [False, True])
def test_a_change_with_a_reserved_event_id_is_written_with_the_commit(city, session_factory, stale):
    """On PostgreSQL an action's locked read reserves its event's id, and the change
    goes with the COMMIT: nothing is written before it. A version that moved
    under it (impossible under the row lock, but guarded) fails the whole
    transaction instead of writing an event for a change that did not happen."""
    from sqlalchemy.exc import IntegrityError

    from app.core.db import held_for_commit

    _pg_only(session_factory)
    tid = city.report(C_SPOT)
    now = datetime.now(UTC)
    with session_factory() as s:
        locked = repository.locked_for_change(s, tid, with_page=False)
        assert locked is not None and locked.page is None
        version = locked.ticket.version
        if stale:
            s.execute(
                update(Ticket.__table__).where(Ticket.__table__.c.id == tid).values(version=9)
            )
        got = repository.write_change(
            s,
            tid,
            version,
            {"status": "accepted", "updated_at": now},
            _event_fields(now),
            event_id=locked.event_id,
        )
        assert got == locked.event_id and held_for_commit(s) == 1
        assert s.get(TicketEvent, got) is None  # not sent yet
        if stale:
            with pytest.raises(IntegrityError):
                s.commit()
        else:
            s.commit()
    with session_factory() as s:
        t = s.get(Ticket, tid)
        stored = s.get(TicketEvent, got)
        if stale:
            assert (t.status, t.version, stored) == ("new", version, None)
        else:
            assert (t.status, t.version) == ("accepted", version + 1)
            assert stored is not None and stored.ticket_id == tid
            assert (stored.data, stored.created_at) == ({"k": "数据"}, now)


def test_an_action_answers_the_event_it_reserved(city, session_factory):
    """The accept's answer names its event by the id reserved under the lock, and
    the outbox row written with the COMMIT refers to that same event."""
    from app.events.models import OutboxEvent

    tid = city.report(C_SPOT)
    r = city.act(tid, "accept", "off_c")
    assert r.status_code == 200, r.text
    answered = r.json()["events"][-1]["id"]
    with session_factory() as s:
        latest = s.scalar(select(func.max(TicketEvent.id)).where(TicketEvent.ticket_id == tid))
        outbox = s.scalars(select(OutboxEvent.ticket_event_id).where(OutboxEvent.ticket_id == tid))
        assert answered == latest and latest in set(outbox)


def test_a_held_statement_may_not_return_rows(session_factory):
    """Held for the COMMIT means no answer: a statement that asks for one is refused."""
    from sqlalchemy import literal
    from sqlalchemy.exc import ArgumentError

    from app.core.db import HOLD_FOR_COMMIT

    _pg_only(session_factory)
    t = Ticket.__table__
    stmt = (
        update(t)
        .where(t.c.id == -1)
        .values(priority=1)
        .returning(literal(1))
        .execution_options(**{HOLD_FOR_COMMIT: True})
    )
    with session_factory() as s, pytest.raises(ArgumentError):
        s.execute(stmt)


@pytest.mark.parametrize("prefer", [None, "return=minimal"])
def test_no_answer_for_a_change_whose_commit_failed(city, prefer):
    """Actions commit from their own thread before answering: a failed commit is
    the request's error, and the ticket stays as it was."""
    from sqlalchemy import event as sa_event
    from sqlalchemy.orm import Session

    tid = city.report(C_SPOT)
    tag = city.etag(tid, "off_c")

    class Boom(Exception):
        pass

    def boom(session: Session) -> None:
        raise Boom

    headers = {**city.h["off_c"], "If-Match": tag} | ({"Prefer": prefer} if prefer else {})
    sa_event.listen(Session, "before_commit", boom)
    try:
        with pytest.raises(Boom):
            city.client.post(f"/v1/tickets/{tid}/accept", headers=headers)
    finally:
        sa_event.remove(Session, "before_commit", boom)
    t = city.get(tid, "off_c").json()
    assert t["status"] == "new" and city.etag(tid, "off_c") == tag
    assert [e["kind"] for e in t["events"]] == ["created"]


def test_the_page_read_under_the_lock_is_the_page_read_after(city, session_factory):
    """On PostgreSQL an action reads the ticket's page (events with their actors'
    names, the report's brief and photos) in the locked read, as JSON; it must be
    what the two reads of a ticket's page answer, value for value and type for
    type. Elsewhere the page is read after the change."""
    from app.auth.service import actor_from_token
    from app.tickets.router import _ticket_locked

    tid = city.report(C_SPOT, who="r2", seed=40, description="坑 «deep» — 0.1 m", photos=3)
    city.act(tid, "accept", "off_c")
    city.act(tid, "comment", "sup_city", note="带上锥桶")
    # The photos settle first: the two reads below are apart in time, and the
    # derivative worker may finish a photo between them.
    deadline = time.monotonic() + 30
    while {p["status"] for p in city.get(tid, "admin").json()["photos"]} != {"ready"}:
        assert time.monotonic() < deadline, "derivatives not ready"
        time.sleep(0.05)
    token = city.h["admin"]["Authorization"].split()[1]
    with session_factory() as s:
        actor = actor_from_token(s, city.settings, token)
        with _ticket_locked(s, actor, tid, action=True, with_page=True) as (access, extra):
            fresh = repository.ticket_page(s, access.ticket)
            page = extra.page
        s.rollback()
    if s.get_bind().dialect.name != "postgresql":
        assert page is None
        return
    assert page is not None
    event_fields = repository._EVENT_JSON_COLUMNS
    got = [tuple((getattr(e, f), type(getattr(e, f))) for f in event_fields) for e in page.events]
    want = [tuple((getattr(e, f), type(getattr(e, f))) for f in event_fields) for e in fresh.events]
    assert got == want and len(got) == 3
    assert page.people == fresh.people and len(page.people) == 3
    brief_fields = [f.name for f in fields(type(page.report))]
    assert [(getattr(page.report, f), type(getattr(page.report, f))) for f in brief_fields] == [
        (getattr(fresh.report, f), type(getattr(fresh.report, f))) for f in brief_fields
    ]
    photo_fields = [f.name for f in fields(type(page.photos[0]))]
    assert [[getattr(p, f) for f in photo_fields] for p in page.photos] == [
        [getattr(p, f) for f in photo_fields] for p in fresh.photos
    ]
    assert len(page.photos) == 3


def test_a_page_at_its_event_limit_keeps_its_first_events(monkeypatch):
    """A fresh read of a ticket's page shows its first ``EVENTS_LIMIT`` events: a
    page read before a change gets the change's event only below that limit."""
    monkeypatch.setattr(repository, "EVENTS_LIMIT", 2)
    one = repository.TicketPage(["e1"], {}, None, [])
    assert one.with_event("e2").events == ["e1", "e2"]
    assert one.with_event("e2").with_event("e3").events == ["e1", "e2"]


@pytest.mark.parametrize("ttl_s", [30.0, 0.0])
def test_a_name_cache_learns_every_office_at_its_first_miss(city, session_factory, ttl_s):
    """A worker's name cache loads every office's name at once: a ticket of
    another office then needs no query. Uncached lookups load only what they show."""
    from types import SimpleNamespace

    from sqlalchemy import event as sa_event

    from app.tickets import views

    def ticket(code: str) -> Any:
        return SimpleNamespace(
            office_id=city.office_ids[code],
            candidate_office_ids=[],
            category_id=1,
            assignee_id=None,
        )

    names = views.NameCache(ttl_s=ttl_s)
    statements: list[str] = []
    with session_factory() as s:
        engine = s.get_bind()

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            first = views.Lookups(s, [ticket("ga")], names=names)
            after_first = len(statements)
            second = views.Lookups(s, [ticket("gd")], names=names)
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
    assert first.office(city.office_ids["ga"]).code == "ga"
    assert second.office(city.office_ids["gd"]).code == "gd"
    if ttl_s:
        assert len(first.offices) == len(city.office_ids)
        assert len(statements) == after_first == 2  # offices, categories
    else:
        assert set(first.offices) == {city.office_ids["ga"]}
        assert len(statements) == 2 * after_first == 4
