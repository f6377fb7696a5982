"""Demo data: Jiangmen's seven districts (DataV, GCJ-02, converted on import),
synthetic community grids inside them, and demo staff.

No freely licensed community-grid (网格) polygons exist for Jiangmen, so grids
are a lattice clipped to each district; they tile the district exactly.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from shapely.ops import unary_union
from sqlalchemy.orm import Session

from app.auth import repository as auth_repo
from app.auth import service as auth_service
from app.auth.enums import Role
from app.auth.models import Principal
from app.categories.service import ensure_defaults
from app.core.errors import InvalidInput
from app.core.geo import CRS
from app.grids import repository as grid_repo
from app.grids.importer import ImportOptions, load_features, parse_features
from app.grids.service import import_boundaries
from app.grids.synthetic import lattice_cells

JIANGMEN_FILE = "boundaries/datav_geoatlas_2021_anzhou99/440700_full.json"
CITY_CODE = "440700"
GRIDS_PER_DISTRICT = 25


def default_data_dir() -> Path:
    """``GRIDFIX_DEMO_DATA``, else ``shared/data`` beside or above the working directory."""
    env = os.environ.get("GRIDFIX_DEMO_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), *Path.cwd().parents):
        for candidate in (base / "shared" / "data", base.parent / "shared" / "data"):
            if (candidate / JIANGMEN_FILE).is_file():
                return candidate
    return Path("../shared/data")


@dataclass
class SeedResult:
    offices_created: int = 0
    offices_updated: int = 0
    principals_created: list[str] = field(default_factory=list)
    featured: dict[str, Principal] = field(default_factory=dict)


def _feature(code: str, name: str, geom: object, parent: str | None) -> dict[str, object]:
    props: dict[str, object] = {"code": code, "name": name}
    if parent:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": geom}


def seed_demo(session: Session, data_dir: Path, *, admin_password: str) -> SeedResult:
    """Load offices and demo principals; safe to run again (updates in place)."""
    path = data_dir / JIANGMEN_FILE
    if not path.is_file():
        raise InvalidInput(
            f"demo boundaries not found at {path}; set GRIDFIX_DEMO_DATA or --data-dir "
            "to the folder that holds boundaries/datav_geoatlas_2021_anzhou99/"
        )
    raw = path.read_bytes()
    districts = parse_features(
        load_features(raw), ImportOptions(crs=CRS.gcj02, code_property="adcode")
    ).features
    result = SeedResult()

    city = unary_union([d.boundary for d in districts])
    city_fc = [_feature(CITY_CODE, "江门市", city.__geo_interface__, None)]
    reports = [
        import_boundaries(session, json.dumps(city_fc), ImportOptions(level="city")),
        import_boundaries(
            session,
            raw,
            ImportOptions(
                crs=CRS.gcj02, code_property="adcode", parent_code=CITY_CODE, level="district"
            ),
        ),
    ]
    grid_feats = []
    for d in districts:
        cell_m = max(
            500.0, round(math.sqrt(d.boundary.area * 111_000**2 * 0.92 / GRIDS_PER_DISTRICT), -2)
        )
        for n, cell in enumerate(lattice_cells(d.boundary, cell_m), 1):
            grid_feats.append(
                _feature(
                    f"{d.code}-G{n:03d}",
                    f"{d.name}第{n}网格",
                    cell.boundary.__geo_interface__,
                    d.code,
                )
            )
    reports.append(
        import_boundaries(
            session,
            json.dumps(grid_feats),
            ImportOptions(parent_property="parent", level="grid"),
        )
    )
    for rep in reports:
        result.offices_created += len(rep.created)
        result.offices_updated += len(rep.updated)

    def ensure(name: str, role: Role, office: str | None, password: str | None = None) -> Principal:
        existing = auth_repo.get_principal_by_name(session, name)
        if existing is not None:
            return existing
        principal, _ = auth_service.create_principal(
            session, name=name, role=role, office_code=office, password=password
        )
        result.principals_created.append(name)
        return principal

    ensure_defaults(session)
    result.featured["admin"] = ensure("admin", Role.admin, None, admin_password)
    result.featured["city supervisor"] = ensure("city-supervisor", Role.supervisor, CITY_CODE)
    result.featured["viewer"] = ensure("city-viewer", Role.viewer, CITY_CODE)
    for d in districts:
        sup = ensure(f"supervisor-{d.code}", Role.supervisor, d.code)
        if d.code == "440703":
            result.featured["district supervisor (蓬江区)"] = sup
    for feat in grid_feats:
        code = str(feat["properties"]["code"])  # type: ignore[index]
        officer = ensure(f"officer-{code.lower()}", Role.officer, code)
        if code == "440703-G001":
            result.featured[f"officer ({code})"] = officer
    session.flush()
    assert grid_repo.get_by_code(session, CITY_CODE) is not None
    return result
