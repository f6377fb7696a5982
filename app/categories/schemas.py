"""Request and response bodies of the category catalogue.

Field rules live here, at the edge, so every error names its field: a bad
attribute is reported as ``attributes.1.values`` (the path rendered by the one
validation handler), whatever rule it broke.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.categories.enums import LIST_DATATYPES, AttributeDatatype

if TYPE_CHECKING:
    from app.categories.models import Category

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
NAME_MAX = 100  # categories.name_zh / name_en are String(100)
DESCRIPTION_MAX = 500  # categories.description is String(500)
SLA_HOURS_MAX = 8760  # a year; anything longer is not a service level
SORT_ORDER_MAX = 100_000
KEYWORD_MAX = 50
KEYWORDS_MAX = 50
ATTRIBUTES_MAX = 20
ATTRIBUTE_ORDER_MAX = 1000
VALUE_KEY_MAX = 64
VALUES_MAX = 50


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _blank_to_none(value: str | None) -> str | None:
    return value or None


Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN, max_length=32)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_MAX),
    AfterValidator(_blank_to_none),
]
SlaHours = Annotated[
    int, Field(ge=1, le=SLA_HOURS_MAX, description="Hours from report to expected fix.")
]
SortOrder = Annotated[int, Field(ge=0, le=SORT_ORDER_MAX, description="Lower comes first.")]
Keyword = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=KEYWORD_MAX)
]
Keywords = Annotated[
    list[Keyword],
    Field(max_length=KEYWORDS_MAX, description="Search words, Chinese and English."),
    AfterValidator(_dedupe),
]


# ---------------------------------------------------------------- extra questions
class AttributeValue(BaseModel):
    """One choice of a list attribute."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=VALUE_KEY_MAX)
    ] = Field(examples=["large"])
    name: Name = Field(examples=["大（超过1米）/ large (over 1 m)"])


class AttributeDef(BaseModel):
    """An extra question riders answer for a category (an Open311 service attribute)."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(examples=["size"])
    datatype: AttributeDatatype
    required: bool = False
    variable: bool = Field(
        default=True, description="false: the description is information only, not a question."
    )
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX)
    ] = Field(description="The question as shown to the rider.")
    order: int = Field(ge=1, le=ATTRIBUTE_ORDER_MAX, description="Position among the questions.")
    values: list[AttributeValue] = Field(
        default_factory=list,
        max_length=VALUES_MAX,
        description="The choices: at least one for list datatypes, none for the others.",
    )


def _attribute_error(kind: str, message: str, loc: tuple[int | str, ...], value: Any) -> Any:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def check_attributes(attributes: list[AttributeDef]) -> list[AttributeDef]:
    """Rules across fields and items; each error is located at the offending field."""
    errors: list[InitErrorDetails] = []
    seen_codes: set[str] = set()
    for i, attr in enumerate(attributes):
        if attr.code in seen_codes:
            errors.append(
                _attribute_error(
                    "attribute_code_duplicate",
                    "another attribute already has this code",
                    (i, "code"),
                    attr.code,
                )
            )
        seen_codes.add(attr.code)
        is_list = attr.datatype in LIST_DATATYPES
        if is_list and not attr.values:
            errors.append(
                _attribute_error(
                    "attribute_values_missing",
                    f"a {attr.datatype.value} needs at least one value",
                    (i, "values"),
                    [],
                )
            )
        if not is_list and attr.values:
            errors.append(
                _attribute_error(
                    "attribute_values_unexpected",
                    f"values are only for list datatypes, not {attr.datatype.value}",
                    (i, "values"),
                    [v.model_dump() for v in attr.values],
                )
            )
        seen_keys: set[str] = set()
        for j, value in enumerate(attr.values):
            if value.key in seen_keys:
                errors.append(
                    _attribute_error(
                        "attribute_value_duplicate",
                        "another value of this attribute has this key",
                        (i, "values", j, "key"),
                        value.key,
                    )
                )
            seen_keys.add(value.key)
    if errors:
        raise ValidationError.from_exception_data("attributes", errors)
    return attributes


AttributeList = Annotated[
    list[AttributeDef],
    Field(max_length=ATTRIBUTES_MAX, description="Extra questions (Open311 attributes)."),
    AfterValidator(check_attributes),
]


# ---------------------------------------------------------------- categories
class CategoryOut(BaseModel):
    """A hazard category as riders and staff see it."""

    code: str = Field(examples=["road_damage"])
    name_zh: str = Field(examples=["道路破损"])
    name_en: str = Field(examples=["Road damage"])
    group: str = Field(examples=["road"], description="The responsible line of work.")
    description: str | None
    sla_hours: int
    photo_required: bool = Field(description="Reports of this category must carry a photo.")
    evidence_required: bool = Field(description='Closing needs an "after" photo at the spot.')
    active: bool = Field(description="false: retired, hidden from riders.")
    sort_order: int
    keywords: list[str]
    attributes: list[AttributeDef]

    @classmethod
    def from_category(cls, category: Category) -> CategoryOut:
        return cls(
            code=category.code,
            name_zh=category.name_zh,
            name_en=category.name_en,
            group=category.group_code,
            description=category.description,
            sla_hours=category.sla_hours,
            photo_required=category.photo_required,
            evidence_required=category.evidence_required,
            active=category.active,
            sort_order=category.sort_order,
            keywords=list(category.keywords),
            attributes=[AttributeDef.model_validate(a) for a in category.attributes],
        )


class CategoryList(BaseModel):
    """The whole catalogue: it is small, and clients cache it as one piece."""

    items: list[CategoryOut]
    fingerprint: str = Field(
        description="SHA-256 of the listed categories' public fields; changes when they do."
    )


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code = Field(examples=["broken_bench"], description="Permanent; cannot be changed.")
    name_zh: Name = Field(examples=["座椅损坏"])
    name_en: Name = Field(examples=["Broken bench"])
    group: Code = Field(default="other", examples=["city_management"])
    description: Description | None = None
    sla_hours: SlaHours = 72
    photo_required: bool = True
    evidence_required: bool = False
    sort_order: SortOrder = 100
    keywords: Keywords = Field(default_factory=list)
    attributes: AttributeList = Field(default_factory=list)
    active: bool = True


# PATCH: a field left out is unchanged; null is refused except where it means "clear".
_NOT_NULL = (
    "name_zh",
    "name_en",
    "group",
    "sla_hours",
    "photo_required",
    "evidence_required",
    "sort_order",
    "keywords",
    "attributes",
    "active",
)


def _not_null_in_docs(schema: dict[str, Any]) -> None:
    # ``X | None`` keeps "left out" apart from a value; null itself is refused below,
    # so the docs show these fields as plain ``X``.
    for name in _NOT_NULL:
        prop = schema["properties"][name]
        choices = [s for s in prop.pop("anyOf", []) if s.get("type") != "null"]
        if len(choices) == 1:
            prop.update(choices[0])
        prop.pop("default", None)


class CategoryPatch(BaseModel):
    """Fields to change; ``active: false`` retires a category, ``true`` brings it back."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_null_in_docs)

    name_zh: Name | None = None
    name_en: Name | None = None
    group: Code | None = None
    description: Description | None = Field(default=None, description="null clears it.")
    sla_hours: SlaHours | None = None
    photo_required: bool | None = None
    evidence_required: bool | None = None
    sort_order: SortOrder | None = None
    keywords: Keywords | None = Field(default=None, description="Replaces the list.")
    attributes: AttributeList | None = Field(default=None, description="Replaces the list.")
    active: bool | None = None

    @field_validator(*_NOT_NULL, mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value
