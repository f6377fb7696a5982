from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.core.geo import CRS


class OfficeBrief(BaseModel):
    code: str
    name: str


class PhotoOut(BaseModel):
    id: str = Field(description="SHA-256 of the original bytes")
    status: str = Field(description="Derivatives: pending, ready or failed")
    width: int
    height: int
    thumb_url: str | None = Field(default=None, description="~320 px JPEG, no metadata")
    display_url: str | None = Field(default=None, description="~1600 px JPEG, no metadata")
    original_url: str | None = Field(
        default=None, description="Staff only: the original as uploaded; short-lived URL"
    )


class TicketBrief(BaseModel):
    id: int
    status: str
    resolution: str | None = None
    office: OfficeBrief
    route_reason: str
    due_at: datetime
    updated_at: datetime


class ReportOut(BaseModel):
    id: int
    category: str
    description: str | None
    lat: float = Field(description="WGS-84")
    lon: float = Field(description="WGS-84")
    location_source: str = Field(description="given (lat/lon fields) or exif (photo GPS)")
    given_crs: CRS | None = None
    accuracy_m: float | None = None
    location_mismatch_m: float | None = Field(
        default=None, description="Metres between the given location and the photo's GPS"
    )
    needs_attention: bool
    captured_at: datetime | None
    created_at: datetime
    ticket: TicketBrief
    photos: list[PhotoOut]


class NearbyReport(BaseModel):
    report_id: int
    ticket_id: int
    category: str
    status: str
    distance_m: float
    created_at: datetime
    thumb_url: str | None = None


class NearbyOut(BaseModel):
    items: list[NearbyReport]
    radius_m: float
    point: dict[str, float]
