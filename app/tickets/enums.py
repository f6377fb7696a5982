from enum import StrEnum


class TicketStatus(StrEnum):
    new = "new"
    accepted = "accepted"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"


OPEN_STATUSES = frozenset({TicketStatus.new, TicketStatus.accepted, TicketStatus.in_progress})
