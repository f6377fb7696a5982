"""What an Open311 request carries beyond a rider report.

Two tables, so that privacy is structural: ``open311_requests`` holds what the
GeoReport views may show (attribute answers, the address as given, the token);
``open311_contacts`` holds the submitter's personal details and is written once
and never read by any GET — nothing in :mod:`app.open311.views` imports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.types import JSONType


class Open311Request(Base):
    __tablename__ = "open311_requests"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    # For GET tokens/{token}: opaque, random, unique.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    # Answers to the service definition's attributes: {code: value or [values]}.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    address_string: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[str | None] = mapped_column(String(255))
    # The partner's media_url as sent; never shown back (GETs show our derivative).
    media_url: Mapped[str | None] = mapped_column(Text)
    # uploaded | fetched | failed | ignored (files took precedence); None: no media.
    media_status: Mapped[str | None] = mapped_column(String(16))
    media_note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Open311Contact(Base):
    """The submitter's personal details. Private: never serialised by any view."""

    __tablename__ = "open311_contacts"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    device_id: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
