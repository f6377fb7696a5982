"""Ticket exports, streamed as CSV or GeoJSON in constant memory.

An export is every ticket of the caller's work queue for the same filters, by
id. Rows are read in keyset batches (``id > last id seen``, ``LIMIT`` batch
size), each batch in its own short session, and each batch is encoded and
handed to the server as one chunk; at most one batch of rows and one encoded
chunk are held at a time, whatever the number of tickets.

Why keyset batches and not one server-side cursor (``yield_per`` over
``stream_results``): a cursor keeps its transaction, and a pooled connection,
open for as long as the slowest client takes to download. On PostgreSQL that
snapshot holds back vacuum for the whole database; on SQLite an open read
transaction keeps WAL checkpoints from completing, so the WAL file grows.
Short batches release both between chunks and work the same on both backends.
The price is that an export is not one snapshot: a ticket changed while the
export runs shows as it was when its batch was read, and one whose change moves
it into or out of the filter may or may not be listed. No ticket is listed
twice (ids only grow), and tickets created after the export started are left
out (ids above the highest at the start), so an export always ends.

If reading fails half-way, the response is cut off without its final chunk,
so clients see an incomplete download rather than a short, well-formed file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.tickets import export_repository
from app.tickets.enums import OPEN_STATUSES
from app.tickets.export_repository import ExportRow
from app.tickets.repository import QueueFilter

BATCH_SIZE = 500
COORD_DECIMALS = 7  # about 1 cm: more than any phone fix deserves, and no float noise

COLUMNS = (
    "id",
    "report_id",
    "status",
    "resolution",
    "category",
    "category_name",
    "priority",
    "office",
    "office_name",
    "created_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "due_at",
    "overdue",
    "lat",
    "lon",
    "description",
)

# A spreadsheet runs a cell that starts with one of these as a formula (CSV
# injection, e.g. a description "=HYPERLINK(...)"); a leading apostrophe makes
# it plain text in Excel and LibreOffice alike.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Excel (as used in Chinese government offices) reads CSV without a byte order
# mark in the system's ANSI code page (GBK), turning UTF-8 Chinese into mojibake;
# the BOM makes it read UTF-8.
_BOM = "\ufeff"


class ExportFormat(StrEnum):
    csv = "csv"
    geojson = "geojson"


Record = dict[str, str | int | float | bool | None]


def ticket_batches(
    factory: Callable[[], Session], f: QueueFilter, *, batch_size: int = BATCH_SIZE
) -> Iterator[list[ExportRow]]:
    """The tickets matching ``f``, ``batch_size`` at a time, each batch read in a new session."""
    upto: int | None = None
    after = 0
    while True:
        with factory() as session:
            if upto is None:
                upto = export_repository.max_ticket_id(session)
            rows = export_repository.export_batch(
                session, f, after_id=after, upto_id=upto, limit=batch_size
            )
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        after = rows[-1].id


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record(row: ExportRow, now: datetime) -> Record:
    """One ticket as the export's columns, in order (times as ISO 8601 with offset)."""
    return {
        "id": row.id,
        "report_id": row.report_id,
        "status": row.status,
        "resolution": row.resolution,
        "category": row.category_code,
        "category_name": row.category_name_zh,
        "priority": row.priority,
        "office": row.office_code,
        "office_name": row.office_name,
        "created_at": _time(row.created_at),
        "accepted_at": _time(row.accepted_at),
        "resolved_at": _time(row.resolved_at),
        "closed_at": _time(row.closed_at),
        "due_at": _time(row.due_at),
        # As the queue computes it: open and past due at the request's time.
        "overdue": row.status in OPEN_STATUSES and row.due_at < now,
        "lat": round(row.lat, COORD_DECIMALS),
        "lon": round(row.lon, COORD_DECIMALS),
        "description": row.description,
    }


def csv_cell(value: str | int | float | bool | None) -> str:
    """A value as CSV text; text that a spreadsheet would run as a formula is defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_STARTS) else value
    return str(value)  # numbers are ours, not user text: "-0.5" stays a number


def csv_chunks(batches: Iterable[list[ExportRow]], now: datetime) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM and a header row, then one chunk per batch."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(COLUMNS)
    yield (_BOM + buf.getvalue()).encode("utf-8")
    for batch in batches:
        buf.seek(0)
        buf.truncate()
        writer.writerows([csv_cell(v) for v in record(r, now).values()] for r in batch)
        yield buf.getvalue().encode("utf-8")


def feature(row: ExportRow, now: datetime) -> dict[str, Any]:
    """An RFC 7946 Point feature: ``[lon, lat]`` in WGS-84, the ticket id as ``id``."""
    props = record(row, now)
    lat, lon = props.pop("lat"), props.pop("lon")
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def geojson_chunks(batches: Iterable[list[ExportRow]], now: datetime) -> Iterator[bytes]:
    """A FeatureCollection written feature by feature; valid JSON with no features too."""
    # No "crs" member: RFC 7946 removed it, WGS-84 lon/lat is implied.
    yield b'{"type":"FeatureCollection","features":['
    sep = ""
    for batch in batches:
        parts = [
            json.dumps(feature(r, now), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            for r in batch
        ]
        yield (sep + ",".join(parts)).encode("utf-8")
        sep = ","
    yield b"]}"


_MEDIA = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.geojson: "application/geo+json"}


def export_response(
    factory: Callable[[], Session],
    f: QueueFilter,
    fmt: ExportFormat,
    *,
    batch_size: int = BATCH_SIZE,
) -> StreamingResponse:
    """The streamed download; its batches open their own sessions, as the request's
    session has been committed and closed before the body is sent."""
    now = f.now or utcnow()
    batches = ticket_batches(factory, f, batch_size=batch_size)
    body = csv_chunks(batches, now) if fmt is ExportFormat.csv else geojson_chunks(batches, now)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        body,
        media_type=_MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="tickets-{stamp}.{fmt.value}"',
            # Descriptions and positions of hazards: not for shared caches.
            "Cache-Control": "private, no-store",
        },
    )
