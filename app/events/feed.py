"""Pure pieces of the feed: which events a reader may see, how far the feed may
safely advance, and how an event is framed for Server-Sent Events.

**Why a "stable horizon".** Outbox ids come from a sequence, allocated when a
transaction inserts its row but visible only once it commits. Two concurrent
transactions can commit out of order: id 11 becomes visible while 10 is still
in flight. A reader that advanced its cursor to 11 would never see 10. So feeds
only go up to the *stable horizon*: the highest id below which every id is
either visible or given up on. A missing id is waited for while the row after it
is younger than ``grace`` (its transaction must have allocated it earlier, so it
has been running at least that long); after that it is taken for a rolled-back
transaction and skipped — the approach of Marten's high-water-mark agent. In
practice gaps close in milliseconds; only rollbacks after the outbox row was
written leave lasting ones, and those delay the feed by ``grace`` once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.auth.scope import OfficeScope


def stable_horizon(
    rows: Iterable[tuple[int, datetime]], after: int, now: datetime, grace: timedelta
) -> int:
    """The highest id up to which a reader at ``after`` may advance.

    ``rows`` are (id, created_at) of the visible rows with ``id > after``, ascending.
    """
    horizon = after
    for row_id, created_at in rows:
        if row_id != horizon + 1 and now - created_at < grace:
            break  # an earlier id may still commit
        horizon = row_id
    return horizon


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What one reader sees: their office scope, narrowed by optional filters."""

    scope: OfficeScope
    office_path: str | None = None  # only this office's subtree
    kinds: frozenset[str] = frozenset()  # empty: every kind

    def matches(self, office_id: int, office_path: str, kind: str) -> bool:
        if not self.scope.allows(office_id, office_path):
            return False
        if self.office_path is not None and not office_path.startswith(self.office_path):
            return False
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True, slots=True)
class FeedItem:
    """An outbox row as the hub keeps it: filterable fields plus the serialised event."""

    id: int
    office_id: int
    office_path: str
    kind: str
    data: str  # the event as compact JSON, id included


def event_json(event_id: int, payload: dict[str, Any]) -> str:
    """The one serialisation of an event: feed, stream and webhook bodies agree.
    Sorted keys make it byte-stable, so a retried webhook carries the same body."""
    return json.dumps({**payload, "id": event_id}, sort_keys=True, separators=(",", ":"))


def sse_event(item: FeedItem) -> str:
    # Our JSON has no raw newlines, so it is one ``data:`` line.
    return f"id: {item.id}\nevent: {item.kind}\ndata: {item.data}\n\n"


def sse_comment(text: str) -> str:
    return f": {text}\n\n"


def sse_retry(ms: int) -> str:
    return f"retry: {ms}\n\n"
