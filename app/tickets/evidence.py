"""Evidence-bound resolution: an "after" photo must be taken at the spot, after
the report. Pure checks; the failing check is named so officers know what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from app.core.errors import InvalidInput
from app.core.geo import haversine_m


class EvidenceRejected(InvalidInput):
    code = "evidence-rejected"
    title = "The after photo does not prove the fix"


@dataclass(frozen=True, slots=True)
class AfterPhoto:
    index: int
    lat: float | None
    lon: float | None
    captured_at: datetime | None  # aware
    location_source: str  # "exif" | "given" | "none"


def capture_time(value: datetime | None, offset_known: bool, local: tzinfo) -> datetime | None:
    """EXIF times without an offset are the camera's wall clock: read them in ``local``."""
    if value is None:
        return None
    if offset_known or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=local)


def check(
    photos: list[AfterPhoto],
    *,
    required: bool,
    spot: tuple[float, float],
    reported_at: datetime,
    max_distance_m: float,
) -> None:
    """Raise EvidenceRejected unless some after photo is near ``spot`` (lat, lon) and
    taken after ``reported_at``; every photo given must pass both checks."""
    if not photos:
        if required:
            raise EvidenceRejected(
                "this category needs an after photo taken at the spot",
                errors=[
                    {
                        "field": "photos",
                        "check": "evidence.photo",
                        "reason": "an after photo is required",
                    }
                ],
            )
        return
    errors = []
    for p in photos:
        where = f"photos[{p.index}]"
        if p.lat is None or p.lon is None:
            errors.append(
                {
                    "field": where,
                    "check": "evidence.location",
                    "reason": "no location: the photo has no GPS and no lat/lon was sent",
                }
            )
        else:
            d = haversine_m(p.lon, p.lat, spot[1], spot[0])
            if d > max_distance_m:
                errors.append(
                    {
                        "field": where,
                        "check": "evidence.location",
                        "reason": f"taken {d:.0f} m from the reported spot "
                        f"(at most {max_distance_m:g} m)",
                    }
                )
        if p.captured_at is None:
            errors.append(
                {
                    "field": where,
                    "check": "evidence.time",
                    "reason": "no capture time: the photo has none and none was sent",
                }
            )
        elif p.captured_at <= reported_at:
            errors.append(
                {
                    "field": where,
                    "check": "evidence.time",
                    "reason": "taken before the hazard was reported",
                }
            )
    if errors:
        checks = sorted({e["check"] for e in errors})
        raise EvidenceRejected(f"after photo failed {', '.join(checks)}", errors=errors)
