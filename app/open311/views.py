"""GeoReport v2 resources as plain values, ready for :func:`app.open311.formats.render`.

What a public reader may see, and nothing else: no reporter, no contact
details (``open311_contacts`` is not even imported here), no original photos —
``media_url`` is the display-size derivative (re-encoded, no EXIF), ``null``
until it exists. Identifiers (``service_request_id``, ``service_code``,
``update_id``, ``token``) are always strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app.categories.models import Category
from app.open311 import attributes as attrs
from app.open311 import status as st
from app.open311.config import SPECIFICATION, Open311Config
from app.open311.formats import JSON_TYPE, XML_TYPE, w3c
from app.open311.repository import RequestRow
from app.photos.models import Photo
from app.photos.storage import ObjectStorage
from app.tickets.models import Ticket, TicketEvent


# ---------------------------------------------------------------- discovery, services
def changeset(changed_at: datetime | None, fingerprint: str) -> str:
    """Sortable (time first) and moving whenever the services or their attributes do."""
    stamp = w3c(changed_at) if changed_at is not None else "1970-01-01T00:00:00+00:00"
    return f"{stamp} {fingerprint[:12]}"


def discovery(config: Open311Config, change: str) -> dict[str, Any]:
    return {
        "changeset": change,
        "contact": config.contact,
        "key_service": config.key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": config.endpoint_url,
                "changeset": change,
                "type": config.endpoint_type,
                "formats": [XML_TYPE.split(";")[0], JSON_TYPE.split(";")[0]],
            }
        ],
    }


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name_en,
        "description": category.description or f"{category.name_zh} / {category.name_en}",
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join(category.keywords),
        "group": category.group_code,
    }


def service_definition(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": attrs.definition(category.attributes)}


def service_notice(sla_hours: int, office_name: str) -> str:
    return f"Sent to {office_name}; to be dealt with within {sla_hours} hours."


# ---------------------------------------------------------------- requests
def created(report_id: int, notice: str | None, token: str | None) -> dict[str, Any]:
    """One item of the POST response (realtime: the id is there at once)."""
    item: dict[str, Any] = {"service_request_id": str(report_id), "service_notice": notice}
    if token is not None:
        item["token"] = token
    return item


def token_item(report_id: int, token: str) -> dict[str, Any]:
    return {"service_request_id": str(report_id), "token": token}


def _display_url(photo: Photo, storage: ObjectStorage, ttl_s: int) -> str | None:
    if photo.derivatives_status != "ready" or not photo.display_key:
        return None
    return storage.presigned_get(photo.display_key, ttl_s=ttl_s)


def _updated_at(ticket: Ticket) -> datetime:
    # "For requests with status=closed, this will be the date the request was closed."
    if ticket.status == "resolved" and ticket.resolved_at is not None:
        return ticket.resolved_at
    if ticket.status in ("closed", "rejected") and ticket.closed_at is not None:
        return ticket.closed_at
    return ticket.updated_at


def request_item(
    row: RequestRow,
    photos: Sequence[Photo],
    explaining: TicketEvent | None,
    storage: ObjectStorage,
    ttl_s: int,
    *,
    events: Sequence[TicketEvent] | None = None,
) -> dict[str, Any]:
    """A service request as GET requests shows it; with ``events``, the extensions too.

    ``explaining`` is the event whose note becomes ``status_notes``
    (:func:`app.open311.status.explaining_event`)."""
    report, ticket, category = row.report, row.ticket, row.category
    note = st.public_note(explaining.note, explaining.actor_role) if explaining else None
    urls = [u for u in (_display_url(p, storage, ttl_s) for p in photos) if u]
    item: dict[str, Any] = {
        "service_request_id": str(report.id),
        "status": st.open311_status(ticket.status),
        "status_notes": st.status_notes(ticket.status, ticket.resolution, note),
        "service_name": category.name_en,
        "service_code": category.code,
        "description": report.description,
        "agency_responsible": row.office_name,
        "service_notice": service_notice(category.sla_hours, row.office_name),
        "requested_datetime": report.created_at,
        "updated_datetime": _updated_at(ticket),
        "expected_datetime": ticket.due_at,
        "address": row.extra.address_string if row.extra else None,
        "address_id": row.extra.address_id if row.extra else None,
        "lat": report.lat,
        "long": report.lon,
        "media_url": urls[0] if urls else None,
    }
    if events is not None:
        item.update(_extensions(row, photos, events, storage, ttl_s))
    return item


def _extensions(
    row: RequestRow,
    photos: Sequence[Photo],
    events: Sequence[TicketEvent],
    storage: ObjectStorage,
    ttl_s: int,
) -> dict[str, Any]:
    answers: Mapping[str, Any] = row.extra.attributes if row.extra else {}
    shown = []
    for photo in photos:
        url = _display_url(photo, storage, ttl_s)
        if url is not None:
            shown.append(
                {
                    "media_url": url,
                    "width": photo.display_width,
                    "height": photo.display_height,
                    "created_at": photo.created_at,
                }
            )
    notes = []
    for event in events:
        resolution = st.event_resolution(event.kind, event.reason, event.data)
        notes.append(
            {
                "datetime": event.created_at,
                "type": "submitted" if event.kind == "created" else event.kind,
                "description": "Reported."
                if event.kind == "created"
                else st.update_description(event.kind, resolution, event.note, event.actor_role),
            }
        )
    return {
        "attributes": attrs.extension_view(row.category.attributes, answers),
        "extended_attributes": {"channel": row.report.source, "photos": shown},
        "notes": notes,
    }


# ---------------------------------------------------------------- updates (mySociety)
def update_item(event: TicketEvent, report_id: int) -> dict[str, Any]:
    to_status = event.to_status or event.from_status or "new"
    resolution = st.event_resolution(event.kind, event.reason, event.data)
    return {
        "update_id": str(event.id),
        "service_request_id": str(report_id),
        "status": st.extended_status(to_status, resolution),
        "updated_datetime": event.created_at,
        "description": st.update_description(event.kind, resolution, event.note, event.actor_role),
        "media_url": None,
        "external_status_code": st.external_status_code(to_status, resolution),
    }
