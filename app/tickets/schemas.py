from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.reports.schemas import OfficeBrief, PhotoOut


class ActorOut(BaseModel):
    role: str
    name: str | None = Field(default=None, description="Staff see names; riders see none")
    office: OfficeBrief | None = None


class EventOut(BaseModel):
    id: int
    kind: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    note: str | None
    at: datetime
    actor: ActorOut
    office: OfficeBrief | None
    photo_ids: list[str] = []
    data: dict[str, Any] = {}


class ReportBrief(BaseModel):
    id: int
    description: str | None
    location_source: str
    location_mismatch_m: float | None
    accuracy_m: float | None
    created_at: datetime


class TicketOut(BaseModel):
    id: int
    status: str
    resolution: str | None
    priority: int
    category: str
    office: OfficeBrief
    assignee: str | None = None
    lat: float
    lon: float
    route_reason: str
    route_distance_m: float
    candidates: list[OfficeBrief] = []
    needs_attention: bool
    overdue: bool
    due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolved_on_time: bool | None
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    etag: str = Field(description="Send as If-Match to change the ticket")
    allowed_actions: list[str] = Field(description="What the caller may do now")


class TicketDetail(TicketOut):
    report: ReportBrief
    photos: list[PhotoOut]
    events: list[EventOut]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000)
    resolution: str | None = Field(default=None, max_length=24)
    reject_reason: Literal["duplicate", "invalid", "not_responsible"] | None = None
    duplicate_of: int | None = Field(default=None, ge=1, le=2**62)
    target_office: str | None = Field(default=None, max_length=64, description="Office code")


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(default=None, max_length=32)
    priority: int | None = Field(default=None, ge=1, le=4, description="1 urgent … 4 low")
    note: str | None = Field(default=None, max_length=4000)
