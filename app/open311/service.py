"""POST requests: a GeoReport service request becomes a gridfix report.

Everything goes through :func:`app.reports.service.submit`, the one intake path
(same routing, ticket, photo checks, idempotency, rate limit), with
``source="open311"``; this module translates the spec's fields, checks what
intake does not know about (api_key, attributes, the 4,000-character
description), fetches ``media_url`` safely, and stores the extras.

Decisions:

* **Who may post**: the principal holding the ``api_key``, if it may report at
  all — riders, officers, supervisors and admins (as for ``POST /v1/reports``);
  a viewer's key is refused (403). The report is that principal's, so rate
  limits and idempotency keys are per key holder; partners get their own hourly
  limit (``open311_reports_per_hour``), not the riders' one.
* **Location**: ``lat`` + ``long`` (WGS-84) are required. There is no geocoder,
  so ``address_string`` or ``address_id`` alone is refused with a 400 that says
  so; given beside ``lat``/``long`` they are kept and ``address_string`` is
  shown as ``address``.
* **Media**: files sent as ``media`` (multipart) take precedence over
  ``media_url`` (as the v2.1 draft says). A ``media_url`` alone is fetched
  through :mod:`app.core.outbound` (SSRF-safe) into our storage. **If the fetch
  fails the request is still accepted**: photos are optional in Open311, the
  URL and the reason are recorded (``open311_requests.media_note``) and logged.
  The exception: a service that requires a photo gets a 400 when no photo could
  be had, saying why.
* **Contact details** (email, device_id, account_id, names, phone) are stored
  in ``open311_contacts`` and never shown by any GET.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.enums import Role
from app.auth.service import actor_from_api_key
from app.categories import repository as categories_repo
from app.core import outbound
from app.core.errors import DomainError
from app.core.geo import check_lon_lat
from app.open311 import attributes as attrs
from app.open311 import repository, views
from app.open311.config import DESCRIPTION_MAX, Open311Config
from app.open311.dependencies import Submission
from app.open311.errors import Open311Error
from app.open311.media import read_files
from app.open311.models import Open311Contact, Open311Request
from app.photos import service as photos
from app.reports.service import IntakeDeps, IntakeRequest, submit

log = logging.getLogger("gridfix.open311")

SOURCE = "open311"
REPORTER_ROLES = frozenset({Role.rider, Role.officer, Role.supervisor, Role.admin})
CONTACT_LIMITS = {
    "email": 254,
    "device_id": 255,
    "account_id": 255,
    "first_name": 255,
    "last_name": 255,
    "phone": 64,
}
ADDRESS_MAX = 1000
ADDRESS_ID_MAX = 255


@dataclass(slots=True)
class Outcome:
    item: dict[str, Any]
    replayed: bool
    derive: list[tuple[str, Image.Image | bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Service:
    """What is needed of the category once the transaction is let go (before a fetch)."""

    code: str
    photo_required: bool
    sla_hours: int
    attributes: list[dict[str, Any]]


@dataclass(slots=True)
class _Media:
    photos: list[bytes]
    status: str | None = None
    note: str | None = None


def authenticate(session: Session, raw_key: str | None) -> Actor:
    """The principal behind ``api_key``; 403 (the spec's status) when missing, wrong or
    held by a principal that may not report."""
    if not raw_key:
        raise Open311Error(403, "api_key is required to create a service request")
    actor = actor_from_api_key(session, raw_key.strip())  # InvalidToken → 403 by the handler
    if actor.role not in REPORTER_ROLES:
        raise Open311Error(403, f"this api_key's holder ({actor.role.value}) may not report")
    return actor


def _location(sub: Submission) -> tuple[float, float]:
    lat_s, lon_s = sub.get("lat"), sub.get("long")
    if lat_s is None and lon_s is None:
        if sub.get("address_string") or sub.get("address_id"):
            raise Open311Error(
                400,
                "lat and long are required: this server has no geocoder, so address_string "
                "or address_id alone cannot be located",
            )
        raise Open311Error(400, "a location is required: send lat and long (WGS-84)")
    if lat_s is None or lon_s is None:
        raise Open311Error(400, "send both lat and long")
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise Open311Error(400, "lat and long must be decimal degrees") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise Open311Error(400, "lat and long must be finite numbers")
    problems = [
        f"{'long' if p['field'] == 'lon' else p['field']}: {p['reason']}"
        for p in check_lon_lat(lon, lat)
    ]
    if problems:
        raise Open311Error(400, problems[0], more=[(400, p) for p in problems[1:]])
    return lat, lon


def _check_lengths(sub: Submission) -> list[str]:
    problems = []
    description = sub.fields.get("description")
    if description is not None and len(description) > DESCRIPTION_MAX:
        problems.append(f"description is limited to {DESCRIPTION_MAX:,} characters")
    for name, limit in {
        **CONTACT_LIMITS,
        "address_string": ADDRESS_MAX,
        "address_id": ADDRESS_ID_MAX,
    }.items():
        value = sub.get(name)
        if value is not None and len(value) > limit:
            problems.append(f"{name} is limited to {limit} characters")
    media_url = sub.get("media_url")
    if media_url is not None and len(media_url) > outbound.MAX_URL_LENGTH:
        problems.append(f"media_url is limited to {outbound.MAX_URL_LENGTH} characters")
    return problems


def _service(session: Session, sub: Submission) -> _Service:
    code = sub.get("service_code")
    if code is None:
        raise Open311Error(400, "service_code was not provided")
    category = categories_repo.get_by_code(session, code.strip())
    if category is None or not category.active:
        raise Open311Error(404, f"service_code {code[:64]!r} not found")
    return _Service(
        category.code, category.photo_required, category.sla_hours, list(category.attributes)
    )


def _media(sub: Submission, config: Open311Config, deps: IntakeDeps) -> _Media:
    """The photos to submit and what became of ``media_url``. Never raises for a bad URL."""
    files = read_files(sub, deps.settings.max_photo_bytes)
    url = sub.get("media_url")
    if files:
        note = "media files sent; media_url not fetched" if url else None
        return _Media(files, "uploaded", note)
    if url is None:
        return _Media([])
    try:
        fetched = outbound.fetch(url.strip(), config.media_fetch)
        photos.check(fetched.data, deps.settings)  # intake checks again; this decides here
    except DomainError as exc:  # FetchRefused, PhotoRejected
        reason = getattr(exc, "reason", None) or "rejected"
        log.warning("media_url not used (%s): %s", reason, exc.detail)
        return _Media([], "failed", f"{reason}: {exc.detail}"[:255])
    return _Media([fetched.data], "fetched")


def _contact(sub: Submission, report_id: int) -> Open311Contact | None:
    values = {name: sub.get(name) for name in CONTACT_LIMITS}
    if not any(values.values()):
        return None
    return Open311Contact(
        report_id=report_id, **{k: v.strip() if v else None for k, v in values.items()}
    )


def create(
    session: Session,
    deps: IntakeDeps,
    config: Open311Config,
    actor: Actor,
    sub: Submission,
    idempotency_key: str | None,
    now: datetime,
) -> Outcome:
    """Validate, fetch media, submit through intake, store the extras; the POST item."""
    service = _service(session, sub)
    problems = _check_lengths(sub)
    lat, lon = _location(sub)
    answers, attribute_problems = attrs.validate(service.attributes, sub.attributes)
    problems += attribute_problems
    if problems:
        raise Open311Error(400, problems[0], more=[(400, p) for p in problems[1:]])
    # Nothing is held while a partner's server is being read (SQLite: the write lock).
    session.rollback()
    media = _media(sub, config, deps)
    if service.photo_required and not media.photos:
        why = f" (media_url: {media.note})" if media.status == "failed" else ""
        raise Open311Error(
            400, f"service {service.code!r} needs a photo: send media or a media_url{why}"
        )
    result = submit(
        session,
        deps,
        actor,
        IntakeRequest(
            category=service.code,
            lat=lat,
            lon=lon,
            description=sub.fields.get("description") or None,
            photos=media.photos,
            idempotency_key=idempotency_key,
            source=SOURCE,
        ),
        now,
    )
    report_id = int(result.body["id"])
    notice = _notice(result.body, service.sla_hours)
    if result.replayed:
        extra = repository.extra_for(session, report_id)
        return Outcome(views.created(report_id, notice, extra.token if extra else None), True)
    extra = Open311Request(
        report_id=report_id,
        token=secrets.token_hex(16),
        attributes=answers,
        address_string=sub.get("address_string"),
        address_id=sub.get("address_id"),
        media_url=sub.get("media_url"),
        media_status=media.status,
        media_note=media.note,
        created_at=now,
    )
    repository.add(session, extra, _contact(sub, report_id))
    return Outcome(views.created(report_id, notice, extra.token), False, result.derive)


def _notice(body: dict[str, Any], sla_hours: int) -> str | None:
    office = ((body.get("ticket") or {}).get("office") or {}).get("name")
    return views.service_notice(sla_hours, office) if office else None
