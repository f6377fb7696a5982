"""Webhook subscriptions (admins only): register, list, change, delete, and the
delivery log with redelivery. How deliveries are signed: ``app.events.signing``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response, status

from app.auth.dependencies import AdminPrincipal, AppSettings
from app.core.db import DbSession, utcnow
from app.core.errors import problem_responses
from app.core.pagination import decode_cursor, encode_cursor
from app.events import repository, service, views
from app.events.dependencies import DeliveryById, Runtime, WebhookById
from app.events.enums import DeliveryStatus
from app.events.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

MAX_PAGE = 100
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 422),
)
def create_webhook(
    session: DbSession,
    admin: AdminPrincipal,
    settings: AppSettings,
    body: WebhookCreate,
    response: Response,
) -> WebhookCreated:
    """Subscribe a URL to ticket events; the signing secret is in this response only."""
    hook, secret = service.create_webhook(
        session,
        admin,
        settings,
        url=body.url,
        event_kinds=body.event_kinds,
        office_code=body.office,
        description=body.description,
        active=body.active,
        now=utcnow(),
    )
    response.headers["Location"] = f"/v1/webhooks/{hook.id}"
    out = views.webhooks_out(session, [hook])[0]
    return WebhookCreated(**out.model_dump(), secret=secret)


@router.get("", response_model=WebhookPage, responses=problem_responses(401, 403, 422))
def list_webhooks(
    session: DbSession, _admin: AdminPrincipal, cursor: Cursor = None, limit: Limit = 50
) -> WebhookPage:
    """Every webhook subscription, oldest first (secrets are never shown again)."""
    key = decode_cursor(cursor, kind="webhooks")
    hooks = repository.list_webhooks(session, int(key["id"]) if key else 0, limit)
    next_cursor = (
        encode_cursor({"k": "webhooks", "id": hooks[-1].id}) if len(hooks) == limit else None
    )
    return WebhookPage(items=views.webhooks_out(session, hooks), next_cursor=next_cursor)


@router.get(
    "/{webhook_id}", response_model=WebhookOut, responses=problem_responses(401, 403, 404, 422)
)
def get_webhook(session: DbSession, hook: WebhookById) -> WebhookOut:
    """One webhook subscription."""
    return views.webhooks_out(session, [hook])[0]


@router.patch(
    "/{webhook_id}", response_model=WebhookOut, responses=problem_responses(401, 403, 404, 422)
)
def patch_webhook(
    session: DbSession, hook: WebhookById, settings: AppSettings, body: WebhookPatch
) -> WebhookOut:
    """Change URL, kinds, office scope, description, or pause/resume (`active`)."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    service.update_webhook(session, hook, settings, changes)
    return views.webhooks_out(session, [hook])[0]


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
def delete_webhook(session: DbSession, hook: WebhookById) -> Response:
    """Remove a subscription and its delivery log."""
    repository.delete_webhook(session, hook)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(401, 403, 404, 422),
)
def list_deliveries(
    session: DbSession,
    hook: WebhookById,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DeliveryPage:
    """The delivery log, newest first: attempts, last HTTP status or error, next try."""
    key = decode_cursor(cursor, kind="deliveries")
    rows = repository.list_deliveries(
        session,
        hook.id,
        before_id=int(key["id"]) if key else None,
        status=status_,
        limit=limit,
    )
    next_cursor = (
        encode_cursor({"k": "deliveries", "id": rows[-1][0].id}) if len(rows) == limit else None
    )
    return DeliveryPage(items=[views.delivery_out(d, k) for d, k in rows], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses=problem_responses(401, 403, 404, 422),
)
def redeliver(
    session: DbSession, found: DeliveryById, runtime: Runtime, background: BackgroundTasks
) -> DeliveryOut:
    """Queue the delivery again from its first attempt (dead or delivered alike)."""
    delivery, kind = found
    service.redeliver(session, delivery, utcnow())
    # After the response, hence after the commit: the worker then sees the reset.
    background.add_task(runtime.worker.wake)
    return views.delivery_out(delivery, kind)
