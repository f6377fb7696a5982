"""Who may read events, what they see, and loading webhooks or 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.auth.actor import Actor
from app.auth.dependencies import AdminPrincipal, require_roles
from app.auth.enums import Role
from app.auth.scope import scope_filter
from app.core.db import DbSession
from app.core.errors import NotFound
from app.events import repository, service
from app.events.feed import EventFilter
from app.events.models import Webhook, WebhookDelivery
from app.events.runtime import EventsRuntime
from app.grids.service import office_path_in_scope

# Staff and viewers; riders get 403 (they follow their own tickets instead).
EventReader = Annotated[
    Actor, Depends(require_roles(Role.officer, Role.supervisor, Role.admin, Role.viewer))
]


async def get_runtime(request: Request) -> EventsRuntime:
    runtime: EventsRuntime = request.app.state.events
    return runtime


Runtime = Annotated[EventsRuntime, Depends(get_runtime)]


def event_filter(
    session: DbSession,
    actor: EventReader,
    kind: Annotated[
        str | None,
        Query(max_length=500, description="Comma-separated kinds, e.g. `ticket.resolved`"),
    ] = None,
    office: Annotated[
        str | None,
        Query(max_length=64, description="Office code: only its subtree (within your scope)"),
    ] = None,
) -> EventFilter:
    scope = scope_filter(actor)
    office_path = None if office is None else office_path_in_scope(session, scope, office)
    kinds = service.parse_kinds(kind.split(",") if kind else [], "kind")
    return EventFilter(scope=scope, office_path=office_path, kinds=kinds)


Filter = Annotated[EventFilter, Depends(event_filter)]

_Id = Annotated[int, Path(ge=1, le=2**62)]


def _webhook(session: DbSession, _admin: AdminPrincipal, webhook_id: _Id) -> Webhook:
    hook = repository.get_webhook(session, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook {webhook_id}")
    return hook


WebhookById = Annotated[Webhook, Depends(_webhook)]


def _delivery(
    session: DbSession, hook: WebhookById, delivery_id: _Id
) -> tuple[WebhookDelivery, str]:
    found = repository.get_delivery(session, hook.id, delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {hook.id}")
    return found


DeliveryById = Annotated[tuple[WebhookDelivery, str], Depends(_delivery)]
