"""Foundation: grid offices with boundaries, principals and API keys.

PostgreSQL gets PostGIS and a GiST index on office boundaries; SQLite gets an
R*Tree virtual table kept in step with the boundary bbox columns by triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RTREE_SQL = [
    "CREATE VIRTUAL TABLE office_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)",
    """CREATE TRIGGER offices_rtree_ins AFTER INSERT ON offices
       WHEN NEW.min_lon IS NOT NULL BEGIN
         INSERT INTO office_rtree VALUES (NEW.id, NEW.min_lon, NEW.max_lon, NEW.min_lat, NEW.max_lat);
       END""",
    """CREATE TRIGGER offices_rtree_upd AFTER UPDATE OF min_lon, max_lon, min_lat, max_lat ON offices
       BEGIN
         DELETE FROM office_rtree WHERE id = OLD.id;
         INSERT INTO office_rtree SELECT NEW.id, NEW.min_lon, NEW.max_lon, NEW.min_lat, NEW.max_lat
           WHERE NEW.min_lon IS NOT NULL;
       END""",
    """CREATE TRIGGER offices_rtree_del AFTER DELETE ON offices
       BEGIN
         DELETE FROM office_rtree WHERE id = OLD.id;
       END""",
]


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        geom: sa.types.TypeEngine = Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    else:
        geom = sa.LargeBinary()

    op.create_table(
        "offices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("boundary", geom, nullable=True),
        sa.Column("min_lon", sa.Float(), nullable=True),
        sa.Column("min_lat", sa.Float(), nullable=True),
        sa.Column("max_lon", sa.Float(), nullable=True),
        sa.Column("max_lat", sa.Float(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("properties", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["offices.id"],
            name=op.f("fk_offices_parent_id_offices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offices")),
        sa.UniqueConstraint("code", name=op.f("uq_offices_code")),
    )
    op.create_index(op.f("ix_offices_parent_id"), "offices", ["parent_id"])
    op.create_index(op.f("ix_offices_path"), "offices", ["path"])
    if dialect == "postgresql":
        op.create_index("ix_offices_boundary", "offices", ["boundary"], postgresql_using="gist")
    else:
        for stmt in _RTREE_SQL:
            op.execute(stmt)

    op.create_table(
        "principals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_principals_office_id_offices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
    )
    op.create_index(op.f("ix_principals_office_id"), "principals", ["office_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_api_keys_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_principal_id"), "api_keys", ["principal_id"])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("api_keys")
    op.drop_table("principals")
    if dialect == "sqlite":
        for trig in ("offices_rtree_ins", "offices_rtree_upd", "offices_rtree_del"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS office_rtree")
    op.drop_table("offices")
    # The postgis extension stays: other databases objects may depend on it.
