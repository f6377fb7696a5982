"""The hooks listener that keeps the rollups in step with the tickets.

Runs inside the transaction of every ticket change (creation, action,
recategorisation, office move, scheduled job): subtracts the ticket's old
contribution, adds the new one, re-attributes its past events when it moved
to another office or category, and bumps the version of every office whose
figures changed. A change that alters no figure (a comment) writes nothing.
On PostgreSQL a change whose listeners run at its commit leaves its deltas
pending instead, for a fold to add (:mod:`app.stats.pending`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.stats import pending, repository
from app.stats.buckets import stats_timezone
from app.stats.contrib import FLOW_KINDS, Deltas
from app.tickets import hooks
from app.tickets.hooks import TicketSnapshot
from app.tickets.models import TicketEvent


def on_ticket_change(
    session: Session, before: TicketSnapshot | None, after: TicketSnapshot, event: TicketEvent
) -> None:
    if before == after and event.kind not in FLOW_KINDS:
        return
    deltas = Deltas(stats_timezone())
    offices = {after.office_id} if before is None else {after.office_id, before.office_id}
    paths = repository.office_paths(session, offices)
    new_path = paths[after.office_id]
    if before is None or not deltas.add_change(before, after, new_path):
        # Created, or moved between rollup rows other than the cohort's: take the
        # old contribution out and put the new one in. (The common change, such as
        # accept or start, touches only the cohort's counters: ``add_change``.)
        if before is not None:
            old_path = paths[before.office_id]
            deltas.add_ticket(before, -1, old_path)
            if before.office_id != after.office_id or before.category_id != after.category_id:
                # Time series attribute events to the ticket's current office and category.
                for kind, at in repository.flow_events(session, after.id, except_id=event.id):
                    deltas.add_flow(kind, at, before.category_id, -1, old_path)
                    deltas.add_flow(kind, at, after.category_id, 1, new_path)
        deltas.add_ticket(after, 1, new_path)
    if event.kind in FLOW_KINDS:
        deltas.add_flow(event.kind, event.created_at, after.category_id, 1, new_path)
    deltas = deltas.nonzero()
    if deltas.empty:
        return
    if pending.holds(session):
        pending.hold(session, deltas, bump=deltas.offices())
    else:
        repository.apply(session, deltas, bump=deltas.offices())


def install() -> None:
    """Register the listener (idempotent)."""
    hooks.register(on_ticket_change)
