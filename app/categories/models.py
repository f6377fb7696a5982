"""The hazard catalogue riders choose from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.types import JSONType


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    group_code: Mapped[str] = mapped_column(String(32), default="other")
    description: Mapped[str | None] = mapped_column(String(500))
    sla_hours: Mapped[int] = mapped_column(Integer, default=72)
    photo_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether closing needs an "after" photo near the spot (officer workflow).
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Office level that owns this category's tickets ("district" for, say,
    # traffic facilities); None: the deepest office containing the spot.
    route_level: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=100)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Extra questions (Open311 service attributes); a list of attribute definitions.
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
