"""Officer workflow: claim candidates for border tickets, on-time and escalation
marks on tickets, a routing level per category, and time indexes for change feeds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_candidates",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_ticket_candidates_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_candidates_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "office_id", name=op.f("pk_ticket_candidates")),
    )
    op.create_index(op.f("ix_ticket_candidates_office_id"), "ticket_candidates", ["office_id"])
    # Plain ADD COLUMN on both dialects: a batch "move and copy" on SQLite would
    # drop the R*Tree triggers that live on the tickets table.
    op.add_column("tickets", sa.Column("resolved_on_time", sa.Boolean(), nullable=True))
    op.add_column("tickets", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("categories", sa.Column("route_level", sa.String(32), nullable=True))
    # Change feeds (Open311 updated_after, servicerequestupdates) read by time.
    op.create_index("ix_tickets_updated_at", "tickets", ["updated_at"])
    op.create_index("ix_ticket_events_created_at", "ticket_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_events_created_at", table_name="ticket_events")
    op.drop_index("ix_tickets_updated_at", table_name="tickets")
    # SQLite ≥ 3.35 drops columns in place (keeping the tickets triggers).
    for table, column in (
        ("categories", "route_level"),
        ("tickets", "escalated_at"),
        ("tickets", "resolved_on_time"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index(op.f("ix_ticket_candidates_office_id"), table_name="ticket_candidates")
    op.drop_table("ticket_candidates")
