"""Statistics rollups: tickets by creation slot (with duration histograms), the
open backlog by creation and due hour and by map cell, events by day and month,
and a per-office data version for ETags.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here, not imported: a migration must not change when app code does.
_STATUSES = ("new", "accepted", "in_progress", "resolved", "closed", "rejected")
_RESOLUTIONS = (
    "fixed",
    "self_resolved",
    "unable_to_fix",
    "duplicate",
    "invalid",
    "not_responsible",
)
_NBUCKETS = 40
_COHORT = (
    "n",
    *(f"st_{s}" for s in _STATUSES),
    *(f"res_{r}" for r in _RESOLUTIONS),
    "on_time",
    "reworked",
    "ever_resolved",
    *(f"fr_{i:02d}" for i in range(_NBUCKETS)),
    *(f"rs_{i:02d}" for i in range(_NBUCKETS)),
)
_FLOW = ("created", "resolved", "reopened", "closed", "rejected")


def _ints(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Integer(), nullable=False) for n in names]


def _counters(*names: str) -> list[sa.Column]:
    # Upserts name only the counters they change; the others start at 0.
    return [sa.Column(n, sa.Integer(), server_default=sa.text("0"), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "stats_cohort",
        *_ints("office_id", "category_id"),
        sa.Column("grain", sa.String(length=1), nullable=False),
        *_ints("slot"),
        *_counters(*_COHORT),
        sa.PrimaryKeyConstraint(
            "office_id", "category_id", "grain", "slot", name=op.f("pk_stats_cohort")
        ),
    )
    op.create_table(
        "stats_backlog",
        *_ints("office_id", "category_id"),
        sa.Column("grain", sa.String(length=1), nullable=False),
        *_ints("slot"),
        *_counters("n"),
        sa.PrimaryKeyConstraint(
            "office_id", "category_id", "grain", "slot", name=op.f("pk_stats_backlog")
        ),
    )
    op.create_table(
        "stats_due",
        *_ints("office_id", "category_id", "due_hour", "created_hour"),
        *_counters("n"),
        sa.PrimaryKeyConstraint(
            "office_id", "category_id", "due_hour", "created_hour", name=op.f("pk_stats_due")
        ),
    )
    op.create_table(
        "stats_hotspot",
        *_ints("office_id", "cell_m", "category_id", "cx", "cy"),
        *_counters("n"),
        sa.PrimaryKeyConstraint(
            "office_id", "cell_m", "category_id", "cx", "cy", name=op.f("pk_stats_hotspot")
        ),
    )
    op.create_table(
        "stats_flow",
        *_ints("office_id", "category_id"),
        sa.Column("grain", sa.String(length=1), nullable=False),
        *_ints("slot"),
        *_counters(*_FLOW),
        sa.PrimaryKeyConstraint(
            "office_id", "category_id", "grain", "slot", name=op.f("pk_stats_flow")
        ),
    )
    op.create_table(
        "stats_version",
        sa.Column("office_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("office_id", name=op.f("pk_stats_version")),
    )


def downgrade() -> None:
    for name in (
        "stats_version",
        "stats_flow",
        "stats_hotspot",
        "stats_due",
        "stats_backlog",
        "stats_cohort",
    ):
        op.drop_table(name)
