from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.geo import CRS
from app.grids.importer import ImportOptions
from app.grids.service import GridRouter, import_boundaries

JIANGMEN = "boundaries/datav_geoatlas_2021_anzhou99/440700_full.json"
GUANGZHOU = "boundaries/datav_geoatlas_2021_anzhou99/440100_full.json"
GUANGDONG = "boundaries/datav_geoatlas_2021_anzhou99/440000_full.json"
DISTRICTS = {
    "440703": "蓬江区",
    "440704": "江海区",
    "440705": "新会区",
    "440781": "台山市",
    "440783": "开平市",
    "440784": "鹤山市",
    "440785": "恩平市",
}


@pytest.fixture
def import_file(session_factory, data_dir: Path) -> Callable[..., object]:
    def _import(rel: str, **options: object):
        opts = {"crs": CRS.gcj02, "code_property": "adcode"} | options
        with session_factory() as session:
            report = import_boundaries(
                session, (data_dir / rel).read_bytes(), ImportOptions(**opts)
            )
            session.commit()
        return report

    return _import


@pytest.fixture
def grid_router() -> GridRouter:
    return GridRouter(tolerance_m=150, border_margin_m=25)


@pytest.fixture
def route(session_factory, grid_router: GridRouter):
    def _route(lat: float, lon: float, crs: CRS = CRS.wgs84):
        with session_factory() as session:  # type: Session
            return grid_router.route(session, lat, lon, crs)

    return _route
