"""Grid offices: a hierarchy of polygons (city → district → street → grid, any depth)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.types import GeometryType, JSONType


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(32), default="grid")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("offices.id", ondelete="RESTRICT"), index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    # Materialised path of ancestor ids, "/1/7/42/": a subtree is a prefix match.
    path: Mapped[str] = mapped_column(String(512), index=True, default="/")
    boundary: Mapped[BaseGeometry | None] = mapped_column(GeometryType("MULTIPOLYGON"))
    # Bounding box of the boundary; feeds the SQLite R*Tree and API bboxes.
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    area_m2: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_offices_boundary", "boundary", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
    )

    def __repr__(self) -> str:
        return f"<Office {self.code} {self.name!r}>"
