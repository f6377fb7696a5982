"""How tickets and their history look to staff and to the reporter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.auth.models import Principal
from app.categories.models import Category
from app.config import Settings
from app.core.cache import TTLCache
from app.grids.models import Office
from app.photos.storage import ObjectStorage
from app.reports.schemas import OfficeBrief
from app.reports.views import photo_out
from app.tickets import repository
from app.tickets.enums import OPEN_STATUSES, ActorKind, TicketStatus
from app.tickets.models import Ticket
from app.tickets.schemas import ActorOut, EventOut, ReportBrief, TicketDetail, TicketOut
from app.tickets.service import etag_of
from app.tickets.workflow import allowed_actions


class TicketLike(Protocol):
    """What a ticket view reads: a loaded ``Ticket`` or a queue row."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def office_id(self) -> int: ...
    @property
    def category_id(self) -> int: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def route_reason(self) -> str: ...
    @property
    def route_distance_m(self) -> float: ...
    @property
    def candidate_office_ids(self) -> list[int]: ...
    @property
    def needs_attention(self) -> bool: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def resolved_on_time(self) -> bool | None: ...
    @property
    def reopen_count(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def version(self) -> int: ...


# The columns a ticket's JSON is made of: TicketLike's properties.
_FIELD_NAMES = tuple(n for n, v in vars(TicketLike).items() if isinstance(v, property))


@dataclass(frozen=True, slots=True)
class OfficeName:
    id: int
    code: str
    name: str


PersonName = repository.PersonName


class NameCache:
    """Office, category and staff names by id, cached for a few seconds per
    process: every queue page shows them, and they change only on imports and
    edits (a renamed officer shows under the new name within ``ttl_s``)."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.offices: TTLCache[int, OfficeName] = TTLCache(ttl_s)
        self.categories: TTLCache[int, str] = TTLCache(ttl_s)
        self.people: TTLCache[int, PersonName] = TTLCache(ttl_s)


_DEFAULT_NAMES = NameCache(ttl_s=0)  # no caching when none is injected
# Up to this many offices, a miss loads every office's name.
ALL_NAMES_UP_TO = 20_000


class EventLike(Protocol):
    """A ticket event as the views read it: an ORM ``TicketEvent`` or a row of its
    columns (a ticket's page reads rows)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def from_status(self) -> str | None: ...
    @property
    def to_status(self) -> str | None: ...
    @property
    def actor_id(self) -> int | None: ...
    @property
    def actor_role(self) -> str | None: ...
    @property
    def office_id(self) -> int | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def note(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...


class Lookups:
    """Names for the ids in a page of tickets: cached names, one query for people."""

    def __init__(
        self,
        session: Session,
        tickets: Iterable[TicketLike],
        events: Iterable[EventLike] = (),
        names: NameCache | None = None,
        people: dict[int, Any] | None = None,
    ) -> None:
        names = names or _DEFAULT_NAMES
        keeps = names.offices.ttl_s > 0
        tickets = list(tickets)
        events = list(events)
        office_ids = (
            {t.office_id for t in tickets}
            | {o for t in tickets for o in (t.candidate_office_ids or [])}
            | {e.office_id for e in events if e.office_id}
        )

        def load_offices(ids: list[int]) -> dict[int, OfficeName]:
            # A cache gets every office's name at its first miss (a city has a
            # few thousand): a cold worker pays one query, not one a new office.
            stmt = select(Office.id, Office.code, Office.name)
            rows = session.execute(stmt.limit(ALL_NAMES_UP_TO + 1)).all() if keeps else []
            if not keeps or len(rows) > ALL_NAMES_UP_TO:
                rows = session.execute(stmt.where(Office.id.in_(ids))).all()
            return {r.id: OfficeName(r.id, r.code, r.name) for r in rows}

        def load_categories(ids: list[int]) -> dict[int, str]:
            stmt = select(Category.id, Category.code)  # a few dozen
            rows = session.execute(stmt if keeps else stmt.where(Category.id.in_(ids)))
            return {r.id: r.code for r in rows}

        self.offices = names.offices.get_many(office_ids, load_offices)
        self.categories = names.categories.get_many(
            {t.category_id for t in tickets}, load_categories
        )
        # ``people``: names already in hand (id → name, display_name), not asked again.
        self.people: dict[int, Any] = dict(people or {})
        self._briefs: dict[int, OfficeBrief] = {}
        wanted = {t.assignee_id for t in tickets if t.assignee_id} | {
            e.actor_id for e in events if e.actor_id
        }
        if missing := wanted - self.people.keys():

            def load_people(ids: list[int]) -> dict[int, PersonName]:
                # Names only: loading whole principals (hashes, settings) costs more.
                stmt = select(Principal.id, Principal.name, Principal.display_name)
                rows = session.execute(stmt.where(Principal.id.in_(ids)))
                return {r.id: PersonName(r.id, r.name, r.display_name) for r in rows}

            self.people |= names.people.get_many(missing, load_people)

    def office(self, office_id: int | None) -> OfficeBrief | None:
        if not office_id:
            return None
        brief = self._briefs.get(office_id)
        if brief is None and (o := self.offices.get(office_id)) is not None:
            brief = self._briefs[office_id] = OfficeBrief(code=o.code, name=o.name)
        return brief


def _attrs(t: TicketLike) -> dict[str, Any]:
    """A loaded ticket's fields as :func:`_ticket_fields` reads them."""
    return {name: getattr(t, name) for name in _FIELD_NAMES}


def _ticket_fields(
    t: Mapping[str, Any], lk: Lookups, *, kind: ActorKind | None, staff: bool, now: datetime
) -> dict[str, Any]:
    """A ticket's JSON fields, from a mapping of its columns (a queue row's
    ``_mapping``: a key lookup there is several times cheaper than an attribute)."""
    assignee_id = t["assignee_id"]
    assignee = lk.people.get(assignee_id) if assignee_id and staff else None
    office = lk.office(t["office_id"])
    assert office is not None
    status = t["status"]
    return {
        "id": t["id"],
        "status": status,
        "resolution": t["resolution"],
        "priority": t["priority"],
        "category": lk.categories.get(t["category_id"], "?"),
        "office": office,
        "assignee": (assignee.display_name or assignee.name) if assignee else None,
        "lat": t["lat"],
        "lon": t["lon"],
        "route_reason": t["route_reason"],
        "route_distance_m": t["route_distance_m"],
        "candidates": [b for o in (t["candidate_office_ids"] or []) if (b := lk.office(o))],
        "needs_attention": t["needs_attention"],
        "overdue": status in OPEN_STATUSES and t["due_at"] < now,
        "due_at": t["due_at"],
        "first_response_at": t["first_response_at"],
        "resolved_at": t["resolved_at"],
        "closed_at": t["closed_at"],
        "resolved_on_time": t["resolved_on_time"],
        "reopen_count": t["reopen_count"],
        "created_at": t["created_at"],
        "updated_at": t["updated_at"],
        "version": t["version"],
        "etag": etag_of(t["id"], t["version"]),
        "allowed_actions": [a.value for a in allowed_actions(TicketStatus(status), kind)]
        if kind
        else [],
    }


def ticket_out(
    t: TicketLike, lk: Lookups, *, kind: ActorKind | None, staff: bool, now: datetime
) -> TicketOut:
    return TicketOut(**_ticket_fields(_attrs(t), lk, kind=kind, staff=staff, now=now))


def queue_items(
    rows: Iterable[Row[Any]], lk: Lookups, *, kind: ActorKind | None, now: datetime
) -> list[dict[str, Any]]:
    """A queue page's items as :class:`TicketOut` fields, unvalidated: every value
    comes from the database, and pydantic's serializer writes them exactly as it
    would a ``TicketOut`` (the tests compare the two)."""
    actions: dict[str, list[str]] = {}
    out = []
    for t in rows:
        fields = _ticket_fields(t._mapping, lk, kind=None, staff=True, now=now)
        if kind is not None:
            status = fields["status"]
            if status not in actions:
                actions[status] = [a.value for a in allowed_actions(TicketStatus(status), kind)]
            fields["allowed_actions"] = list(actions[status])
        out.append(fields)
    return out


def event_out(e: EventLike, lk: Lookups, *, staff: bool) -> EventOut:
    person = lk.people.get(e.actor_id) if e.actor_id else None
    office = lk.office(e.office_id)
    if staff:
        actor = ActorOut(
            role=e.actor_role or "system",
            name=(person.display_name or person.name) if person else None,
            office=office,
        )
    elif e.actor_role == "rider":
        actor = ActorOut(role="reporter")
    else:
        # Riders see which office acted, never which officer.
        actor = ActorOut(role="staff" if e.actor_role != "system" else "system", office=office)
    data = dict(e.data or {})
    photo_ids = list(data.pop("photo_ids", []))
    if not staff:
        data = {}
    return EventOut(
        id=e.id,
        kind=e.kind,
        from_status=e.from_status,
        to_status=e.to_status,
        reason=e.reason,
        note=e.note,
        at=e.created_at,
        actor=actor,
        office=office,
        photo_ids=photo_ids,
        data=data,
    )


def ticket_detail(
    session: Session,
    t: Ticket,
    *,
    kind: ActorKind | None,
    staff: bool,
    storage: ObjectStorage,
    settings: Settings,
    now: datetime,
    names: NameCache | None = None,
    page: repository.TicketPage | None = None,
) -> TicketDetail:
    """The ticket's page; read here unless ``page`` was read with the ticket."""
    if page is None:
        session.flush()  # the reads below are Core: nothing pending may be missed
        page = repository.ticket_page(session, t)
    events, report = page.events, page.report
    lk = Lookups(session, [t], events, names, page.people)
    assert report is not None
    return TicketDetail(
        **_ticket_fields(_attrs(t), lk, kind=kind, staff=staff, now=now),
        report=ReportBrief(
            id=report.report_id,
            description=report.report_description,
            location_source=report.report_location_source,
            location_mismatch_m=report.report_location_mismatch_m,
            accuracy_m=report.report_accuracy_m,
            created_at=report.report_created_at,
        ),
        photos=[photo_out(p, storage, settings, staff=staff) for p in page.photos],
        events=[event_out(e, lk, staff=staff) for e in events],
    )
