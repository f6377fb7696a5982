"""Application factory. Nothing connects at import time: the lifespan builds the
engine, the object store and caches, and requests reach them through dependencies."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.auth.dependencies import build_principal_cache
from app.auth.router import router as auth_router
from app.categories.router import router as categories_router
from app.config import Settings, load_settings
from app.core.db import make_engine, make_read_engine, make_sessionmaker, utcnow
from app.core.errors import install_error_handlers
from app.core.scheduler import Periodic
from app.core.security import install_security_headers
from app.dashboard.router import router as dashboard_router
from app.events.router import router as events_router  # app.events registers the outbox
from app.events.runtime import EventsRuntime
from app.events.webhooks_router import router as webhooks_router
from app.grids.router import router as grids_router
from app.grids.service import GridRouter
from app.health.router import router as health_router
from app.open311.router import install as install_open311
from app.photos.router import router as storage_router
from app.photos.storage import build_storage
from app.photos.upload_router import router as uploads_router
from app.photos.worker import DerivativeWorker
from app.reports.router import router as reports_router
from app.stats import pending as stats_pending
from app.stats.answers import build_stats_cache
from app.stats.router import router as stats_router  # app.stats registers its listener
from app.tickets import jobs as ticket_jobs
from app.tickets.router import router as tickets_router
from app.tickets.views import NameCache

log = logging.getLogger("gridfix")

API_DESCRIPTION = """\
gridfix takes geotagged photo reports of street hazards from riders' phones,
routes each one as a ticket to the grid office whose boundary contains it, and
lets grid officers work and close tickets.

Errors are RFC 9457 problem details (`application/problem+json`).
Coordinates are WGS-84 unless a `crs` parameter says `gcj02` or `bd09`.
"""


OPENAPI_TAGS = (
    "health",
    "auth",
    "grids",
    "categories",
    "reports",
    "tickets",
    "storage",
    "stats",
    "events",
    "webhooks",
    "open311",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        app.state.engine = engine
        app.state.read_engine = make_read_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.storage = build_storage(settings)
        app.state.name_cache = NameCache(ttl_s=30.0)
        app.state.principal_cache = build_principal_cache(settings)
        app.state.stats_cache = build_stats_cache(settings)
        app.state.grid_router = GridRouter(
            tolerance_m=settings.route_tolerance_m,
            border_margin_m=settings.border_margin_m,
        )
        worker = DerivativeWorker(app.state.sessionmaker, app.state.storage, settings)
        app.state.derivative_worker = worker
        events = EventsRuntime(app.state.sessionmaker, settings)
        app.state.events = events
        jobs = Periodic(
            "ticket-jobs",
            settings.jobs_interval_s,
            lambda: ticket_jobs.run(app.state.sessionmaker, settings, utcnow()),
        )
        # Pending statistics changes, folded into the rollups in batches (PostgreSQL).
        folds = Periodic(
            "stats-fold",
            settings.stats_fold_interval_s,
            stats_pending.Folder(app.state.sessionmaker),
        )
        if settings.background_workers:
            worker.start()
            jobs.start()
        if engine.dialect.name == "postgresql":
            folds.start()
        events.start(deliveries=settings.background_workers)
        # What exists now (modules, classes, models, routes: some 150,000 objects)
        # lives as long as the process. Frozen, the collector's full passes no
        # longer walk it: each took ~75 ms of CPU, stalling the worker's requests.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            events.stop()
            folds.stop()
            jobs.stop()
            worker.stop()
            engine.dispose()
            if app.state.read_engine is not None:
                app.state.read_engine.dispose()

    app = FastAPI(
        title="gridfix",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        openapi_tags=[{"name": name} for name in OPENAPI_TAGS],
    )
    app.state.settings = settings
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "Prefer",
            ],
            expose_headers=["ETag", "Location", "Preference-Applied", "Retry-After"],
        )
    install_security_headers(app, settings)
    # Routes are matched in order, one pattern at a time: the most requested
    # first (dashboards' polls, officers' queues). Prefixes do not overlap, so
    # the order changes nothing else; OPENAPI_TAGS keeps the docs' order.
    app.include_router(health_router)
    app.include_router(stats_router, prefix="/v1")
    app.include_router(tickets_router, prefix="/v1")
    app.include_router(events_router, prefix="/v1")
    app.include_router(reports_router, prefix="/v1")
    app.include_router(uploads_router, prefix="/v1")
    app.include_router(auth_router, prefix="/v1")
    app.include_router(grids_router, prefix="/v1")
    app.include_router(categories_router, prefix="/v1")
    app.include_router(storage_router, prefix="/v1")
    app.include_router(webhooks_router, prefix="/v1")
    app.include_router(dashboard_router)
    # Last: it wraps the error handlers so its prefix answers in Open311's own format.
    install_open311(app, settings)
    return app
