"""Alembic environment: one metadata, two dialects (PostgreSQL + PostGIS, SQLite)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from app import models  # noqa: F401 - fills Base.metadata
from app.core.db import Base
from app.core.types import GeometryType

config = context.config
target_metadata = Base.metadata

# Tables that exist on purpose outside the models: PostGIS's own catalogue and
# the SQLite R*Tree shadow tables that index office boundaries.
_FOREIGN_TABLES = {"spatial_ref_sys", "layer", "topology"}
_FOREIGN_PREFIXES = ("office_rtree", "ticket_rtree")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if (
        type_ == "table"
        and name
        and (name in _FOREIGN_TABLES or name.startswith(_FOREIGN_PREFIXES))
    ):
        return False
    # Indexes declared with .ddl_if(dialect=...) exist only on that dialect.
    ddl_if = getattr(obj, "_ddl_if", None)
    if ddl_if is not None and ddl_if.dialect is not None:
        dialect = context.get_context().dialect.name
        allowed = {ddl_if.dialect} if isinstance(ddl_if.dialect, str) else set(ddl_if.dialect)
        if dialect not in allowed:
            return False
    return True


def compare_type(
    ctx: Any, inspected_column: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    # A geometry column reflects as geoalchemy2's Geometry on PostGIS and as a
    # BLOB on SQLite; both are what GeometryType renders to.
    if isinstance(metadata_type, GeometryType):
        return False
    return None


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=compare_type,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from app.config import load_settings

        url = load_settings().resolved_database_url
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = url
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run against a database")
run_migrations_online()
