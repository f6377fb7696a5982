"""Rider reports: what the rider sent, kept as sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="RESTRICT"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    description: Mapped[str | None] = mapped_column(Text)
    # The routed location, WGS-84.
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # "given" (lat/lon fields) or "exif" (the first photo's GPS).
    location_source: Mapped[str] = mapped_column(String(8))
    # As the client sent it, before conversion.
    given_lat: Mapped[float | None] = mapped_column(Float)
    given_lon: Mapped[float | None] = mapped_column(Float)
    given_crs: Mapped[str | None] = mapped_column(String(8))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    # Metres between the given location and the photo's GPS, when both exist.
    location_mismatch_m: Mapped[float | None] = mapped_column(Float)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16), default="app")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_reports_reporter_id_id", "reporter_id", "id"),)


class ReportPhoto(Base):
    __tablename__ = "report_photos"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id", ondelete="RESTRICT"), index=True)
