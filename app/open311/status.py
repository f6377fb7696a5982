"""How gridfix's ticket lifecycle reads in Open311 terms. Pure; no I/O.

GeoReport v2 has two statuses: ``open`` ("it has been reported") and ``closed``
("it has been resolved"). Ours map as:

===============================  ======================================
ticket status                    Open311 ``status``
===============================  ======================================
new, accepted, in_progress       open
resolved                         closed — the spec's own definition of
                                 closed, and what FixMyStreet reads as
                                 fixed; a reopen makes it ``open`` again
closed, rejected                 closed
===============================  ======================================

The detail the two words lose goes into ``status_notes`` (the officer's note on
the latest status change, or a sentence for the resolution), and — for
mySociety's ``servicerequestupdates`` — into the extended status vocabulary
FixMyStreet understands plus ``external_status_code`` (``resolved:fixed``,
``rejected:duplicate`` …), so "fixed" is never lumped with "closed for another
reason" (FixMyStreet issues #285, #1339).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar


class _Event(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def note(self) -> str | None: ...
    @property
    def actor_role(self) -> str | None: ...


_Noted = TypeVar("_Noted", bound=_Event)

OPEN_STATUSES = frozenset({"new", "accepted", "in_progress"})
CLOSED_STATUSES = frozenset({"resolved", "closed", "rejected"})

# Ticket events that change the status (or the office): the ones a public reader
# sees. Comments and escalations are internal and never shown.
PUBLIC_EVENT_KINDS = frozenset(
    {"accepted", "claimed", "started", "resolved", "rejected", "transferred", "reopened", "closed"}
)
# Roles whose notes are the authority's words and may be shown. A reporter's own
# note (on reopening, say) may carry personal details: never shown.
STAFF_ROLES = frozenset({"officer", "supervisor", "admin", "system"})

RESOLUTION_TEXT = {
    "fixed": "The hazard has been fixed.",
    "self_resolved": "The hazard was no longer there when checked.",
    "unable_to_fix": "The hazard could not be fixed.",
    "duplicate": "Already reported: this is a duplicate of another request.",
    "invalid": "Closed: the report could not be acted upon.",
    "not_responsible": "Not the responsibility of any grid office here.",
}

EVENT_TEXT = {
    "accepted": "Accepted by the responsible office.",
    "claimed": "Accepted by the responsible office.",
    "started": "Work has started.",
    "transferred": "Passed to another office.",
    "reopened": "Reopened.",
}

# mySociety's extended states (FixMyStreet lower-cases them and reads "_" as " ").
_EXTENDED_BY_RESOLUTION = {
    "fixed": "fixed",
    "self_resolved": "fixed",
    "unable_to_fix": "no_further_action",
    "duplicate": "duplicate",
    "not_responsible": "not_councils_responsibility",
    # Not "closed": FixMyStreet bodies without extended statuses read that as fixed.
    "invalid": "no_further_action",
}
_EXTENDED_BY_STATUS = {
    "new": "open",
    "accepted": "investigating",
    "in_progress": "in_progress",
    "resolved": "fixed",
    "closed": "closed",
    "rejected": "no_further_action",
}


def open311_status(ticket_status: str) -> str:
    """``open`` or ``closed`` (see the table in the module docstring)."""
    return "closed" if ticket_status in CLOSED_STATUSES else "open"


def statuses_for(open311: str) -> frozenset[str]:
    """The ticket statuses an Open311 ``status`` filter value stands for."""
    return CLOSED_STATUSES if open311 == "closed" else OPEN_STATUSES


def extended_status(ticket_status: str, resolution: str | None) -> str:
    """The mySociety extended state for ``servicerequestupdates``."""
    if ticket_status in CLOSED_STATUSES and resolution in _EXTENDED_BY_RESOLUTION:
        return _EXTENDED_BY_RESOLUTION[resolution]
    return _EXTENDED_BY_STATUS.get(ticket_status, "open")


def external_status_code(ticket_status: str, resolution: str | None) -> str:
    """Our exact state, for clients that key response templates on it."""
    return f"{ticket_status}:{resolution}" if resolution else ticket_status


def event_resolution(kind: str, reason: str | None, data: dict[str, object] | None) -> str | None:
    """The resolution an event leaves the ticket with, from the event row alone."""
    if kind in ("resolved", "rejected"):
        return reason
    if kind == "closed":
        value = (data or {}).get("resolution")
        return str(value) if value else None
    return None


def public_note(note: str | None, actor_role: str | None) -> str | None:
    """The note if the public may read it (an authority's words), else ``None``."""
    if note and note.strip() and (actor_role or "system") in STAFF_ROLES:
        return note.strip()
    return None


def status_notes(ticket_status: str, resolution: str | None, note: str | None) -> str | None:
    """``status_notes``: the latest public note, else a sentence for the outcome."""
    if note:
        return note
    if ticket_status in CLOSED_STATUSES and resolution in RESOLUTION_TEXT:
        return RESOLUTION_TEXT[resolution]
    return None


def update_description(
    kind: str, resolution: str | None, note: str | None, actor_role: str | None
) -> str:
    """The text of one update: the authority's note, else a sentence for the event."""
    shown = public_note(note, actor_role)
    if shown:
        return shown
    if kind in ("resolved", "rejected", "closed") and resolution in RESOLUTION_TEXT:
        return RESOLUTION_TEXT[resolution]
    if kind == "closed":
        return "Closed."
    return EVENT_TEXT.get(kind, "Updated.")


# ---------------------------------------------------------------- incoming updates
# POST servicerequestupdates (mySociety): the status a partner sends, read against
# the ticket's current status, becomes one or more workflow actions. FixMyStreet
# sends the values in upper case (``FIXED``, ``NOT_COUNCILS_RESPONSIBILITY``); the
# spec's two values (``open``, ``closed``) come from clients without extended
# statuses. The table, by what the partner says the request now is:
#
# =============================  ==================  ===============================
# incoming status                ticket is           actions
# =============================  ==================  ===============================
# open, reopen, for_triage       new/accepted/       comment
#                                in_progress
#                                resolved, closed    reopen
# investigating,                 new                 accept
# action_scheduled, planned      accepted,           comment (a status never moves
#                                in_progress         back)
#                                resolved, closed    reopen (lands in accepted)
# in_progress                    new                 accept, start
#                                accepted            start
#                                in_progress         comment
#                                resolved, closed    reopen, start
# fixed                          new                 accept, resolve (fixed)
#                                accepted,           resolve (fixed)
#                                in_progress
#                                resolved/closed as  comment
#                                fixed/self_resolved
#                                resolved/closed as  reopen, resolve (fixed)
#                                anything else
# closed                         new                 accept, resolve (fixed)
#                                accepted,           resolve (fixed)
#                                in_progress
#                                resolved, closed,   comment (already closed in
#                                rejected            Open311 terms)
# no_further_action              new                 accept, resolve (unable_to_fix)
#                                accepted,           resolve (unable_to_fix)
#                                in_progress
#                                same extended       comment
#                                status
#                                resolved/closed as  reopen, resolve (unable_to_fix)
#                                anything else
# not_councils_responsibility    new/accepted/       reject (not_responsible)
#                                in_progress
# duplicate                      new/accepted/       reject (duplicate; the original
#                                in_progress         from ``duplicate_of``)
# cancelled                      new/accepted/       reject (invalid)
#                                in_progress
#   (the three above)            rejected for the    comment
#                                same reason
# internal_referral              new/accepted/       transfer (to ``target_office``)
#                                in_progress
# =============================  ==================  ===============================
#
# Every other pair (anything but a comment on a rejected ticket, a reject of a
# resolved one …) is refused: the workflow has no such move. The workflow still
# decides who may: an officer cannot reopen (supervisors can), so an officer's
# ``open`` on a resolved request is a 403, exactly as in ``/v1``.

OPEN_TICKET = frozenset({"new", "accepted", "in_progress"})
DONE_TICKET = frozenset({"resolved", "closed"})
# Actions whose workflow rule requires a note: they take the update's description.
NOTE_REQUIRED = frozenset({"comment", "reopen", "resolve", "transfer"})
REJECT_NOTE_REQUIRED = frozenset({"not_responsible", "invalid"})

_OPEN_LIKE = frozenset({"open", "reopen", "for_triage"})
_ACCEPTED_LIKE = frozenset({"investigating", "action_scheduled", "planned"})
_RESOLVE_AS = {"fixed": "fixed", "closed": "fixed", "no_further_action": "unable_to_fix"}
_REJECT_AS = {
    "not_councils_responsibility": "not_responsible",
    "duplicate": "duplicate",
    "cancelled": "invalid",
}
INCOMING_STATUSES = frozenset(
    _OPEN_LIKE | _ACCEPTED_LIKE | set(_RESOLVE_AS) | set(_REJECT_AS)
    | {"in_progress", "internal_referral"}
)  # fmt: skip


class UpdateRefused(ValueError):
    """The update asks for something the ticket's current status does not allow."""


@dataclass(frozen=True, slots=True)
class Step:
    """One workflow action of an update, with what it needs."""

    action: str  # an app.tickets.enums.Action value
    resolution: str | None = None
    reject_reason: str | None = None

    @property
    def needs_note(self) -> bool:
        return self.action in NOTE_REQUIRED or self.reject_reason in REJECT_NOTE_REQUIRED


def normalise_status(value: str) -> str:
    """``FIXED``, ``Not councils responsibility``, ``in-progress`` → the snake_case value."""
    return "_".join(value.strip().lower().replace("-", " ").split())


def update_steps(incoming: str, ticket_status: str, resolution: str | None) -> tuple[Step, ...]:
    """The actions that make a ticket in ``ticket_status`` say ``incoming`` (see the
    table above). ``incoming`` is normalised; raises :class:`UpdateRefused` (with a
    sentence for the partner) or ``KeyError`` for a status not in the vocabulary."""
    if incoming not in INCOMING_STATUSES:
        raise KeyError(incoming)
    current = extended_status(ticket_status, resolution)
    is_open, is_done = ticket_status in OPEN_TICKET, ticket_status in DONE_TICKET
    comment = (Step("comment"),)
    if incoming in _OPEN_LIKE:
        if is_open:
            return comment
        if is_done:
            return (Step("reopen"),)
    elif incoming in _ACCEPTED_LIKE:
        if ticket_status == "new":
            return (Step("accept"),)
        if is_open:
            return comment
        if is_done:
            return (Step("reopen"),)
    elif incoming == "in_progress":
        steps = {
            "new": (Step("accept"), Step("start")),
            "accepted": (Step("start"),),
            "in_progress": comment,
        }
        if ticket_status in steps:
            return steps[ticket_status]
        if is_done:
            return (Step("reopen"), Step("start"))
    elif incoming in _RESOLVE_AS:
        resolve = Step("resolve", resolution=_RESOLVE_AS[incoming])
        if ticket_status == "new":
            return (Step("accept"), resolve)
        if is_open:
            return (resolve,)
        if incoming == "closed" or current == extended_status("resolved", resolve.resolution):
            return comment
        if is_done:
            return (Step("reopen"), resolve)
    elif incoming in _REJECT_AS:
        why = _REJECT_AS[incoming]
        if is_open:
            return (Step("reject", reject_reason=why),)
        if ticket_status == "rejected" and resolution == why:
            return comment
    elif incoming == "internal_referral" and is_open:
        return (Step("transfer"),)
    raise UpdateRefused(_refusal(incoming, ticket_status, resolution))


def _refusal(incoming: str, ticket_status: str, resolution: str | None) -> str:
    state = external_status_code(ticket_status, resolution)
    if ticket_status == "rejected":
        return (
            f"the request was closed as {resolution or 'rejected'} and cannot change any more "
            f"(status {incoming!r}); send a new request instead"
        )
    return f"status {incoming!r} is not possible for a request that is {state}"


def explaining_event(latest: _Noted | None, resolved: _Noted | None) -> _Noted | None:
    """The event whose note explains the current status (``status_notes``): the latest
    status change, except that a close without a public note of its own is explained
    by the resolution it verified — the officer's account of what was done."""
    if latest is None:
        return None
    if (
        latest.kind == "closed"
        and public_note(latest.note, latest.actor_role) is None
        and resolved is not None
        and resolved.id < latest.id
    ):
        return resolved
    return latest
