"""Authentication epoch: one number that every change to who may call (a
principal's activity, token version, role, office or name; an API key's
revocation; an office's code or path; any deletion of those) moves forward, by
triggers, so changes made in SQL count too. Workers read it to know whether the
credentials they hold resolved are still good (see ``app.auth.service``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here, not imported: a migration must not change when app code does.
# table → the columns whose UPDATE moves the epoch (a DELETE always does).
_WATCHED = {
    "principals": ("active", "token_version", "role", "office_id", "name", "display_name"),
    "api_keys": ("revoked_at", "principal_id"),
    "offices": ("code", "path"),
}
_BUMP = "UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_auth_epoch_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_epoch")),
    )
    op.execute("INSERT INTO auth_epoch (id, epoch) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION auth_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for table, columns in _WATCHED.items():
            op.execute(
                f"CREATE TRIGGER {table}_auth_epoch AFTER UPDATE OF {', '.join(columns)} "
                f"OR DELETE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump()"
            )
        return
    for table, columns in _WATCHED.items():  # SQLite: row triggers only
        op.execute(
            f"CREATE TRIGGER {table}_auth_epoch_update AFTER UPDATE OF {', '.join(columns)} "
            f"ON {table} BEGIN {_BUMP}; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_auth_epoch_delete AFTER DELETE ON {table} BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_epoch ON {table}")
        op.execute("DROP FUNCTION IF EXISTS auth_epoch_bump()")
    else:
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_epoch_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_epoch_delete")
    op.drop_table("auth_epoch")
