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
