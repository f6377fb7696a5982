"""``/v1/stats``: dashboard figures for the caller's office scope, read from rollups.

Every answer carries ``ETag`` and ``Cache-Control: private, max-age=5``.
*private*: the figures depend on who asks (their office scope), so a shared
cache must not hand them to someone else. *max-age=5*: dashboards poll every
few seconds; within 5 s the browser reuses its copy without asking, after that
it revalidates with ``If-None-Match``. The ETag is a hash of the path, the
query, the caller's scope, ``as_of`` (rounded to a minute) and the data version
of the offices asked about — a counter bumped with every ticket change in
their subtree, when the change reaches the rollups (in its own transaction, or,
on PostgreSQL, in the fold that adds it: :mod:`app.stats.pending`).

What a poll costs: the credential (usually from the in-process principal
cache), then one statement that resolves the filters and reads the data
version (outside a transaction on PostgreSQL). If ticket changes are pending,
they are folded first and the statement repeated. If ``If-None-Match``
matches, that is all: 304. Otherwise the answer comes from the in-process answer cache,
keyed by the endpoint's parameters, the scope, ``as_of`` and the data version —
exact, since any change to the figures changes the version — already
serialised. Only a miss computes: inside one REPEATABLE READ, READ ONLY
snapshot that re-reads the version, so the answer and the version it is
cached under agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.auth.actor import Actor
from app.auth.dependencies import AppSettings, require_roles
from app.auth.enums import Role
from app.core.db import DbSession, utcnow
from app.core.errors import InvalidInput, problem_responses
from app.stats import buckets, periods, queries, schemas, service
from app.stats.answers import answer, iso
from app.stats.figures import FIGURE_NAMES, figure_value

router = APIRouter(prefix="/stats", tags=["stats"])

Reader = Annotated[
    Actor, Depends(require_roles(Role.viewer, Role.officer, Role.supervisor, Role.admin))
]
OfficeQ = Annotated[
    str | None,
    Query(max_length=64, description="Office code: that office and its subtree (in your scope)"),
]
CategoryQ = Annotated[str | None, Query(max_length=32, description="Category code")]
FromQ = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="Cohort start: tickets created at or after this local midnight "
        "(ISO 8601 with offset; encode '+' as %2B)",
    ),
]
ToQ = Annotated[datetime | None, Query(description="Cohort end (exclusive), a local midnight")]

MAX_OFFICES = 1000
_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Nothing changed since the ETag in If-None-Match"},
    **problem_responses(401, 403, 422),
}


@router.get(
    "/summary",
    summary="Figures for your scope",
    response_model=schemas.Summary,
    responses=_RESPONSES,
)
def summary(
    request: Request,
    session: DbSession,
    actor: Reader,
    settings: AppSettings,
    office: OfficeQ = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
) -> Response:
    """Every figure for the tickets of your scope (or of ``office``) created in [from, to)."""
    clk = service.clock(settings, utcnow())
    cohort = periods.cohort(from_, to, clk)

    def build(ctx: service.Context, st: service.State) -> dict[str, Any]:
        target = service.base_target(session, ctx)
        fig = service.compute(session, [(target, ctx.category_id)], cohort, clk)[0]
        scope = {**service.scope_json(ctx, st), **cohort.as_json()}
        return {"scope": scope, "as_of": clk.as_of.isoformat(), **fig}

    return answer(
        request,
        session,
        actor,
        settings,
        clk,
        office=office,
        category=category,
        params=(iso(from_), iso(to)),
        build=build,
    )


SortQ = Annotated[
    str,
    Query(description="code, name, or a figure: " + ", ".join(FIGURE_NAMES)),
]


def _sort(items: list[dict[str, Any]], sort: str, order: str) -> list[dict[str, Any]]:
    if sort in ("code", "name"):
        return sorted(items, key=lambda i: i["office"][sort], reverse=order == "desc")
    present = [i for i in items if figure_value(i, sort) is not None]
    missing = [i for i in items if figure_value(i, sort) is None]
    present.sort(key=lambda i: i["office"]["code"])
    present.sort(key=lambda i: figure_value(i, sort), reverse=order == "desc")
    return present + sorted(missing, key=lambda i: i["office"]["code"])  # nulls last


@router.get(
    "/offices",
    summary="Figures per office",
    response_model=schemas.OfficeList,
    responses=_RESPONSES,
)
def offices(
    request: Request,
    session: DbSession,
    actor: Reader,
    settings: AppSettings,
    parent: OfficeQ = None,
    level: Annotated[
        str | None, Query(max_length=32, description="Offices of this level below parent")
    ] = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    sort: SortQ = "code",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> Response:
    """Each office below ``parent`` (default: your scope's top), its whole subtree rolled up."""
    if sort not in (*FIGURE_NAMES, "code", "name"):
        raise InvalidInput(
            f"cannot sort by {sort!r}", errors=[{"field": "sort", "reason": "unknown figure"}]
        )
    clk = service.clock(settings, utcnow())
    cohort = periods.cohort(from_, to, clk)

    def build(ctx: service.Context, st: service.State) -> dict[str, Any]:
        rows = service.offices_listing(session, ctx, level=level, limit=MAX_OFFICES)
        cells = [(service.Target((r[0],)), ctx.category_id) for r in rows]
        figs = service.compute(session, cells, cohort, clk) if cells else []
        items = [
            {"office": {"code": r[1], "name": r[2], "level": r[3]}, **fig}
            for r, fig in zip(rows, figs, strict=True)
        ]
        scope = {**service.scope_json(ctx, st), **cohort.as_json()}
        return {"scope": scope, "as_of": clk.as_of.isoformat(), "items": _sort(items, sort, order)}

    return answer(
        request,
        session,
        actor,
        settings,
        clk,
        office=parent,
        category=category,
        office_field="parent",
        params=(level, iso(from_), iso(to), sort, order),
        build=build,
    )


@router.get(
    "/categories",
    summary="Figures per category",
    response_model=schemas.CategoryList,
    responses=_RESPONSES,
)
def categories(
    request: Request,
    session: DbSession,
    actor: Reader,
    settings: AppSettings,
    office: OfficeQ = None,
    from_: FromQ = None,
    to: ToQ = None,
) -> Response:
    """Every category's figures for your scope (or ``office``), in catalogue order."""
    clk = service.clock(settings, utcnow())
    cohort = periods.cohort(from_, to, clk)

    def build(ctx: service.Context, st: service.State) -> dict[str, Any]:
        target = service.base_target(session, ctx)
        cats = queries.categories(session)
        figs = service.compute(session, [(target, cid) for cid, _ in cats], cohort, clk)
        items = [{"category": code, **fig} for (_, code), fig in zip(cats, figs, strict=True)]
        scope = {**service.scope_json(ctx, st), **cohort.as_json()}
        return {"scope": scope, "as_of": clk.as_of.isoformat(), "items": items}

    return answer(
        request,
        session,
        actor,
        settings,
        clk,
        office=office,
        category=None,
        params=(iso(from_), iso(to)),
        build=build,
    )


@router.get(
    "/timeseries",
    summary="Created, resolved and reopened tickets per day, week or month",
    response_model=schemas.TimeSeries,
    responses=_RESPONSES,
)
def timeseries(
    request: Request,
    session: DbSession,
    actor: Reader,
    settings: AppSettings,
    interval: Annotated[Literal["day", "week", "month"], Query()] = "day",
    office: OfficeQ = None,
    category: CategoryQ = None,
    from_: Annotated[
        datetime | None,
        Query(alias="from", description="First bucket: the one containing this instant"),
    ] = None,
    to: Annotated[
        datetime | None, Query(description="Last bucket: the one containing the instant before")
    ] = None,
) -> Response:
    """Events per local day/week (Monday)/month by event time, every bucket present."""
    clk = service.clock(settings, utcnow())
    series = periods.series(interval, from_, to, clk)

    def build(ctx: service.Context, st: service.State) -> dict[str, Any]:
        target = service.base_target(session, ctx)
        return {
            "scope": service.scope_json(ctx, st),
            "interval": interval,
            "timezone": clk.tz.key,
            "buckets": service.timeseries(session, target, ctx.category_id, series),
        }

    return answer(
        request,
        session,
        actor,
        settings,
        clk,
        office=office,
        category=category,
        params=(interval, iso(from_), iso(to)),
        build=build,
    )


@router.get(
    "/hotspots",
    summary="Open tickets per map cell (GeoJSON)",
    response_model=schemas.HotspotCollection,
    responses=_RESPONSES,
)
def hotspots(
    request: Request,
    session: DbSession,
    actor: Reader,
    settings: AppSettings,
    cell_m: Annotated[
        int,
        Query(
            ge=250,
            le=64000,
            description="Cell side in Web Mercator metres, a multiple of 250",
        ),
    ] = 1000,
    office: OfficeQ = None,
    category: CategoryQ = None,
    from_: Annotated[datetime | None, Query(alias="from", include_in_schema=False)] = None,
    to: Annotated[datetime | None, Query(include_in_schema=False)] = None,
) -> Response:
    """Square cells holding open tickets of your scope, with counts per category."""
    if buckets.resolution_for(cell_m) is None:
        raise InvalidInput(
            "cell_m must be a multiple of 250",
            errors=[{"field": "cell_m", "reason": "not a multiple of 250"}],
        )
    if from_ is not None or to is not None:
        field = "from" if from_ is not None else "to"
        raise InvalidInput(
            "hotspots show the open backlog as it is now; from/to do not apply",
            errors=[{"field": field, "reason": "not supported by hotspots"}],
        )
    clk = service.clock(settings, utcnow())

    def build(ctx: service.Context, st: service.State) -> dict[str, Any]:
        target = service.base_target(session, ctx)
        codes = dict(queries.categories(session))
        features = service.hotspots(session, target, ctx.category_id, cell_m, codes)
        return {
            "type": "FeatureCollection",
            "cell_m": cell_m,
            "as_of": clk.as_of.isoformat(),
            "features": features,
        }

    return answer(
        request,
        session,
        actor,
        settings,
        clk,
        office=office,
        category=category,
        params=(cell_m,),
        build=build,
    )
