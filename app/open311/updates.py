"""POST servicerequestupdates (mySociety's extension): a partner's update of a
request becomes officer actions on its ticket, under the key holder's scope.

The fields are those FixMyStreet's Open311 client sends and mySociety's endpoint
schema lists: ``service_request_id``, ``update_id`` (the client's own id; Bromley's
``update_id_ext`` is read too), ``status`` (the extended vocabulary, any case),
``updated_datetime``, ``description``, ``media_url``, plus ``api_key`` and
``jurisdiction_id``. Two gridfix extensions carry what the workflow needs and
Open311 has no field for: ``duplicate_of`` (the original's service_request_id)
and ``target_office`` (an office code, for ``internal_referral``).

Decisions:

* **Who**: the holder of ``api_key`` acts as themselves — an officer as an
  officer, a supervisor as a supervisor — with the same scope and rights as in
  ``/v1`` (:func:`app.tickets.dependencies.access_for`): a request outside the
  scope is 404 (as if absent), a key whose holder may not act (a viewer) is 403,
  and an action their role may not take (an officer reopening) is 403.
* **What**: :func:`app.open311.status.update_steps` reads the incoming status
  against the ticket's current one and gives the actions (the table is there).
  The description is the note of each action whose rule needs one, else of the
  last action; the client's names, email and account_id are accepted but not
  stored — the key holder is the one accountable.
* **Idempotent on the client's update id**, per key holder: the first response is
  stored with the id (``app.core.idempotency``, kept a year) and a retry gets it
  again; the same id with different fields is a 400. The id is also written into
  each event's ``data["open311"]``.
* **No If-Match in Open311**: the update is applied to the ticket as it is now,
  read under a row lock and planned again after any media fetch. A concurrent
  change the service still detects (412) is a 400 whose code is 409, asking for
  the same update to be sent again.
* **Media** is the after photo, used only when the update resolves the request.
  Files sent as ``media`` win over ``media_url``, which is fetched SSRF-safely
  with no transaction held. If the category needs evidence, the photo must be
  had and pass the evidence checks (GPS and capture time from EXIF, near the
  spot, after the report), else 400 saying which check failed. If it does not,
  a photo that cannot be had or fails those checks is left out and the reason
  noted in the event's data; the update itself still applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.auth.actor import Actor
from app.auth.enums import STAFF_ROLES
from app.auth.service import actor_from_api_key
from app.categories.models import Category
from app.config import Settings
from app.core import idempotency, outbound
from app.core.db import mark_writer
from app.core.errors import DomainError, Forbidden
from app.open311 import media, repository
from app.open311 import status as st
from app.open311.config import DESCRIPTION_MAX, Open311Config
from app.open311.dependencies import Submission
from app.open311.errors import Open311Error
from app.open311.media import AfterPhotos
from app.open311.queries import parse_w3c
from app.photos import service as photos
from app.photos.storage import ObjectStorage
from app.reports.models import Report
from app.tickets import repository as tickets_repo
from app.tickets import service as tickets
from app.tickets.dependencies import TicketAccess, access_for
from app.tickets.enums import Action
from app.tickets.models import TicketEvent
from app.tickets.workflow import MissingActionField

OPERATION = "open311.servicerequestupdate"
KEY_PREFIX = "open311-update:"
# Partners retry failed updates for days (FixMyStreet backs off); a year is plenty.
UPDATE_ID_TTL_S = 365 * 86400
UPDATE_ID_MAX = 128
MAX_ID = 2**62  # ids beyond this cannot exist (and would overflow a bigint)
FIELD_LIMITS = {
    "status": 64,
    "email": 254,
    "phone": 64,
    "first_name": 255,
    "last_name": 255,
    "title": 255,
    "account_id": 255,
    "target_office": 64,
    "duplicate_of": 20,
}
# The workflow's field names, as the partner knows them.
FIELD_NAMES = {
    "note": "description",
    "duplicate_of": "duplicate_of",
    "target_office_id": "target_office",
    "target_office": "target_office",
}


@dataclass(frozen=True, slots=True)
class UpdateDeps:
    settings: Settings
    config: Open311Config
    storage: ObjectStorage
    session_factory: sessionmaker[Session]


@dataclass(slots=True)
class UpdateOutcome:
    items: list[dict[str, Any]]
    replayed: bool
    derive: list[tuple[str, Image.Image]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UpdateForm:
    """The fields of one update, checked."""

    request_id: int
    client_update_id: str
    status: str  # normalised: lower snake case
    description: str | None
    updated_datetime: datetime | None
    media_url: str | None
    duplicate_of: int | None  # a service_request_id
    target_office: str | None

    def fingerprint(self, sub: Submission) -> str:
        """What makes a retry "the same update". Not ``updated_datetime``: some clients
        stamp each attempt anew."""
        files = [(f.filename, f.size) for f in sub.media]
        parts = {
            name: getattr(self, name)
            for name in (
                "request_id",
                "status",
                "description",
                "media_url",
                "duplicate_of",
                "target_office",
            )
        }
        return idempotency.request_fingerprint(OPERATION, {**parts, "media": files})


# ---------------------------------------------------------------- input
def authenticate(session: Session, raw_key: str | None) -> Actor:
    """The staff principal behind ``api_key``; 403 when missing, wrong or not staff."""
    if not raw_key:
        raise Open311Error(403, "api_key is required to update a service request")
    actor = actor_from_api_key(session, raw_key.strip())  # InvalidToken → 403 by the handler
    if actor.role not in STAFF_ROLES:
        raise Open311Error(
            403, f"this api_key's holder ({actor.role.value}) may not update service requests"
        )
    return actor


def _request_id(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not 0 < int(value) < MAX_ID:
        raise Open311Error(404, f"{name} {value[:32]!r} not found")
    return int(value)


def parse(sub: Submission) -> UpdateForm:
    """The update's fields, or 400 (404 for a service_request_id that cannot exist)."""
    problems = [
        f"{name} is limited to {limit} characters"
        for name, limit in FIELD_LIMITS.items()
        if (value := sub.get(name)) is not None and len(value) > limit
    ]
    description = (sub.fields.get("description") or "").strip() or None
    if description is not None and len(description) > DESCRIPTION_MAX:
        problems.append(f"description is limited to {DESCRIPTION_MAX:,} characters")
    media_url = sub.get("media_url")
    if media_url is not None and len(media_url) > outbound.MAX_URL_LENGTH:
        problems.append(f"media_url is limited to {outbound.MAX_URL_LENGTH} characters")
    client_id = sub.get("update_id") or sub.get("update_id_ext")
    if client_id is None:
        problems.append("update_id was not provided (the client's own id for this update)")
    elif len(client_id.strip()) > UPDATE_ID_MAX or not client_id.strip().isprintable():
        problems.append(f"update_id must be 1–{UPDATE_ID_MAX} printable characters")
    raw_status = sub.get("status")
    status = st.normalise_status(raw_status) if raw_status else None
    if raw_status is None:
        problems.append("status was not provided")
    elif status not in st.INCOMING_STATUSES:
        allowed = ", ".join(sorted(s.upper() for s in st.INCOMING_STATUSES))
        problems.append(f"status {raw_status[:64]!r} is not one of {allowed}")
    if sub.get("service_request_id") is None:
        problems.append("service_request_id was not provided")
    if problems:
        raise Open311Error(400, problems[0], more=[(400, p) for p in problems[1:]])
    request_id = _request_id(sub.get("service_request_id"), "service_request_id")
    assert request_id is not None and client_id is not None and status is not None
    duplicate_of = (sub.get("duplicate_of") or "").strip() or None
    if duplicate_of is not None and not (duplicate_of.isdigit() and 0 < int(duplicate_of) < MAX_ID):
        raise Open311Error(400, "duplicate_of is the service_request_id of the original")
    return UpdateForm(
        request_id=request_id,
        client_update_id=client_id.strip(),
        status=status,
        description=description,
        updated_datetime=parse_w3c("updated_datetime", sub.get("updated_datetime")),
        media_url=media_url.strip() if media_url else None,
        duplicate_of=int(duplicate_of) if duplicate_of else None,
        target_office=(sub.get("target_office") or "").strip() or None,
    )


# ---------------------------------------------------------------- planning
def _access(session: Session, actor: Actor, request_id: int, *, lock: bool) -> TicketAccess:
    ticket = repository.ticket_of_request(session, request_id)
    if ticket is not None and lock:
        ticket = tickets_repo.get_for_update(session, ticket.id)
    access = access_for(session, actor, ticket) if ticket is not None else None
    if access is None:  # out of scope reads as absent, as in /v1
        raise Open311Error(404, f"service_request_id '{request_id}' not found")
    if access.kind is None:
        raise Open311Error(403, "this api_key's holder may read this request but not act on it")
    return access


def _steps(access: TicketAccess, form: UpdateForm) -> tuple[st.Step, ...]:
    ticket = access.ticket
    try:
        steps = st.update_steps(form.status, ticket.status, ticket.resolution)
    except st.UpdateRefused as exc:
        raise Open311Error(400, str(exc), code=409) from None
    if access.candidate:
        # A border request a neighbouring office may claim: accepting is claiming.
        if steps[0].action != "accept":
            raise Open311Error(
                403,
                "this request belongs to another office; yours may only claim it "
                "(status INVESTIGATING, IN_PROGRESS or FIXED while it is new)",
            )
        steps = (st.Step("claim"), *steps[1:])
    if form.description is None and any(s.needs_note for s in steps):
        action = next(s for s in steps if s.needs_note)
        why = "the status does not change" if action.action == "comment" else action.action
        raise Open311Error(400, f"description is required here ({why}): say what happened")
    if any(s.reject_reason == "duplicate" for s in steps) and form.duplicate_of is None:
        raise Open311Error(
            400,
            "status DUPLICATE needs the original request: send duplicate_of with its "
            "service_request_id",
        )
    if any(s.action == "transfer" for s in steps) and form.target_office is None:
        raise Open311Error(
            400,
            "status INTERNAL_REFERRAL needs the office to refer to: send target_office "
            "with its office code",
        )
    return steps


def _notes(steps: tuple[st.Step, ...], description: str | None) -> list[str | None]:
    """The description on every step that needs a note, else on the last one."""
    notes = [description if s.needs_note else None for s in steps]
    if not any(notes):
        notes[-1] = description
    return notes


def _duplicate_ticket(session: Session, form: UpdateForm) -> int | None:
    if form.duplicate_of is None:
        return None
    original = repository.ticket_of_request(session, form.duplicate_of)
    if original is None or form.duplicate_of == form.request_id:
        raise Open311Error(
            400, f"duplicate_of '{form.duplicate_of}' is not another request on this server"
        )
    return original.id


# ---------------------------------------------------------------- applying
def _refused(form: UpdateForm, step: st.Step, exc: DomainError) -> Open311Error:
    """A workflow refusal in the partner's terms (field names, the status they sent)."""
    prefix = f"status {form.status.upper()} ({step.action})"
    if isinstance(exc, tickets.PreconditionFailed):
        return Open311Error(
            400,
            "the request changed while this update was being applied; send the same update "
            "again (same update_id)",
            code=409,
        )
    if isinstance(exc, Forbidden):
        return Open311Error(403, f"{prefix}: {exc.detail}")
    if isinstance(exc, MissingActionField) and exc.errors:
        fields = "; ".join(
            f"{FIELD_NAMES.get(str(e.get('field')), e.get('field'))}: {e.get('reason')}"
            for e in exc.errors
        )
        return Open311Error(400, f"{prefix}: {fields}", code=exc.status)
    http = exc.status if exc.status in (403, 404) else 400
    return Open311Error(http, f"{prefix}: {exc.detail}", code=exc.status)


def _apply(
    session: Session,
    access: TicketAccess,
    form: UpdateForm,
    steps: tuple[st.Step, ...],
    *,
    photo_ids: list[str],
    media_note: str | None,
    settings: Settings,
    now: datetime,
) -> TicketEvent:
    assert access.kind is not None
    duplicate_of = _duplicate_ticket(session, form)
    trace = {
        "update_id": form.client_update_id,
        "status": form.status,
        "updated_datetime": form.updated_datetime.isoformat() if form.updated_datetime else None,
        "media": media_note,
    }
    last: TicketEvent | None = None
    for step, note in zip(steps, _notes(steps, form.description), strict=True):
        req = tickets.ActRequest(
            action=Action(step.action),
            note=note,
            resolution=step.resolution,
            reject_reason=step.reject_reason,
            duplicate_of=duplicate_of if step.reject_reason == "duplicate" else None,
            target_office_code=form.target_office if step.action == "transfer" else None,
            photo_ids=photo_ids if step.action == "resolve" else (),
        )
        try:
            last = tickets.act(
                session,
                access.ticket,
                actor=access.actor,
                kind=access.kind,
                req=req,
                settings=settings,
                now=now,
            )
        except DomainError as exc:
            raise _refused(form, step, exc) from None
        last.data = {**(last.data or {}), "open311": trace}
    assert last is not None
    session.flush()
    return last


def _item(event: TicketEvent, request_id: int) -> dict[str, Any]:
    return {"update_id": str(event.id), "service_request_id": str(request_id)}


def post_update(
    session: Session, deps: UpdateDeps, actor: Actor, sub: Submission, now: datetime
) -> UpdateOutcome:
    """Apply one update (or replay the response to its update_id); the response items."""
    form = parse(sub)
    key = KEY_PREFIX + form.client_update_id
    request_hash = form.fingerprint(sub)
    try:
        stored = idempotency.find(session, actor.id, key, OPERATION, request_hash)
    except idempotency.IdempotencyKeyReused:
        raise _reused(form) from None
    if stored is not None:
        return UpdateOutcome(list(stored.body["items"]), True)

    # Check everything that needs no photo before fetching one.
    access = _access(session, actor, form.request_id, lock=False)
    steps = _steps(access, form)
    category = session.get(Category, access.ticket.category_id)
    assert category is not None
    required = category.evidence_required
    resolves = any(s.action == "resolve" for s in steps)
    has_media = bool(sub.media or form.media_url)
    after = AfterPhotos()
    if resolves and has_media:
        session.rollback()  # hold no lock while a partner's server is read
        after = media.after_photos(
            sub, form.media_url, deps.config, deps.settings, required=required
        )
        mark_writer(session)
    elif has_media:
        after = AfterPhotos([], "not used: the update does not resolve the request")

    # The write: the ticket as it is now, under a row lock, and the update id claimed.
    access = _access(session, actor, form.request_id, lock=True)
    try:
        claim = idempotency.claim(
            session, actor.id, key, OPERATION, request_hash, ttl_s=UPDATE_ID_TTL_S, now=now
        )
    except idempotency.IdempotencyKeyReused:
        raise _reused(form) from None
    if isinstance(claim, idempotency.StoredResponse):
        return UpdateOutcome(list(claim.body["items"]), True)
    steps = _steps(access, form)
    report = session.get(Report, access.ticket.report_id)
    category = session.get(Category, access.ticket.category_id)
    assert report is not None and category is not None
    if any(s.action == "resolve" for s in steps):
        after = media.check_evidence(after, access.ticket, report, category, deps.settings)
    elif after.photos:
        after = AfterPhotos([], "not used: the update no longer resolves the request")

    stored_ids = photos.existing_ids(session, [p.sha256 for p in after.photos])
    written: list[str] = []
    try:
        photos.store_originals(
            deps.storage, after.photos, already_stored=set(stored_ids), written=written
        )
        photos.insert_rows(session, after.photos, actor.id)
        event = _apply(
            session,
            access,
            form,
            steps,
            photo_ids=[p.sha256 for p in after.photos],
            media_note=after.note,
            settings=deps.settings,
            now=now,
        )
        items = [_item(event, form.request_id)]
        idempotency.complete(session, claim, 200, {"items": items})
    except BaseException:
        photos.discard(deps.session_factory, deps.storage, written)
        raise
    derive = [(p.sha256, p.facts.image) for p in after.photos if p.sha256 not in stored_ids]
    return UpdateOutcome(items, False, derive)


def _reused(form: UpdateForm) -> Open311Error:
    return Open311Error(
        400,
        f"update_id {form.client_update_id!r} was already used for a different update; "
        "each update needs its own id",
        code=409,
    )
