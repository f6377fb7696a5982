"""The ticket lifecycle: one transition table and the pure function that applies it.

::

    new ──accept / claim──▶ accepted ──start──▶ in_progress
    accepted, in_progress ──resolve──▶ resolved ──close──▶ closed
    resolved, closed ──reopen──▶ accepted              (rework, within the window)
    new, accepted, in_progress ──reject──▶ rejected
    new, accepted, in_progress ──transfer──▶ new       (in another office)
    any status ──comment──▶ itself;  open ──escalate──▶ itself

``TRANSITIONS`` is the whole rulebook: (from status, action) → :class:`Rule`
(target status, who may, which fields). :func:`plan` reads it, checks the
fields and the time windows, and returns a :class:`Transition` — the attributes
to set on the ticket and the event row to write. It touches no database, so the
service applies the result, and the tests walk every status × action × actor.

Decisions (the why lives here, the what in the table):

- **reopen goes to ``accepted``, keeping the assignee.** The officer who had it
  keeps it, and it lands in their queue as owned-but-not-started: nobody is
  working on it again until they ``start``, and ``in_progress`` would claim work
  that is not happening. Reopening counts as rework (``reopen_count`` + 1) and
  clears ``resolution``, ``resolved_at`` and ``closed_at``: the ticket's fields
  describe the current cycle, and the reopen event keeps the previous values.
- **The reopen window runs from ``resolved_at``**, the officer's claim being
  disputed; closing (by anyone) does not restart it.
- **``first_response_at``** is set once, by the first staff action that is not
  a comment or escalation: accept, claim, start, resolve, reject or transfer. A
  transfer is a response to the reporter; per-office response times come from
  the events, which record every hop.
- **``resolve`` from ``accepted`` or ``in_progress``**: an officer who fixes a
  hazard on the first visit need not click "start". Not from ``new``: someone
  must own a ticket before it can be called done.
- **``close`` only from ``resolved``**, by a supervisor (verified), the reporter
  (confirmed) or the system (after the quiet period), never by the officer who
  did the work. It keeps the resolution given at resolve time.
- **``reject`` sets ``resolution`` to the reject reason and ``closed_at``**, not
  ``resolved_at`` (nothing was resolved). ``rejected`` has no way out; a
  reporter who disagrees sends a new report. ``not_responsible`` means no office
  in gridfix is; another office is a ``transfer``.
- **``claim``** is ``accept`` by a candidate office of a border ticket: it moves
  the ticket to that office and accepts it in one step. The office-scope check
  (elsewhere) must let candidate offices through for this action only.
- **admin may do whatever a supervisor may.** Officers do the work; supervisors
  can also do it and alone verify or reopen it.
- Fields a rule does not list are refused rather than ignored: a
  ``duplicate_of`` on an ``invalid`` rejection is a client bug, not data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from app.auth.enums import Role
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.tickets.enums import (
    RESOLVE_RESOLUTIONS,
    Action,
    ActorKind,
    CloseReason,
    EventKind,
    RejectReason,
    Resolution,
    TicketStatus,
)

__all__ = [
    "TRANSITIONS",
    "ActionNotPermitted",
    "ActionParams",
    "EventFields",
    "InvalidTransition",
    "MissingActionField",
    "QuietPeriodNotOver",
    "ReopenWindowExpired",
    "Rule",
    "TicketState",
    "Transition",
    "actor_kind_for",
    "allowed_actions",
    "plan",
    "reopen_deadline",
]

Field = Literal["note", "resolution", "reject_reason", "duplicate_of", "target_office_id"]
FIELDS: Final[tuple[Field, ...]] = (
    "note",
    "resolution",
    "reject_reason",
    "duplicate_of",
    "target_office_id",
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: where the action leads, who may take it, with what."""

    to: TicketStatus
    actors: frozenset[ActorKind]
    requires: tuple[Field, ...] = ()
    optional: tuple[Field, ...] = ()


S, A, K = TicketStatus, Action, ActorKind
STAFF: Final = frozenset({K.officer, K.supervisor, K.admin})
SUPERVISION: Final = frozenset({K.supervisor, K.admin})
CLOSERS: Final = SUPERVISION | {K.reporter, K.system}
REOPENERS: Final = SUPERVISION | {K.reporter}
SYSTEM: Final = frozenset({K.system})

_NOTE: Final[tuple[Field, ...]] = ("note",)
_TRANSFER: Final[tuple[Field, ...]] = ("target_office_id", "note")
_RESOLVE: Final[tuple[Field, ...]] = ("resolution", "note")
_REJECT: Final[tuple[Field, ...]] = ("reject_reason",)
_REJECT_OPT: Final[tuple[Field, ...]] = ("duplicate_of", "note")

# fmt: off
TRANSITIONS: Final[Mapping[tuple[TicketStatus, Action], Rule]] = MappingProxyType({
    # (from,          action)        Rule(to,            who,         requires,  optional)
    (S.new,         A.accept):     Rule(S.accepted,    STAFF,       (),        _NOTE),
    (S.new,         A.claim):      Rule(S.accepted,    STAFF,       ("target_office_id",), _NOTE),
    (S.new,         A.reject):     Rule(S.rejected,    STAFF,       _REJECT,   _REJECT_OPT),
    (S.new,         A.transfer):   Rule(S.new,         STAFF,       _TRANSFER),
    (S.new,         A.comment):    Rule(S.new,         STAFF,       _NOTE),
    (S.new,         A.escalate):   Rule(S.new,         SYSTEM,      _NOTE),

    (S.accepted,    A.start):      Rule(S.in_progress, STAFF,       (),        _NOTE),
    (S.accepted,    A.resolve):    Rule(S.resolved,    STAFF,       _RESOLVE),
    (S.accepted,    A.reject):     Rule(S.rejected,    STAFF,       _REJECT,   _REJECT_OPT),
    (S.accepted,    A.transfer):   Rule(S.new,         STAFF,       _TRANSFER),
    (S.accepted,    A.comment):    Rule(S.accepted,    STAFF,       _NOTE),
    (S.accepted,    A.escalate):   Rule(S.accepted,    SYSTEM,      _NOTE),

    (S.in_progress, A.resolve):    Rule(S.resolved,    STAFF,       _RESOLVE),
    (S.in_progress, A.reject):     Rule(S.rejected,    STAFF,       _REJECT,   _REJECT_OPT),
    (S.in_progress, A.transfer):   Rule(S.new,         STAFF,       _TRANSFER),
    (S.in_progress, A.comment):    Rule(S.in_progress, STAFF,       _NOTE),
    (S.in_progress, A.escalate):   Rule(S.in_progress, SYSTEM,      _NOTE),

    (S.resolved,    A.close):      Rule(S.closed,      CLOSERS,     (),        _NOTE),
    (S.resolved,    A.reopen):     Rule(S.accepted,    REOPENERS,   _NOTE),
    (S.resolved,    A.comment):    Rule(S.resolved,    STAFF,       _NOTE),

    (S.closed,      A.reopen):     Rule(S.accepted,    REOPENERS,   _NOTE),
    (S.closed,      A.comment):    Rule(S.closed,      STAFF,       _NOTE),

    (S.rejected,    A.comment):    Rule(S.rejected,    STAFF,       _NOTE),
})
# fmt: on

# Fields a reject reason adds to ``reject``'s requirements: a rejected rider deserves a why.
REJECT_REQUIRES: Final[Mapping[RejectReason, tuple[Field, ...]]] = MappingProxyType(
    {
        RejectReason.duplicate: ("duplicate_of",),
        RejectReason.invalid: ("note",),
        RejectReason.not_responsible: ("note",),
    }
)
# Staff actions that count as the first response (comments and escalations do not).
RESPONSE_ACTIONS: Final = frozenset({A.accept, A.claim, A.start, A.resolve, A.reject, A.transfer})
CLOSE_REASONS: Final[Mapping[ActorKind, CloseReason]] = MappingProxyType(
    {
        K.supervisor: CloseReason.verified,
        K.admin: CloseReason.verified,
        K.reporter: CloseReason.confirmed,
        K.system: CloseReason.quiet_period,
    }
)
EVENT_KINDS: Final[Mapping[Action, EventKind]] = MappingProxyType(
    {
        A.accept: EventKind.accepted,
        A.claim: EventKind.claimed,
        A.start: EventKind.started,
        A.resolve: EventKind.resolved,
        A.reject: EventKind.rejected,
        A.transfer: EventKind.transferred,
        A.reopen: EventKind.reopened,
        A.close: EventKind.closed,
        A.comment: EventKind.commented,
        A.escalate: EventKind.escalated,
    }
)
_STATUS_LESS: Final = frozenset({A.comment, A.escalate})


# --- inputs and outputs ------------------------------------------------------------------


class _TicketLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def office_id(self) -> int: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def reopen_count(self) -> int: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def candidate_office_ids(self) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class TicketState:
    """What the workflow needs to know about a ticket (a detached snapshot)."""

    id: int
    status: TicketStatus
    office_id: int
    resolution: Resolution | None = None
    reopen_count: int = 0
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    candidate_office_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, ticket: _TicketLike) -> TicketState:
        """Snapshot of a loaded ``Ticket`` (or anything shaped like one)."""
        return cls(
            id=ticket.id,
            status=TicketStatus(ticket.status),
            office_id=ticket.office_id,
            resolution=Resolution(ticket.resolution) if ticket.resolution else None,
            reopen_count=ticket.reopen_count or 0,
            first_response_at=ticket.first_response_at,
            resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at,
            candidate_office_ids=tuple(ticket.candidate_office_ids or ()),
        )


@dataclass(frozen=True, slots=True)
class ActionParams:
    """What the caller sent with an action; ``None`` (or a blank note) means not given."""

    note: str | None = None
    resolution: Resolution | None = None
    reject_reason: RejectReason | None = None
    duplicate_of: int | None = None
    target_office_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventFields:
    """The ``TicketEvent`` row to write; the service adds ticket, actor id and role."""

    kind: EventKind
    from_status: TicketStatus
    to_status: TicketStatus
    actor_kind: ActorKind
    office_id: int  # the ticket's office after the event
    reason: str | None  # a code (≤ 32 chars): resolution, reject or close reason
    note: str | None  # the caller's words
    data: Mapping[str, Any]  # JSON-ready details (office moves, previous cycle, …)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """A planned, valid change. ``changes`` maps ``Ticket`` attributes to new values.

    ``assign_actor`` asks the service to make the acting principal the assignee
    (accept, claim); the workflow knows the actor's kind, not their id.
    """

    action: Action
    actor: ActorKind
    from_status: TicketStatus
    to_status: TicketStatus
    changes: Mapping[str, Any]
    assign_actor: bool
    event: EventFields


# --- errors --------------------------------------------------------------------------------


def _values(actions: list[Action]) -> list[str]:
    return [a.value for a in actions]


class InvalidTransition(Conflict):
    """The action does not exist from the ticket's current status (for anyone)."""

    code = "invalid-transition"
    title = "Not possible in the ticket's current status"

    def __init__(self, status: TicketStatus, action: Action, actor: ActorKind) -> None:
        super().__init__(
            f"cannot {action.value} a ticket that is {status.value}",
            action=action.value,
            current_status=status.value,
            allowed_actions=_values(allowed_actions(status, actor)),
        )


class ActionNotPermitted(Forbidden):
    """The action exists from this status, but not for this kind of actor (or office)."""

    code = "action-not-permitted"
    title = "Not allowed to do this to the ticket"

    def __init__(
        self, status: TicketStatus, action: Action, actor: ActorKind, detail: str | None = None
    ) -> None:
        super().__init__(
            detail or f"a {actor.value} may not {action.value} a ticket that is {status.value}",
            action=action.value,
            actor_kind=actor.value,
            current_status=status.value,
            allowed_actions=_values(allowed_actions(status, actor)),
        )


class MissingActionField(InvalidInput):
    """The action's fields are incomplete or wrong; ``errors`` has one entry a field."""

    def __init__(self, action: Action, errors: list[dict[str, Any]]) -> None:
        names = ", ".join(e["field"] for e in errors)
        super().__init__(
            f"{action.value}: missing or invalid {names}", errors=errors, action=action.value
        )


class ReopenWindowExpired(Conflict):
    code = "reopen-window-expired"
    title = "Too late to reopen this ticket"

    def __init__(self, status: TicketStatus, deadline: datetime | None) -> None:
        super().__init__(
            "the reopen window has passed; send a new report instead",
            current_status=status.value,
            reopen_deadline=deadline.isoformat() if deadline else None,
        )


class QuietPeriodNotOver(Conflict):
    code = "quiet-period-not-over"
    title = "Too early to close this ticket automatically"

    def __init__(self, due_at: datetime | None) -> None:
        super().__init__(
            "the quiet period after resolution has not passed",
            current_status=TicketStatus.resolved.value,
            close_due_at=due_at.isoformat() if due_at else None,
        )


# --- queries -------------------------------------------------------------------------------


def allowed_actions(status: TicketStatus, actor: ActorKind) -> list[Action]:
    """What ``actor`` may do to a ticket in ``status``, in :class:`Action` order.

    Status and actor only: ``reopen`` is also bound by :func:`reopen_deadline`,
    and a system ``close`` by the quiet period.
    """
    return [a for a in Action if (rule := TRANSITIONS.get((status, a))) and actor in rule.actors]


def reopen_deadline(state: TicketState, window: timedelta) -> datetime | None:
    """The last moment the ticket may be reopened (``None``: never resolved)."""
    start = state.resolved_at or state.closed_at
    return start + window if start else None


def actor_kind_for(role: Role, *, is_reporter: bool) -> ActorKind | None:
    """The capacity a principal acts in on one ticket; ``None``: no actions at all.

    A staff role wins over being the reporter; viewers only look.
    """
    if role is Role.rider:
        return K.reporter if is_reporter else None
    return {Role.officer: K.officer, Role.supervisor: K.supervisor, Role.admin: K.admin}.get(role)


# --- plan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    state: TicketState
    actor: ActorKind
    params: ActionParams
    now: datetime
    reopen_window: timedelta
    quiet_period: timedelta | None


@dataclass(frozen=True, slots=True)
class _Effect:
    changes: dict[str, Any]
    reason: str | None = None
    data: dict[str, Any] | None = None
    assign_actor: bool = False


def plan(
    state: TicketState,
    action: Action,
    actor: ActorKind,
    params: ActionParams,
    now: datetime,
    *,
    reopen_window: timedelta,
    quiet_period: timedelta | None = None,
) -> Transition:
    """Check ``action`` by ``actor`` on ``state`` and say what it changes. Pure.

    Checks in order: the (status, action) pair (409 :class:`InvalidTransition`),
    the actor kind (403 :class:`ActionNotPermitted`), the fields (422
    :class:`MissingActionField`), then the claim office and the time windows.
    ``quiet_period`` is required when the system closes a ticket.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rule = TRANSITIONS.get((state.status, action))
    if rule is None:
        raise InvalidTransition(state.status, action, actor)
    if actor not in rule.actors:
        raise ActionNotPermitted(state.status, action, actor)
    params = _validated(state, action, rule, params)
    ctx = _Ctx(state, actor, params, now, reopen_window, quiet_period)
    effect = _EFFECTS[action](ctx)

    changes = dict(effect.changes)
    if action not in _STATUS_LESS:
        changes["status"] = rule.to
    if state.first_response_at is None and actor in STAFF and action in RESPONSE_ACTIONS:
        changes["first_response_at"] = now
    event = EventFields(
        kind=EVENT_KINDS[action],
        from_status=state.status,
        to_status=rule.to,
        actor_kind=actor,
        office_id=changes.get("office_id", state.office_id),
        reason=effect.reason,
        note=params.note,
        data=MappingProxyType(effect.data or {}),
        created_at=now,
    )
    return Transition(
        action=action,
        actor=actor,
        from_status=state.status,
        to_status=rule.to,
        changes=MappingProxyType(changes),
        assign_actor=effect.assign_actor,
        event=event,
    )


def _validated(state: TicketState, action: Action, rule: Rule, p: ActionParams) -> ActionParams:
    """Normalise ``p`` (strip the note, coerce codes) or raise every field error at once."""
    errors: list[dict[str, Any]] = []

    def err(field: Field, kind: str, reason: str) -> None:
        errors.append({"field": field, "type": kind, "reason": reason})

    note = p.note.strip() if p.note and p.note.strip() else None
    resolution = _coerce(Resolution, p.resolution)
    reject_reason = _coerce(RejectReason, p.reject_reason)
    given = {f for f in FIELDS if getattr(p, f) is not None} - ({"note"} if note is None else set())
    required = set(rule.requires)
    if isinstance(reject_reason, RejectReason):
        required |= set(REJECT_REQUIRES[reject_reason])
    allowed = set(rule.requires) | set(rule.optional)

    for f in FIELDS:
        if f in required and f not in given:
            err(f, "missing", f"required to {action.value}")
        elif f in given and f not in allowed:
            err(f, "unexpected", f"not used by {action.value}")
    if "resolution" in given & allowed and resolution not in RESOLVE_RESOLUTIONS:
        codes = ", ".join(sorted(RESOLVE_RESOLUTIONS))
        err("resolution", "invalid", f"must be one of {codes}; the others come from reject")
    if "reject_reason" in given & allowed and not isinstance(reject_reason, RejectReason):
        err("reject_reason", "invalid", f"must be one of {', '.join(RejectReason)}")
    if "duplicate_of" in given & allowed and isinstance(reject_reason, RejectReason):
        if reject_reason is not RejectReason.duplicate:
            err("duplicate_of", "unexpected", "only for reject_reason duplicate")
        elif p.duplicate_of == state.id or (p.duplicate_of or 0) <= 0:
            err("duplicate_of", "invalid", "must be the id of another ticket")
    if "target_office_id" in given & allowed and p.target_office_id == state.office_id:
        err("target_office_id", "invalid", "the ticket is already in this office")
    if errors:
        raise MissingActionField(action, errors)
    return ActionParams(
        note=note,
        resolution=resolution if isinstance(resolution, Resolution) else None,
        reject_reason=reject_reason if isinstance(reject_reason, RejectReason) else None,
        duplicate_of=p.duplicate_of,
        target_office_id=p.target_office_id,
    )


def _coerce(enum: type[Resolution] | type[RejectReason], value: object) -> object:
    """The enum member for ``value`` (a member or its string), else ``value`` unchanged."""
    if not isinstance(value, str) or isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        return value


# --- what each action does -----------------------------------------------------------------


def _accept(c: _Ctx) -> _Effect:
    return _Effect({}, assign_actor=True)


def _claim(c: _Ctx) -> _Effect:
    target = c.params.target_office_id
    assert target is not None
    if target not in c.state.candidate_office_ids:
        raise ActionNotPermitted(
            c.state.status,
            A.claim,
            c.actor,
            f"office {target} is not a candidate office of this ticket",
        )
    moved = {"from_office_id": c.state.office_id, "to_office_id": target}
    return _Effect({"office_id": target}, data=moved, assign_actor=True)


def _resolve(c: _Ctx) -> _Effect:
    resolution = c.params.resolution
    assert resolution is not None
    return _Effect({"resolution": resolution, "resolved_at": c.now}, reason=resolution.value)


def _reject(c: _Ctx) -> _Effect:
    why = c.params.reject_reason
    assert why is not None
    data = {"duplicate_of": c.params.duplicate_of} if why is RejectReason.duplicate else {}
    changes = {"resolution": Resolution(why.value), "closed_at": c.now}
    return _Effect(changes, reason=why.value, data=data)


def _transfer(c: _Ctx) -> _Effect:
    target = c.params.target_office_id
    moved = {"from_office_id": c.state.office_id, "to_office_id": target}
    # A new office means a new officer: the old assignee cannot see it any more.
    return _Effect({"office_id": target, "assignee_id": None}, data=moved)


def _reopen(c: _Ctx) -> _Effect:
    deadline = reopen_deadline(c.state, c.reopen_window)
    if deadline is None or c.now > deadline:
        raise ReopenWindowExpired(c.state.status, deadline)
    count = c.state.reopen_count + 1
    previous = {
        "previous_resolution": c.state.resolution.value if c.state.resolution else None,
        "previous_resolved_at": _iso(c.state.resolved_at),
        "previous_closed_at": _iso(c.state.closed_at),
        "reopen_count": count,
    }
    changes = {"resolution": None, "resolved_at": None, "closed_at": None, "reopen_count": count}
    return _Effect(changes, data=previous)


def _close(c: _Ctx) -> _Effect:
    if c.actor is K.system:
        if c.quiet_period is None:
            raise ValueError("a system close needs the quiet_period it enforces")
        due = c.state.resolved_at + c.quiet_period if c.state.resolved_at else None
        if due is None or c.now < due:
            raise QuietPeriodNotOver(due)
    resolution = c.state.resolution.value if c.state.resolution else None
    return _Effect(
        {"closed_at": c.now}, reason=CLOSE_REASONS[c.actor].value, data={"resolution": resolution}
    )


def _no_change(c: _Ctx) -> _Effect:
    return _Effect({})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_EFFECTS: Final[Mapping[Action, Callable[[_Ctx], _Effect]]] = MappingProxyType(
    {
        A.accept: _accept,
        A.claim: _claim,
        A.start: _no_change,
        A.resolve: _resolve,
        A.reject: _reject,
        A.transfer: _transfer,
        A.reopen: _reopen,
        A.close: _close,
        A.comment: _no_change,
        A.escalate: _no_change,
    }
)
