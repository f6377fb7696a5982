"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Process is up")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches no dependency."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database and object storage are reachable",
    responses={503: {"description": "A dependency is down; the body names it"}},
)
def readyz(request: Request) -> JSONResponse:
    """Readiness: one round trip to the database and one to the object store."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        request.app.state.storage.ping()
        checks["storage"] = "ok"
    except Exception as exc:
        ok = False
        checks["storage"] = f"unavailable: {type(exc).__name__}"
    if ok:
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    return JSONResponse(
        {
            "type": "https://gridfix.dev/problems/not-ready",
            "title": "Not ready",
            "status": 503,
            "detail": f"unavailable: {failing}",
            "checks": checks,
        },
        status_code=503,
        media_type="application/problem+json",
        headers={"Retry-After": "5"},
    )
