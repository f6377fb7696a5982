"""Query arguments of the list resources, checked at the edge. Pure; no I/O.

GET Service Requests (spec): ``service_request_id`` (comma list) overrides every
other argument; ``service_code`` and ``status`` are comma lists; ``start_date`` /
``end_date`` select on ``requested_datetime``, default to the most recent 90
days and may not span more than 90 — a longer range is refused (400) rather
than silently cut. W3C datetimes must carry an offset. At most 1,000 results.

Common extensions: ``page`` / ``page_size`` (1-based, ≤ 1,000), ``updated_after``
/ ``updated_before`` on ``updated_datetime`` (with either, and no dates, the
90-day window on ``requested_datetime`` is not applied: a client polling for
changes must see old requests that changed), ``extensions=true``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from app.open311.errors import Open311Error
from app.open311.repository import RequestQuery
from app.open311.status import statuses_for

WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 1000


class RequestFilters(BaseModel):
    service_request_id: str | None = Field(
        default=None, max_length=20_000, description="Comma list; overrides all other arguments"
    )
    service_code: str | None = Field(default=None, max_length=4000, description="Comma list")
    status: str | None = Field(
        default=None, max_length=100, description="open, closed (comma list)"
    )
    start_date: str | None = Field(default=None, max_length=40, description="W3C, with offset")
    end_date: str | None = Field(default=None, max_length=40, description="W3C, with offset")
    updated_after: str | None = Field(default=None, max_length=40)
    updated_before: str | None = Field(default=None, max_length=40)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=MAX_RESULTS, ge=1, le=MAX_RESULTS)
    extensions: bool = Field(default=False, description="Add attributes, photos and notes")


class UpdateFilters(BaseModel):
    start_date: str | None = Field(default=None, max_length=40, description="W3C, with offset")
    end_date: str | None = Field(default=None, max_length=40, description="W3C, with offset")
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=MAX_RESULTS, ge=1, le=MAX_RESULTS)


def parse_w3c(name: str, value: str | None) -> datetime | None:
    """A W3C datetime with an offset (``Z`` or ``±hh:mm``), or 400."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace(" ", "+")  # a "+" sent unencoded in a query reads as " "
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or "T" not in text.upper():
        raise Open311Error(
            400, f"{name} must be a W3C datetime such as 2010-01-01T00:00:00Z, not {value!r}"
        )
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone offset (Z or ±hh:mm): {value!r}")
    return parsed


def window(
    start: datetime | None, end: datetime | None, now: datetime, *, default: bool = True
) -> tuple[datetime | None, datetime | None]:
    """The [start, end] range: filled to 90 days from whichever end is given."""
    if start is not None and end is not None:
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > WINDOW:
            raise Open311Error(400, "start_date to end_date may not span more than 90 days")
        return start, end
    if start is not None:
        return start, start + WINDOW
    if end is not None:
        return end - WINDOW, end
    return (now - WINDOW, now) if default else (None, None)


def _comma_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def parse_filters(f: RequestFilters, now: datetime) -> tuple[RequestQuery, bool]:
    """The repository query for GET requests, and whether extensions were asked for."""
    ids = _comma_list(f.service_request_id)
    if ids is not None:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
        if not all(i.isdigit() and len(i) <= 18 for i in ids):
            raise Open311Error(400, "service_request_id is a comma-separated list of ids")
        return RequestQuery(ids={int(i) for i in ids}, limit=MAX_RESULTS), f.extensions
    statuses: set[str] | None = None
    for value in _comma_list(f.status) or []:
        if value.lower() not in ("open", "closed"):
            raise Open311Error(400, f"status is open or closed, not {value!r}")
        statuses = (statuses or set()) | statuses_for(value.lower())
    updated_from = parse_w3c("updated_after", f.updated_after)
    updated_to = parse_w3c("updated_before", f.updated_before)
    if updated_from and updated_to and updated_to < updated_from:
        raise Open311Error(400, "updated_before is before updated_after")
    created_from, created_to = window(
        parse_w3c("start_date", f.start_date),
        parse_w3c("end_date", f.end_date),
        now,
        default=updated_from is None and updated_to is None,
    )
    return (
        RequestQuery(
            category_codes=_comma_list(f.service_code),
            ticket_statuses=statuses,
            created_from=created_from,
            created_to=created_to,
            updated_from=updated_from,
            updated_to=updated_to,
            limit=f.page_size,
            offset=(f.page - 1) * f.page_size,
        ),
        f.extensions,
    )


def parse_update_filters(f: UpdateFilters, now: datetime) -> tuple[datetime, datetime, int, int]:
    """(start, end, limit, offset) for GET servicerequestupdates."""
    start, end = window(
        parse_w3c("start_date", f.start_date), parse_w3c("end_date", f.end_date), now
    )
    assert start is not None and end is not None  # default=True fills both
    return start, end, f.page_size, (f.page - 1) * f.page_size
