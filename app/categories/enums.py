"""Open311 (GeoReport v2) attribute data types of a category's extra questions."""

from __future__ import annotations

from enum import StrEnum


class AttributeDatatype(StrEnum):
    string = "string"
    number = "number"
    datetime = "datetime"
    text = "text"
    singlevaluelist = "singlevaluelist"
    multivaluelist = "multivaluelist"


# The datatypes whose answers are chosen from ``values``.
LIST_DATATYPES = frozenset({AttributeDatatype.singlevaluelist, AttributeDatatype.multivaluelist})
