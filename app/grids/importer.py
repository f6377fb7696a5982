"""Read boundary files into office features: lenient about containers, strict
about geometry.

Accepts a GeoJSON FeatureCollection, a single Feature, or a bare JSON array of
Features (as DataV's per-district downloads are). Coordinates are converted to
WGS-84 from the declared CRS. Each feature is checked on its own: invalid
geometries are repaired (``make_valid``, keeping only polygonal parts) or
rejected with a reason, and the rest of the file still imports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from app.core.geo import CRS, EARTH_RADIUS_M, converter_to_wgs84
from app.grids.exceptions import BoundaryFileInvalid


@dataclass(frozen=True, slots=True)
class ImportOptions:
    crs: CRS = CRS.wgs84
    code_property: str = "code"
    name_property: str = "name"
    parent_property: str | None = None
    parent_code: str | None = None
    level: str | None = None
    level_property: str | None = None
    repair: bool = True


@dataclass(slots=True)
class ParsedFeature:
    index: int
    code: str
    name: str
    parent_code: str | None
    level: str | None
    boundary: MultiPolygon
    repaired: bool
    properties: dict[str, Any]


@dataclass(slots=True)
class FeatureProblem:
    index: int
    code: str | None
    reason: str


@dataclass(slots=True)
class ParseResult:
    features: list[ParsedFeature] = field(default_factory=list)
    rejected: list[FeatureProblem] = field(default_factory=list)


def load_features(raw: bytes | str) -> list[dict[str, Any]]:
    """The Feature objects of a GeoJSON document (or a bare array of Features)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BoundaryFileInvalid(f"not JSON: {exc}") from None
    if isinstance(doc, list):
        features = doc
    elif isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and doc.get("type") == "Topology":
        raise BoundaryFileInvalid(
            "TopoJSON is not supported; convert it to GeoJSON first (e.g. topojson-client)"
        )
    else:
        raise BoundaryFileInvalid(
            "expected a GeoJSON FeatureCollection, a Feature, or an array of Features"
        )
    if not isinstance(features, list) or not features:
        raise BoundaryFileInvalid("the file holds no features")
    return features


def _prop(props: dict[str, Any], dotted: str) -> Any:
    """Property by dotted path: ``parent.adcode`` reads ``props["parent"]["adcode"]``."""
    value: Any = props
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _as_code(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    code = str(value).strip()
    return code or None


def _to_wgs84(geom: BaseGeometry, crs: CRS) -> BaseGeometry:
    if crs is CRS.wgs84:
        return geom
    convert = converter_to_wgs84(crs)

    def apply(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.array([convert(float(x), float(y)) for x, y in coords]).reshape(coords.shape)

    return shapely.transform(geom, apply)


def _polygonal(geom: BaseGeometry) -> MultiPolygon | None:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom]) if not geom.is_empty else None
    if isinstance(geom, MultiPolygon):
        return geom if not geom.is_empty else None
    if hasattr(geom, "geoms"):
        parts: list[Polygon] = []
        for g in geom.geoms:
            sub = _polygonal(g)
            if sub is not None:
                parts.extend(sub.geoms)
        return MultiPolygon(parts) if parts else None
    return None


def _check_range(geom: BaseGeometry) -> str | None:
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return "coordinates are not finite numbers"
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return (
            f"coordinates out of lon/lat range (bbox {minx:.3f},{miny:.3f},{maxx:.3f},{maxy:.3f});"
            " is the file projected, or are the axes swapped?"
        )
    return None


def parse_features(raw_features: Iterable[dict[str, Any]], options: ImportOptions) -> ParseResult:
    """Turn raw Features into offices to import; collect a reason for each rejected one."""
    result = ParseResult()
    seen: set[str] = set()
    for index, feature in enumerate(raw_features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        code = _as_code(_prop(props, options.code_property))
        problem = _parse_one(index, feature, props, code, options, seen, result)
        if problem:
            result.rejected.append(FeatureProblem(index, code, problem))
    return result


def _parse_one(
    index: int,
    feature: Any,
    props: dict[str, Any],
    code: str | None,
    options: ImportOptions,
    seen: set[str],
    result: ParseResult,
) -> str | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not a GeoJSON Feature"
    if code is None:
        return f"property {options.code_property!r} is missing or empty"
    if len(code) > 64:
        return "code longer than 64 characters"
    if code in seen:
        return f"code {code!r} appears more than once in the file"
    name = _prop(props, options.name_property)
    name = str(name).strip()[:200] if name not in (None, "") else code
    if feature.get("geometry") is None:
        return "geometry is null"
    try:
        geom = shape(feature["geometry"])
    except Exception as exc:  # shapely raises several types for malformed input
        return f"geometry cannot be read: {exc}"
    if geom.is_empty:
        return "geometry is empty"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"geometry is a {geom.geom_type}; boundaries must be Polygon or MultiPolygon"
    if bad := _check_range(geom):
        return bad
    geom = _to_wgs84(geom, options.crs)
    repaired = False
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        if not options.repair:
            return f"invalid geometry: {why}"
        geom = shapely.make_valid(geom)
        repaired = True
    poly = _polygonal(geom)
    if poly is None:
        return "no polygon area left after repair"
    parent = options.parent_code
    if options.parent_property:
        parent = _as_code(_prop(props, options.parent_property)) or parent
    if parent == code:
        parent = options.parent_code if options.parent_code != code else None
    level = options.level
    if options.level_property:
        level = _as_code(_prop(props, options.level_property)) or level
    seen.add(code)
    result.features.append(
        ParsedFeature(index, code, name, parent, level, poly, repaired, _plain(props))
    )
    return None


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    """Properties that are safe to keep as JSON (drop huge or odd values)."""
    out: dict[str, Any] = {}
    for key, value in list(props.items())[:50]:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) <= 2000:
            out[str(key)[:100]] = json.loads(text)
    return out


def spherical_area_m2(geom: BaseGeometry) -> float:
    """Area on the mean-radius sphere (good to a fraction of a percent at city scale)."""

    def ring_area(coords: Iterator[tuple[float, float]] | Any) -> float:
        pts = np.radians(np.asarray(coords)[:, :2])
        lon, lat = pts[:, 0], pts[:, 1]
        total = np.sum((lon[1:] - lon[:-1]) * (2 + np.sin(lat[:-1]) + np.sin(lat[1:])))
        return float(abs(total) * EARTH_RADIUS_M**2 / 2.0)

    polys = geom.geoms if hasattr(geom, "geoms") else [geom]
    area = 0.0
    for poly in polys:
        area += ring_area(poly.exterior.coords)
        for hole in poly.interiors:
            area -= ring_area(hole.coords)
    return area
