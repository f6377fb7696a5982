"""SQL for tickets."""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from math import isqrt
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, defer, load_only

from app.core.db import HOLD_FOR_COMMIT, utc_from_json
from app.core.geo import haversine_m, metres_to_degrees
from app.tickets.models import OPEN_PREDICATE, Ticket, TicketCandidate, TicketEvent


@dataclass(frozen=True, slots=True)
class NearbyHit:
    ticket_id: int
    distance_m: float


_PG_NEAR = text(
    """
    SELECT t.id, ST_Distance(t.location::geography,
                             ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, false) AS d
    FROM tickets t
    WHERE ST_DWithin(t.location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
      AND t.status IN :statuses
    """
)

_SQLITE_NEAR = text(
    """
    SELECT t.id, t.lon, t.lat FROM ticket_rtree r JOIN tickets t ON t.id = r.id
    WHERE r.min_lon <= :lon + :dlon AND r.max_lon >= :lon - :dlon
      AND r.min_lat <= :lat + :dlat AND r.max_lat >= :lat - :dlat
      AND t.status IN :statuses
    """
)


def tickets_near(
    session: Session,
    lon: float,
    lat: float,
    radius_m: float,
    statuses: Collection[str],
    *,
    category_id: int | None = None,
    limit: int = 50,
) -> list[NearbyHit]:
    """Tickets in ``statuses`` within ``radius_m`` of a WGS-84 point, nearest first."""
    dlon, dlat = metres_to_degrees(radius_m, lat)
    dlon, dlat = dlon * 1.01, dlat * 1.01
    if session.get_bind().dialect.name == "postgresql":
        stmt = _PG_NEAR.bindparams(bindparam("statuses", expanding=True))
        rows = session.execute(
            stmt, {"lon": lon, "lat": lat, "deg": dlon, "statuses": list(statuses)}
        ).all()
        hits = [NearbyHit(int(r[0]), float(r[1])) for r in rows]
    else:
        stmt = _SQLITE_NEAR.bindparams(bindparam("statuses", expanding=True))
        rows = session.execute(
            stmt,
            {"lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat, "statuses": list(statuses)},
        ).all()
        hits = [NearbyHit(int(r[0]), haversine_m(lon, lat, r[1], r[2])) for r in rows]
    hits = [h for h in hits if h.distance_m <= radius_m and math.isfinite(h.distance_m)]
    if category_id is not None and hits:
        keep = set(
            session.scalars(
                select(Ticket.id).where(
                    Ticket.id.in_([h.ticket_id for h in hits]), Ticket.category_id == category_id
                )
            )
        )
        hits = [h for h in hits if h.ticket_id in keep]
    hits.sort(key=lambda h: (h.distance_m, h.ticket_id))
    return hits[:limit]


def for_reports(session: Session, report_ids: Collection[int]) -> dict[int, Ticket]:
    if not report_ids:
        return {}
    rows = session.scalars(select(Ticket).where(Ticket.report_id.in_(list(report_ids))))
    return {t.report_id: t for t in rows}


def get_many(session: Session, ids: Collection[int]) -> list[Ticket]:
    if not ids:
        return []
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(list(ids)))))


def get(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def get_for_update(session: Session, ticket_id: int) -> Ticket | None:
    """Load a ticket to change it; on PostgreSQL the row stays locked until commit."""
    return session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        # lat/lon carry the position; the geometry loads if something asks for it.
        .options(defer(Ticket.location))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# Statements built once, on first use (they name models this module imports
# lazily, to stay out of import cycles). SQLAlchemy memoizes a statement's cache key
# on the statement object, so a prebuilt one with bound parameters skips both the
# building (~0.1 ms) and the keying (~0.25 ms) that a fresh one costs on each call.
@functools.cache
def _locked_with_office_stmt() -> Select[Any]:
    from app.grids.models import Office

    return (
        select(Ticket, Office)
        .join(Office, Office.id == Ticket.office_id)
        .where(Ticket.id == bindparam("ticket_id"))
        .options(
            # lat/lon carry the position; the geometry loads if something asks for it.
            defer(Ticket.location),
            # What checks, outbox and rollups read of the office (a boundary can
            # be megabytes); anything else loads on access.
            load_only(
                Office.id,
                Office.code,
                Office.name,
                Office.level,
                Office.parent_id,
                Office.depth,
                Office.path,
                Office.active,
            ),
        )
        .with_for_update(of=Ticket)
        .execution_options(populate_existing=True)
    )


def locked_with_office(session: Session, ticket_id: int) -> tuple[Ticket, Any] | None:
    """A ticket to change and its office (into the session's identity map, without
    its boundary), in one statement; on PostgreSQL the ticket's row (not the
    office's) stays locked until commit."""
    row = session.execute(_locked_with_office_stmt(), {"ticket_id": ticket_id}).first()
    return None if row is None else (row[0], row[1])


# The event columns a change writes (``id`` comes from the database).
EVENT_COLUMNS = (
    "kind",
    "from_status",
    "to_status",
    "actor_id",
    "actor_role",
    "office_id",
    "reason",
    "note",
    "data",
    "created_at",
)


def _versioned_update(columns: tuple[str, ...]) -> Any:
    t = cast(Table, Ticket.__table__)
    return (
        update(t)
        .where(t.c.id == bindparam("ticket_id"), t.c.version == bindparam("version"))
        .values(
            {c: bindparam(f"t_{c}", type_=t.c[c].type) for c in columns}
            | {"version": bindparam("next_version")}
        )
    )


def _event_values() -> dict[str, Any]:
    """The event's columns as parameters ``e_<column>``. Foreign-key columns have
    no type of their own here; a SELECT of them needs one."""
    e = cast(Table, TicketEvent.__table__)
    return {
        c: bindparam(f"e_{c}", type_=Integer if e.c[c].type._isnull else e.c[c].type)
        for c in EVENT_COLUMNS
    }


@functools.cache
def _change_stmts(dialect: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    """The versioned UPDATE of ``columns`` and the event INSERT, built once a shape.

    PostgreSQL gets one statement (the INSERT reads the UPDATE's row, so a stale
    version inserts nothing); other databases get the two, run in turn.
    """
    t, e = cast(Table, Ticket.__table__), cast(Table, TicketEvent.__table__)
    changed = _versioned_update(columns)
    values = _event_values()
    if dialect != "postgresql":
        event = insert(e).values({"ticket_id": bindparam("ticket_id")} | values)
        return changed, event.returning(e.c.id)
    cte = changed.returning(t.c.id).cte("changed")
    event = (
        insert(e)
        .from_select(["ticket_id", *values], select(cte.c.id, *values.values()))
        .add_cte(cte)
        .returning(e.c.id)
    )
    return event, None


@functools.cache
def _held_change_stmt(columns: tuple[str, ...]) -> Any:
    """PostgreSQL: :func:`_change_stmts`' statement for an event whose id was
    reserved, held for the COMMIT. It returns nothing, so a stale version cannot
    be seen in its answer: the event's ticket is then the UPDATE's empty answer,
    NULL, and the NOT NULL column fails the whole transaction."""
    t, e = cast(Table, Ticket.__table__), cast(Table, TicketEvent.__table__)
    cte = _versioned_update(columns).returning(t.c.id).cte("changed")
    return (
        insert(e)
        .values({"id": bindparam("event_id"), "ticket_id": select(cte.c.id).scalar_subquery()})
        .values(_event_values())
        .add_cte(cte)
        .execution_options(**{HOLD_FOR_COMMIT: True})
    )


def write_change(
    session: Session,
    ticket_id: int,
    version: int,
    values: dict[str, Any],
    event: dict[str, Any],
    *,
    event_id: int | None = None,
) -> int | None:
    """Set ``values`` on the ticket if it is still at ``version`` (bumping it by one)
    and append its event; the new event's id, or None when the version moved on.

    Core statements on the session's connection: no unit of work, and on
    PostgreSQL one round trip for both rows.

    ``event_id``, reserved by :func:`locked_for_change` (PostgreSQL): the two rows
    are written with the COMMIT, in its round trip, and the version was checked
    under the row lock. Only for a request that reads nothing back after the
    change and defers the ticket's listeners (:func:`app.tickets.hooks.defer`):
    the outbox row they write refers to the event.
    """
    conn = session.connection()
    params = {"ticket_id": ticket_id, "version": version, "next_version": version + 1}
    params |= {f"t_{c}": v for c, v in values.items()}
    params |= {f"e_{c}": event[c] for c in EVENT_COLUMNS}
    columns = tuple(sorted(values))
    if event_id is not None:
        conn.execute(_held_change_stmt(columns), params | {"event_id": event_id})
        return event_id
    first, second = _change_stmts(conn.dialect.name, columns)
    if second is None:
        event_id = conn.execute(first, params).scalar()
        return None if event_id is None else int(event_id)
    if conn.execute(first, params).rowcount != 1:
        return None
    return int(conn.execute(second, params).scalar_one())


def candidate_ids(session: Session, ticket_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TicketCandidate.office_id).where(TicketCandidate.ticket_id == ticket_id)
        )
    )


def clear_candidates(session: Session, ticket_id: int) -> None:
    session.execute(delete(TicketCandidate).where(TicketCandidate.ticket_id == ticket_id))


def events(
    session: Session, ticket_id: int, *, after_id: int | None = None, limit: int = 500
) -> list[TicketEvent]:
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(TicketEvent.id > after_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class PersonName:
    id: int
    name: str
    display_name: str | None


EVENTS_LIMIT = 500


@functools.cache
def _events_with_actors_stmt() -> Select[Any]:
    from app.auth.models import Principal

    e, p = cast(Table, TicketEvent.__table__), cast(Table, Principal.__table__)
    return (
        select(*e.c, p.c.name.label("actor_name"), p.c.display_name.label("actor_display_name"))
        .outerjoin(p, p.c.id == e.c.actor_id)
        .where(e.c.ticket_id == bindparam("ticket_id"))
        .order_by(e.c.id)
        .limit(bindparam("limit"))
    )


def events_with_actors(
    session: Session, ticket_id: int, *, limit: int = EVENTS_LIMIT
) -> tuple[list[Row[Any]], dict[int, PersonName]]:
    """A ticket's events (rows with an event's columns) and the names of the people
    who made them: one query, no ORM objects (events never change)."""
    rows = (
        session.connection()
        .execute(_events_with_actors_stmt(), {"ticket_id": ticket_id, "limit": limit})
        .all()
    )
    people = {
        r.actor_id: PersonName(r.actor_id, r.actor_name, r.actor_display_name)
        for r in rows
        if r.actor_id is not None and r.actor_name is not None
    }
    return rows, people


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event's columns, read from JSON (see :func:`locked_for_change`)."""

    id: int
    kind: str
    from_status: str | None
    to_status: str | None
    actor_id: int | None
    actor_role: str | None
    office_id: int | None
    reason: str | None
    note: str | None
    data: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TicketPage:
    """What a ticket's page shows besides the ticket: its first events (rows with an
    event's columns), the names of the people who made them, and its report's
    brief and photos (see :func:`app.reports.repository.brief_with_photos`)."""

    events: list[Any]
    people: dict[int, PersonName]
    report: Any
    photos: list[Any]

    def with_event(self, event: Any) -> TicketPage:
        """The page after ``event`` was written: it comes last, as a fresh read
        would place it (ids grow), unless the page already holds its limit."""
        if len(self.events) >= EVENTS_LIMIT:
            return self
        return TicketPage([*self.events, event], self.people, self.report, self.photos)


def ticket_page(session: Session, ticket: Ticket) -> TicketPage:
    """Read a ticket's page (two queries)."""
    from app.reports import repository as reports_repo

    events, people = events_with_actors(session, ticket.id)
    report, photos = reports_repo.brief_with_photos(session, ticket.report_id)
    return TicketPage(events, people, report, photos)


_EVENT_JSON_COLUMNS = tuple(f.name for f in fields(EventRow))


@functools.cache
def _locked_page_stmt() -> Select[Any]:
    """PostgreSQL: :func:`_locked_with_office_stmt` with the ticket's page as JSON."""
    from app.auth.models import Principal
    from app.reports import repository as reports_repo

    e, p = cast(Table, TicketEvent.__table__), cast(Table, Principal.__table__)
    first = (
        select(*(e.c[n] for n in _EVENT_JSON_COLUMNS), p.c.name.label("actor_name"))
        .add_columns(p.c.display_name.label("actor_display_name"))
        .outerjoin(p, p.c.id == e.c.actor_id)
        .where(e.c.ticket_id == bindparam("ticket_id"))
        .order_by(e.c.id)
        .limit(EVENTS_LIMIT)
        .subquery("ev")
    )
    events = select(
        func.json_agg(aggregate_order_by(first.table_valued(), first.c.id))
    ).scalar_subquery()
    brief, photos = reports_repo.brief_json_columns(Ticket.report_id)
    return _locked_with_office_stmt().add_columns(
        events.label("page_events"), brief.label("page_brief"), photos.label("page_photos")
    )


# An id for the change's event, taken from the events' own sequence (unused if
# the change is refused: sequences have gaps anyway).
_RESERVED_EVENT_ID: ColumnElement[int] = literal_column(
    "nextval(pg_get_serial_sequence('ticket_events', 'id'))", Integer
)


@functools.cache
def _locked_for_change_stmt(with_page: bool) -> Select[Any]:
    stmt = _locked_page_stmt() if with_page else _locked_with_office_stmt()
    return stmt.add_columns(_RESERVED_EVENT_ID.label("event_id"))


@dataclass(frozen=True, slots=True)
class LockedTicket:
    ticket: Ticket
    office: Any
    event_id: int  # reserved for the change's event (see :func:`write_change`)
    page: TicketPage | None = None


def locked_for_change(session: Session, ticket_id: int, *, with_page: bool) -> LockedTicket | None:
    """PostgreSQL: :func:`locked_with_office`, an id reserved for the change's event,
    and with ``with_page`` the ticket's page, in one statement.

    Under the row lock nothing else can add events until this transaction ends,
    so the page after the change is this one plus the change's event
    (``TicketPage.with_event``). Elsewhere the page is read after the change."""
    from app.reports import repository as reports_repo

    row = session.execute(_locked_for_change_stmt(with_page), {"ticket_id": ticket_id}).first()
    if row is None:
        return None
    if not with_page:
        return LockedTicket(row[0], row[1], row.event_id)
    events, people = [], {}
    for ev in row.page_events or ():
        name, display = ev.pop("actor_name"), ev.pop("actor_display_name")
        ev["created_at"] = utc_from_json(ev["created_at"])
        events.append(EventRow(**ev))
        if ev["actor_id"] is not None and name is not None:
            people[ev["actor_id"]] = PersonName(ev["actor_id"], name, display)
    report, photos = reports_repo.brief_from_json(row.page_brief, row.page_photos)
    return LockedTicket(row[0], row[1], row.event_id, TicketPage(events, people, report, photos))


@dataclass(frozen=True, slots=True)
class QueueFilter:
    scope: Any  # app.auth.scope.OfficeScope
    statuses: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    office_path: str | None = None  # this office and everything below it
    overdue: bool | None = None
    needs_attention: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    now: datetime | None = None


SORTS: dict[str, tuple[tuple[str, bool], ...]] = {
    # name → ((column, descending), …); id last so the order is total.
    "age": (("created_at", False), ("id", False)),
    "-age": (("created_at", True), ("id", True)),
    "priority": (("priority", False), ("due_at", False), ("id", False)),
    "due": (("due_at", False), ("id", False)),
    "updated": (("updated_at", True), ("id", True)),
}

OPEN_SET: frozenset[str] = frozenset({"new", "accepted", "in_progress"})

# What a queue page reads: every ticket column but the geometry (lat/lon carry
# the position, and decoding WKB for each row costs more than the rest).
QUEUE_COLUMNS = tuple(c for c in Ticket.__table__.c if c.name != "location")


def _open() -> ColumnElement[bool]:
    # Literal SQL, the same text as the partial indexes' predicate: the planner
    # proves a partial index usable only from constants, never from parameters.
    return text(OPEN_PREDICATE)  # type: ignore[return-value]


def _conditions(f: QueueFilter, dialect: str) -> list[ColumnElement[bool]]:
    """The filters other than the office scope, as WHERE clauses."""
    out: list[ColumnElement[bool]] = []
    if f.statuses:
        out.append(Ticket.status.in_(f.statuses))
        if OPEN_SET.issuperset(f.statuses):
            out.append(_open())
    if f.category_ids:
        out.append(Ticket.category_id.in_(f.category_ids))
    if f.overdue is not None and f.now is not None:
        if f.overdue:
            out += [_open(), Ticket.due_at < f.now]
        else:
            out.append(~and_(Ticket.status.in_(sorted(OPEN_SET)), Ticket.due_at < f.now))
    if f.needs_attention is not None:
        out.append(Ticket.needs_attention.is_(f.needs_attention))
    if f.created_from is not None:
        out.append(Ticket.created_at >= f.created_from)
    if f.created_to is not None:
        out.append(Ticket.created_at < f.created_to)
    if f.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = f.bbox
        if dialect == "postgresql":
            box = "tickets.location && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)"
        else:
            box = (
                "tickets.id IN (SELECT id FROM ticket_rtree WHERE min_lon >= :bx0 AND "
                "max_lon <= :bx1 AND min_lat >= :by0 AND max_lat <= :by1)"
            )
        out.append(text(box).bindparams(bx0=min_lon, by0=min_lat, bx1=max_lon, by1=max_lat))  # type: ignore[arg-type]
    return out


def _filtered(stmt: Select[Any], f: QueueFilter, session: Session) -> Select[Any]:
    """``stmt`` limited to the tickets of a queue filter (scope, office and filters)."""
    from app.auth.repository import office_scope_condition
    from app.grids.models import Office

    stmt = stmt.where(office_scope_condition(f.scope, Ticket.office_id))
    if f.office_path is not None:
        sub = select(Office.id).where(Office.path.startswith(f.office_path, autoescape=True))
        stmt = stmt.where(Ticket.office_id.in_(sub))
    return stmt.where(*_conditions(f, session.get_bind().dialect.name))


def queue_offices(db: Session | Connection, f: QueueFilter) -> tuple[tuple[int, ...] | None, int]:
    """The ids of the offices a queue covers (``None``: every office) and the
    number of offices there are (0 when not looked up). One query at most."""
    from app.grids.models import Office

    scope = f.scope
    if scope.nothing:
        return (), 0
    if scope.office_id is not None and f.office_path is None:
        return (scope.office_id,), 0
    conds: list[ColumnElement[bool]] = []
    if scope.office_id is not None:
        conds.append(Office.id == scope.office_id)
    for prefix in (scope.path_prefix, f.office_path):
        if prefix is not None:
            conds.append(Office.path.startswith(prefix, autoescape=True))
    if not conds:
        return None, 0
    total = select(func.count()).select_from(Office).scalar_subquery()
    rows = db.execute(select(Office.id, total).where(*conds).order_by(Office.id)).all()
    if not rows:
        return (), 0
    ids = tuple(int(r[0]) for r in rows)
    # Every ticket has an office: a scope of all offices needs no office condition.
    return (None if len(ids) == int(rows[0][1]) else ids), int(rows[0][1])


def queue_page(
    db: Session | Connection,
    f: QueueFilter,
    *,
    sort: str,
    after: dict[str, Any] | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """One page of a work queue as ticket-shaped rows (:data:`QUEUE_COLUMNS`),
    keyset-paginated on the sort columns.

    Each supported sort has an index over open tickets (see
    ``app.tickets.models.QUEUE_INDEXES``), so a page reads about ``limit``
    index entries and stops: one office's queue from the office-led index; a
    few offices' by reading each office's index and merging (PostgreSQL); a
    wide scope by walking the unled index and skipping other offices' rows.
    """
    keys = SORTS[sort]
    # Plain rows, so the Core connection runs it: the ORM's result machinery
    # (identity map, loader states) would only add per-row work to a page.
    conn = db if isinstance(db, Connection) else db.connection()
    ids, total = queue_offices(conn, f)
    if ids is not None and not ids:
        return []
    conds = _conditions(f, conn.dialect.name)
    if after is not None:
        conds.append(_after(keys, after))
    order = [getattr(Ticket, c).desc() if d else getattr(Ticket, c).asc() for c, d in keys]
    stmt = select(*QUEUE_COLUMNS)
    if ids is None:
        pass
    elif len(ids) == 1:
        stmt = stmt.where(Ticket.office_id == ids[0])
    elif conn.dialect.name == "postgresql" and len(ids) < max(2, isqrt(total)):
        # Few offices out of many: the cheapest page is each office's own first
        # page merged (len(ids) short index reads), not a walk of the global
        # order that would skip every other office's rows.
        office = (
            func.unnest(bindparam("queue_office_ids", list(ids), type_=ARRAY(Integer)))
            .table_valued("office_id")
            .render_derived(name="o")
        )
        cols = [getattr(Ticket, c) for c, _ in keys]
        per_office = (
            select(*cols)
            .where(Ticket.office_id == office.c.office_id, *conds)
            .order_by(*order)
            .limit(limit)
            .lateral("k")
        )
        merged = (
            select(per_office.c.id)
            .select_from(office)
            .join(per_office, true())
            .order_by(*[per_office.c[c].desc() if d else per_office.c[c] for c, d in keys])
            .limit(limit)
            .subquery("page")
        )
        stmt = stmt.join(merged, merged.c.id == Ticket.id)
        return conn.execute(stmt.order_by(*order)).all()
    else:
        stmt = stmt.where(Ticket.office_id.in_(ids))
    # all(): one fetch of the page; iterating would fetch it row by row.
    return conn.execute(stmt.where(*conds).order_by(*order).limit(limit)).all()


def _after(keys: tuple[tuple[str, bool], ...], after: dict[str, Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor row in (mixed-direction) lexicographic order."""
    if len({d for _, d in keys}) == 1:
        # One direction: a row comparison, which an index serves as a range
        # (the OR form below is a filter, read from the start of the order).
        names = [c for c, _ in keys]
        cols = [getattr(Ticket, c) for c in names]
        values = [
            bindparam(None, after[c], type_=col.type)
            for (c, _), col in zip(keys, cols, strict=True)
        ]
        left, right = tuple_(*cols), tuple_(*values)
        return left < right if keys[0][1] else left > right
    clauses = []
    for i, (col, desc) in enumerate(keys):
        column = getattr(Ticket, col)
        value = after[col]
        eq = [getattr(Ticket, c) == after[c] for c, _ in keys[:i]]
        cmp = column < value if desc else column > value
        clauses.append(and_(*eq, cmp))
    return or_(*clauses)


def claimable(session: Session, office_id: int, *, limit: int) -> list[Ticket]:
    """New border tickets this office may claim (it is a candidate, not the owner)."""
    stmt = (
        select(Ticket)
        .join(TicketCandidate, TicketCandidate.ticket_id == Ticket.id)
        .where(TicketCandidate.office_id == office_id, Ticket.status == "new")
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def is_candidate(session: Session, ticket_id: int, office_id: int) -> bool:
    return session.get(TicketCandidate, (ticket_id, office_id)) is not None
