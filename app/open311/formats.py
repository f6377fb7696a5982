"""GeoReport v2 wire formats: XML (required by the spec) and JSON (its Spark mapping).

Resources are built once as plain Python values (dicts, lists, strings, numbers,
booleans, datetimes, ``None``) and rendered by :func:`render`:

* JSON: list resources are top-level arrays; ``None`` is ``null``; datetimes are
  W3C strings with an offset.
* XML: ``<?xml version="1.0" encoding="utf-8"?>``, no namespace; a list becomes
  a plural element holding one singular child per item (``<services><service>``,
  ``<attributes><attribute>``); ``None`` fields are left out rather than sent as
  empty elements, because XML::Simple clients (FixMyStreet) read an empty
  element as a hash and would treat it as a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Response


class Format(StrEnum):
    xml = "xml"
    json = "json"

    @property
    def media_type(self) -> str:
        return XML_TYPE if self is Format.xml else JSON_TYPE


XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

# Plural element → the element of each item inside it.
CHILD = {
    "attributes": "attribute",
    "endpoints": "endpoint",
    "errors": "error",
    "formats": "format",
    "notes": "note",
    "photos": "photo",
    "service_request_updates": "request_update",
    "service_requests": "request",
    "services": "service",
    "values": "value",
}

# Characters XML 1.0 cannot carry at all (C0 controls except tab, LF, CR; U+FFFE/F;
# lone surrogates): dropped from text rather than producing a document no parser reads.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def w3c(value: datetime) -> str:
    """A W3C datetime in UTC with an explicit offset: ``2026-11-29T08:15:30+00:00``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _xml_fill(parent: ET.Element, name: str, value: Any) -> None:
    """Append ``value`` to ``parent`` as element ``name`` (nothing for ``None``)."""
    if value is None:
        return
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_fill(element, key, item)
    elif isinstance(value, list | tuple):
        child = CHILD.get(name, "item")
        for item in value:
            _xml_fill(element, child, item)
            if item is None:  # keep positions: an empty element for a null item
                ET.SubElement(element, child)
    else:
        element.text = _scalar(value)


def to_xml(root: str, value: Any) -> bytes:
    """``value`` (a list for list resources, a mapping otherwise) under element ``root``."""
    top = ET.Element(root)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_fill(top, key, item)
    else:
        child = CHILD[root]
        for item in value:
            _xml_fill(top, child, item)
    return (XML_DECLARATION + ET.tostring(top, encoding="unicode") + "\n").encode()


def to_json(value: Any) -> bytes:
    return json.dumps(_json_value(value), ensure_ascii=False, separators=(",", ":")).encode()


def render(
    fmt: Format,
    root: str,
    value: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The response for ``value`` in ``fmt``, with the spec's exact content type."""
    body = to_xml(root, value) if fmt is Format.xml else to_json(value)
    return Response(
        body, status_code=status, media_type=fmt.media_type, headers=dict(headers or {})
    )


def format_of_path(path: str) -> Format:
    """The format a URL asks for by its extension; JSON when it names none we serve."""
    return Format.xml if path.lower().endswith(".xml") else Format.json
