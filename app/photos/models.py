"""Stored photos (content-addressed) and direct-upload intents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class Photo(Base):
    """One original photo, stored once however often it is reported.

    ``id`` is the SHA-256 of the original bytes, so the object keys derive from
    it and a retried upload lands on the same objects.
    """

    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    original_key: Mapped[str] = mapped_column(String(255))
    # pending → ready | failed; derivatives are made after the report is acknowledged.
    derivatives_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    derivatives_error: Mapped[str | None] = mapped_column(String(255))
    display_key: Mapped[str | None] = mapped_column(String(255))
    thumb_key: Mapped[str | None] = mapped_column(String(255))
    display_width: Mapped[int | None] = mapped_column(Integer)
    display_height: Mapped[int | None] = mapped_column(Integer)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    gps_accuracy_m: Mapped[float | None] = mapped_column(Float)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Upload(Base):
    """A presigned direct upload: the phone PUTs bytes to storage, then names
    the upload in its report. Unused uploads expire and are swept."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"))
    object_key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    # pending → used | expired
    status: Mapped[str] = mapped_column(String(16), default="pending")
    photo_id: Mapped[str | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_uploads_principal_id_status", "principal_id", "status"),
        Index("ix_uploads_status_expires_at", "status", "expires_at"),
    )
