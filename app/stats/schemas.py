"""Response shapes of ``/v1/stats/*`` (for the OpenAPI document; the handlers
build plain dicts, which these describe field by field)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Quantiles(BaseModel):
    median: int | None = Field(description="Lower bound (s) of the bucket of the median")
    p90: int | None = Field(description="Lower bound (s) of the bucket of the 90th percentile")


class Backlog(BaseModel):
    open: int = Field(description="Open tickets (new, accepted, in_progress)")
    median_age_s: int | None
    oldest_age_s: int | None


class Figures(BaseModel):
    total: int = Field(description="Tickets in the cohort")
    by_status: dict[str, int] = Field(description="All six statuses")
    by_resolution: dict[str, int] = Field(description="All six resolutions")
    resolution_rate: float | None = Field(description="(resolved + closed) / (total − rejected)")
    on_time_rate: float | None = Field(
        description="resolved-or-closed with resolved_on_time / resolved-or-closed"
    )
    rework_rate: float | None = Field(
        description="reopened at least once / ever resolved (resolved or closed, or reopened)"
    )
    time_to_first_response_s: Quantiles
    time_to_resolution_s: Quantiles
    overdue: int = Field(description="Open tickets with due_at < as_of")
    backlog: Backlog


class Scope(BaseModel):
    office: dict[str, str] | None = Field(
        description="code, name, level of the office; null: an admin's whole scope"
    )
    subtree: bool = Field(description="false for an officer: their own office only")
    category: str | None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class Summary(Figures):
    scope: Scope
    as_of: str = Field(description="The instant overdue and ages are computed at (UTC)")


class OfficeRef(BaseModel):
    code: str
    name: str
    level: str


class OfficeFigures(Figures):
    office: OfficeRef


class OfficeList(BaseModel):
    scope: Scope
    as_of: str
    items: list[OfficeFigures]


class CategoryFigures(Figures):
    category: str


class CategoryList(BaseModel):
    scope: Scope
    as_of: str
    items: list[CategoryFigures]


class Bucket(BaseModel):
    start: str = Field(description="Local start of the bucket, with its offset")
    created: int
    resolved: int
    reopened: int
    closed: int
    rejected: int


class TimeSeries(BaseModel):
    scope: Scope
    interval: str
    timezone: str
    buckets: list[Bucket]


class HotspotCollection(BaseModel):
    type: str = "FeatureCollection"
    cell_m: int
    as_of: str
    features: list[dict[str, Any]] = Field(
        description="Polygon cells (lon/lat) with properties count and by_category"
    )
