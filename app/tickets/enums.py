"""Ticket vocabularies: statuses, the actions that move them, who acts, and outcomes.

The values are what the database and the API store and send, so renaming a
member is a migration, not a refactor.
"""

from enum import StrEnum


class TicketStatus(StrEnum):
    new = "new"
    accepted = "accepted"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"


OPEN_STATUSES = frozenset({TicketStatus.new, TicketStatus.accepted, TicketStatus.in_progress})
# No action moves a ticket out of these, except ``reopen`` out of ``closed``.
TERMINAL_STATUSES = frozenset({TicketStatus.closed, TicketStatus.rejected})


class Action(StrEnum):
    """What a caller asks for. ``comment`` and ``escalate`` leave the status as it is."""

    accept = "accept"
    claim = "claim"  # accept by a candidate office of a border ticket; moves it there
    start = "start"
    resolve = "resolve"
    reject = "reject"
    transfer = "transfer"
    reopen = "reopen"
    close = "close"
    comment = "comment"
    escalate = "escalate"


class ActorKind(StrEnum):
    """The capacity someone acts in on one ticket (office scope is checked elsewhere)."""

    officer = "officer"  # of the owning office (or of a candidate office, for claim)
    supervisor = "supervisor"  # of the owning office or an office above it
    admin = "admin"
    reporter = "reporter"  # the rider who sent the report
    system = "system"  # scheduled jobs: auto-close, escalation


class Resolution(StrEnum):
    """How a ticket ended. Never lumped: statistics group by this value."""

    fixed = "fixed"
    self_resolved = "self_resolved"  # the hazard went away by itself
    unable_to_fix = "unable_to_fix"
    duplicate = "duplicate"
    invalid = "invalid"
    not_responsible = "not_responsible"


class RejectReason(StrEnum):
    """Why a ticket was rejected; stored as its :class:`Resolution` of the same value."""

    duplicate = "duplicate"  # needs the original ticket's id
    invalid = "invalid"
    not_responsible = "not_responsible"  # no office in gridfix is responsible


# The outcomes an officer may report with ``resolve``; the others come from ``reject``.
RESOLVE_RESOLUTIONS = frozenset(
    {Resolution.fixed, Resolution.self_resolved, Resolution.unable_to_fix}
)


class CloseReason(StrEnum):
    """How a resolved ticket came to be closed (the close event's ``reason``)."""

    verified = "verified"  # a supervisor (or admin) checked the work
    confirmed = "confirmed"  # the reporter confirmed it
    quiet_period = "quiet_period"  # nobody objected for the configured time


class EventKind(StrEnum):
    """``TicketEvent.kind``: what happened, in the past tense."""

    created = "created"
    accepted = "accepted"
    claimed = "claimed"
    started = "started"
    resolved = "resolved"
    rejected = "rejected"
    transferred = "transferred"
    reopened = "reopened"
    closed = "closed"
    commented = "commented"
    escalated = "escalated"
    recategorised = "recategorised"  # category changed (and maybe re-routed)
    reprioritised = "reprioritised"
