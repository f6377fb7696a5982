"""Service attributes: the definitions clients read and the answers they send.

Pure functions over a category's ``attributes`` (already validated by the
catalogue) and the ``attribute[code]`` / ``attribute[code][]`` form fields.

Policies:

* Answers to codes the service does not define are ignored, not refused: clients
  such as FixMyStreet add their own attributes (report URL, title) to every
  request, and refusing them would make those clients fail on every report.
* Answers to ``variable: false`` attributes (information only) are ignored.
* A required attribute must have a non-blank answer.
* ``string`` is one line; ``text`` may span lines; ``number`` is a finite
  decimal; ``datetime`` is an ISO 8601 date, or date-time with an offset (a time
  without one is ambiguous); list answers must be keys of ``values``, one for a
  ``singlevaluelist``, one or more (repeats collapse) for a ``multivaluelist``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

ANSWER_MAX = 4000
STRING_MAX = 1000
_KEY = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")

DATATYPE_DESCRIPTIONS = {
    "string": "One line of text.",
    "number": "A number, e.g. 12 or 3.5.",
    "datetime": "An ISO 8601 date (2026-11-29) or date-time with offset "
    "(2026-11-29T08:30:00+08:00).",
    "text": "Text; it may span several lines.",
    "singlevaluelist": "One of the keys listed in values.",
    "multivaluelist": "One or more of the keys listed in values: attribute[code][]=key.",
}
LIST_TYPES = frozenset({"singlevaluelist", "multivaluelist"})


def ordered(attributes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(attributes, key=lambda a: (int(a.get("order", 0)), str(a.get("code", ""))))


def definition(attributes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``attributes`` of a GeoReport service definition, in presentation order."""
    out = []
    for attr in ordered(attributes):
        datatype = str(attr["datatype"])
        item: dict[str, Any] = {
            "variable": bool(attr.get("variable", True)),
            "code": str(attr["code"]),
            "datatype": datatype,
            "required": bool(attr.get("required", False)),
            "datatype_description": DATATYPE_DESCRIPTIONS.get(datatype),
            "order": int(attr.get("order", 0)),
            "description": str(attr.get("description", "")),
        }
        if datatype in LIST_TYPES:
            item["values"] = [
                {"key": str(v["key"]), "name": str(v["name"])} for v in attr.get("values", [])
            ]
        out.append(item)
    return out


def parse_key(key: str) -> tuple[str, bool] | None:
    """``attribute[code]`` → (code, False); ``attribute[code][]`` → (code, True)."""
    m = _KEY.match(key)
    if m is None:
        return None
    return m.group(1), m.group(2) is not None


def _datetime_ok(value: str) -> bool:
    try:
        if "T" not in value and "t" not in value and " " not in value:
            date.fromisoformat(value)
            return True
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _check_one(code: str, datatype: str, value: str, keys: set[str]) -> str | None:
    """A problem with one answer, or ``None``."""
    if datatype == "string":
        if "\n" in value or "\r" in value:
            return f"attribute[{code}] is a string: one line, no line breaks"
        if len(value) > STRING_MAX:
            return f"attribute[{code}] is at most {STRING_MAX} characters"
    elif datatype == "text":
        if len(value) > ANSWER_MAX:
            return f"attribute[{code}] is at most {ANSWER_MAX} characters"
    elif datatype == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return f"attribute[{code}] must be a number, not {value[:40]!r}"
    elif datatype == "datetime":
        if not _datetime_ok(value):
            return (
                f"attribute[{code}] must be an ISO 8601 date or a date-time with an offset, "
                f"not {value[:40]!r}"
            )
    elif datatype in LIST_TYPES and value not in keys:
        return (
            f"attribute[{code}]: {value[:40]!r} is not one of the values "
            f"({', '.join(sorted(keys))})"
        )
    return None


def _typed(datatype: str, value: str) -> Any:
    if datatype == "number":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    return value


def validate(
    attributes: Sequence[Mapping[str, Any]], given: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], list[str]]:
    """Check the answers against the definitions: (answers to store, problems).

    ``given`` maps a code to every value sent for it, in order. Stored answers are
    a string (or number) for single-valued types and a list for ``multivaluelist``.
    """
    answers: dict[str, Any] = {}
    problems: list[str] = []
    for attr in ordered(attributes):
        if not attr.get("variable", True):
            continue
        code = str(attr["code"])
        datatype = str(attr["datatype"])
        values = [v.strip() if datatype != "text" else v for v in given.get(code, [])]
        values = [v for v in values if v.strip()]
        if not values:
            if attr.get("required", False):
                problems.append(f"attribute[{code}] is required: {attr.get('description', '')}")
            continue
        keys = {str(v["key"]) for v in attr.get("values", [])}
        if datatype != "multivaluelist" and len(values) > 1:
            problems.append(f"attribute[{code}] takes one value, not {len(values)}")
            continue
        found = [p for p in (_check_one(code, datatype, v, keys) for v in values) if p]
        if found:
            problems.extend(found)
            continue
        if datatype == "multivaluelist":
            answers[code] = list(dict.fromkeys(values))
        else:
            answers[code] = _typed(datatype, values[0])
    return answers, problems


def extension_view(
    attributes: Sequence[Mapping[str, Any]], answers: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Answers for ``extensions=true`` (the shape of the GeoReport extensions page):
    ``name`` the attribute code, ``label`` its question, ``code`` the chosen key
    (or the value), ``value`` the human-readable value; one entry per list choice."""
    out: list[dict[str, Any]] = []
    for attr in ordered(attributes):
        code = str(attr["code"])
        if code not in answers:
            continue
        names = {str(v["key"]): str(v["name"]) for v in attr.get("values", [])}
        chosen = answers[code] if isinstance(answers[code], list) else [answers[code]]
        for value in chosen:
            out.append(
                {
                    "name": code,
                    "label": str(attr.get("description", "")),
                    "code": str(value),
                    "value": names.get(str(value), value),
                }
            )
    return out
