from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.geo import CRS
from app.grids.routing import RouteReason


class OfficeRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    level: str
    depth: int


class OfficeOut(OfficeRef):
    parent_id: int | None
    bbox: list[float] | None = Field(
        default=None, description="[min_lon, min_lat, max_lon, max_lat], WGS-84"
    )
    area_m2: float | None
    active: bool
    children: int = 0
    boundary: dict[str, Any] | None = Field(
        default=None, description="GeoJSON MultiPolygon (WGS-84), when requested"
    )


class PointOut(BaseModel):
    lat: float
    lon: float
    crs: CRS = CRS.wgs84


class LookupOut(BaseModel):
    office: OfficeRef
    ancestors: list[OfficeRef] = Field(description="From the root down to the office's parent")
    reason: RouteReason = Field(
        description="inside: the office covers the point; border: another office at the same "
        "level also covers it or is within the border margin (see alternatives); nearest: no "
        "office covers it and this one is the nearest within the routing tolerance"
    )
    distance_m: float = Field(description="0 when inside; metres to the office otherwise")
    alternatives: list[OfficeRef] = Field(description="Other offices that may claim the point")
    point: PointOut = Field(description="The point as routed, converted to WGS-84")


class FeatureProblemOut(BaseModel):
    index: int
    code: str | None
    reason: str


class ImportReportOut(BaseModel):
    created: list[str]
    updated: list[str]
    repaired: list[str]
    rejected: list[FeatureProblemOut]
    dry_run: bool


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    display_name: str | None
    role: str


class BoundaryProperties(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None = Field(description="Code of the parent office; null for a root")


class BoundaryFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The office code")
    geometry: dict[str, Any] = Field(
        description="GeoJSON MultiPolygon, lon/lat (WGS-84), exterior rings counter-clockwise"
    )
    properties: BoundaryProperties


class BoundaryCollection(BaseModel):
    """An RFC 7946 FeatureCollection: lon/lat order, WGS-84, no ``crs`` member."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    bbox: list[float] | None = Field(
        description="[west, south, east, north] of all features; null when there are none"
    )
    tolerance_m: float = Field(description="Simplification tolerance applied, in metres")
    features: list[BoundaryFeature]
