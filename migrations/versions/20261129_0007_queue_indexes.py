"""Work-queue indexes: partial indexes over open tickets, one per queue sort,
led by office for one office's queue and unled for wide scopes, with status and
category trailing so those filters are checked in the index: every supported
filter and sort reads one page from an index and stops.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here, not imported: a migration must not change when app code does.
_OPEN = "status IN ('new', 'accepted', 'in_progress')"
_FILTERS = ["status", "category_id"]
_INDEXES: dict[str, list[str]] = {
    "ix_tickets_open_office_priority": ["office_id", "priority", "due_at", "id", *_FILTERS],
    "ix_tickets_open_office_due": ["office_id", "due_at", "id", *_FILTERS],
    "ix_tickets_open_office_created": ["office_id", "created_at", "id", *_FILTERS],
    "ix_tickets_open_office_updated": ["office_id", "updated_at", "id", *_FILTERS],
    "ix_tickets_open_priority": ["priority", "due_at", "id", *_FILTERS],
    "ix_tickets_open_due": ["due_at", "id", *_FILTERS],
    "ix_tickets_open_created": ["created_at", "id", *_FILTERS],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(
            name,
            "tickets",
            columns,
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name="tickets")
