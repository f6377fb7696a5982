"""Idempotent writes (the ``Idempotency-Key`` header, Stripe's model).

A phone on a weak network resends a write with the same key until it hears
back. The first request's response is stored with the key, per principal, for
at least 24 hours:

* same key, same request → the stored response again, marked
  ``Idempotent-Replayed: true``;
* same key, different request (or another operation) → 422;
* same key while the first is still running → the second waits on the key's
  row lock and then replays (PostgreSQL), or is serialised behind it (SQLite).

The key is *claimed* inside the same transaction as the business rows, so a
crash can never leave a claimed key without its result, nor a result without
its key: either first (:func:`claim`, then :func:`complete`) or, where the
response can be built before the key is needed, last and with its response
(:func:`record`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput
from app.core.idempotency_models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency-key-reused"
    title = "Idempotency key was used for a different request"


class IdempotencyInProgress(Conflict):
    code = "idempotency-in-progress"
    title = "A request with this idempotency key is still being processed"


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1–255 printable characters (a UUID is best)",
            errors=[{"field": HEADER, "in": "header", "reason": "invalid idempotency key"}],
        )
    return key


def request_fingerprint(operation: str, parts: dict[str, Any]) -> str:
    """A stable hash of what makes two requests "the same" (canonical JSON)."""
    canonical = json.dumps(
        {"op": operation, **parts},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


@dataclass(slots=True)
class Claim:
    principal_id: int
    key: str
    operation: str
    request_hash: str
    record_id: int


def _stored(record: IdempotencyRecord, operation: str, request_hash: str) -> StoredResponse:
    if record.operation != operation or record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was first used for a different request ({record.operation}); "
            "use a new key for a new request",
            errors=[
                {"field": HEADER, "in": "header", "reason": "key reused with other parameters"}
            ],
        )
    if record.response_status == 0:
        raise IdempotencyInProgress(
            "the first request with this key has not finished; retry shortly",
            headers={"Retry-After": "2"},
        )
    return StoredResponse(record.response_status, record.response_body)


def find(
    session: Session, principal_id: int, key: str, operation: str, request_hash: str
) -> StoredResponse | None:
    """The stored response for this key, if the first request completed."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.expires_at <= utcnow():
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        return None
    return _stored(record, operation, request_hash)


def claim(
    session: Session,
    principal_id: int,
    key: str,
    operation: str,
    request_hash: str,
    *,
    ttl_s: int,
    now: datetime | None = None,
) -> Claim | StoredResponse:
    """Claim the key in the current transaction, or return the response stored by
    whoever claimed it first. On PostgreSQL a concurrent claimer blocks here until
    the first transaction ends. Finish with :func:`complete`."""
    got = _insert(session, principal_id, key, operation, request_hash, 0, {}, ttl_s, now)
    if isinstance(got, StoredResponse):
        return got
    return Claim(principal_id, key, operation, request_hash, got)


def record(
    session: Session,
    principal_id: int,
    key: str,
    operation: str,
    request_hash: str,
    *,
    status: int,
    body: dict[str, Any],
    ttl_s: int,
    now: datetime | None = None,
) -> StoredResponse | None:
    """Claim the key and store its response in one statement, as the last write of
    the transaction that made the business rows.

    None when the key is now ours. Otherwise the response of whoever holds it
    (PostgreSQL waits here for a concurrent holder to commit): the caller must
    roll back its own rows and answer that response instead. One statement
    instead of claim + complete; the price is that a concurrent duplicate does
    its work before it learns it lost, which happens only on retries.
    """
    got = _insert(session, principal_id, key, operation, request_hash, status, body, ttl_s, now)
    return got if isinstance(got, StoredResponse) else None


def _insert(
    session: Session,
    principal_id: int,
    key: str,
    operation: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
    ttl_s: int,
    now: datetime | None,
) -> int | StoredResponse:
    now = now or utcnow()
    values = {
        "principal_id": principal_id,
        "key": key,
        "operation": operation,
        "request_hash": request_hash,
        "response_status": status,
        "response_body": body,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_s),
    }
    table = cast(Table, IdempotencyRecord.__table__)
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    stmt = (
        ins.values(**values)
        .on_conflict_do_nothing(index_elements=["principal_id", "key"])
        .returning(table.c.id)
    )
    record_id = session.execute(stmt).scalar()
    if record_id is not None:
        return int(record_id)
    existing = session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    if existing is None:  # deleted between the two statements: vanishingly rare
        raise IdempotencyInProgress("retry the request", headers={"Retry-After": "1"})
    return _stored(existing, operation, request_hash)


def complete(session: Session, claim_: Claim, status: int, body: dict[str, Any]) -> None:
    """Store the response with the claimed key (same transaction as the business rows)."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claim_.record_id)
        .values(response_status=status, response_body=body)
    )


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
