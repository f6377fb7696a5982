from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.core.db import DbSession
from app.grids import repository
from app.grids.exceptions import OfficeNotFound
from app.grids.models import Office
from app.grids.service import GridRouter


async def _grid_router(request: Request) -> GridRouter:
    router: GridRouter = request.app.state.grid_router
    return router


GridRouterDep = Annotated[GridRouter, Depends(_grid_router)]


def _office_by_code(
    session: DbSession, code: Annotated[str, Path(max_length=64, description="Office code")]
) -> Office:
    office = repository.get_by_code(session, code)
    if office is None:
        raise OfficeNotFound(f"no office with code {code!r}")
    return office


OfficeByCode = Annotated[Office, Depends(_office_by_code)]
