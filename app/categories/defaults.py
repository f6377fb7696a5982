"""The default hazard catalogue, as data.

:func:`app.categories.service.ensure_defaults` inserts whichever of these codes
are missing and never touches a row that exists, so admins' edits survive.
Everything here is immutable; :meth:`DefaultCategory.as_row` hands out fresh
copies, so changing a loaded row can never change the defaults.

Service levels (``sla_hours``), from report to expected fix:

- 4 h, missing or broken manhole cover: an open shaft in a lane kills riders,
  at night above all; it must be made safe within the shift it is reported in.
- 12 h, fallen tree or branch: blocks lanes and can bring down wires; after a
  typhoon there are many, so half a day is the realistic promise.
- 24 h, waterlogging, garbage, road occupation: sanitation and city-management
  crews work daily rounds; standing water mostly drains within a day, and what
  does not is a blocked drain someone must clear.
- 48 h, street light out, damaged traffic facility: lighting and traffic crews
  work scheduled rounds (lights at night), and parts may have to be fetched.
- 72 h, road damage and other: patching needs a crew, material and dry weather;
  a dangerous pothole is coned off first, which the officer does on the visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.categories.enums import AttributeDatatype


@dataclass(frozen=True, slots=True)
class DefaultValue:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class DefaultAttribute:
    """An Open311 service attribute (an extra question)."""

    code: str
    datatype: AttributeDatatype
    description: str
    order: int
    required: bool = False
    variable: bool = True
    values: tuple[DefaultValue, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "datatype": self.datatype.value,
            "required": self.required,
            "variable": self.variable,
            "description": self.description,
            "order": self.order,
            "values": [{"key": v.key, "name": v.name} for v in self.values],
        }


@dataclass(frozen=True, slots=True)
class DefaultCategory:
    code: str
    name_zh: str
    name_en: str
    group_code: str
    sla_hours: int
    sort_order: int
    keywords: tuple[str, ...]
    photo_required: bool = True
    evidence_required: bool = True
    attributes: tuple[DefaultAttribute, ...] = ()

    def as_row(self) -> dict[str, Any]:
        """Column values for a new :class:`~app.categories.models.Category` (fresh copies)."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "group_code": self.group_code,
            "description": None,
            "sla_hours": self.sla_hours,
            "photo_required": self.photo_required,
            "evidence_required": self.evidence_required,
            "active": True,
            "sort_order": self.sort_order,
            "keywords": list(self.keywords),
            "attributes": [a.as_dict() for a in self.attributes],
        }


_YES_NO = (DefaultValue("yes", "是 / yes"), DefaultValue("no", "否 / no"))

# Riders see safety hazards first; "other" always last.
DEFAULT_CATEGORIES: tuple[DefaultCategory, ...] = (
    DefaultCategory(
        code="road_damage",
        name_zh="道路破损",
        name_en="Road damage",
        group_code="road",
        sla_hours=72,
        sort_order=10,
        keywords=("坑洼", "坑槽", "路面破损", "路面塌陷", "裂缝", "pothole", "crack", "sinkhole"),
        attributes=(
            DefaultAttribute(
                code="size",
                datatype=AttributeDatatype.singlevaluelist,
                description="破损有多大？/ How big is the damage?",
                order=1,
                values=(
                    DefaultValue("small", "小（小于30厘米）/ small (under 30 cm)"),
                    DefaultValue("medium", "中（30厘米至1米）/ medium (30 cm to 1 m)"),
                    DefaultValue("large", "大（超过1米）/ large (over 1 m)"),
                ),
            ),
            DefaultAttribute(
                code="blocking_traffic",
                datatype=AttributeDatatype.singlevaluelist,
                description="是否阻碍通行？/ Is it blocking traffic?",
                order=2,
                required=True,
                values=_YES_NO,
            ),
        ),
    ),
    DefaultCategory(
        code="manhole_cover",
        name_zh="井盖缺失",
        name_en="Missing or broken manhole cover",
        group_code="road",
        sla_hours=4,
        sort_order=20,
        keywords=("井盖", "窨井", "下水道", "井盖破损", "井盖松动", "manhole", "drain cover"),
    ),
    DefaultCategory(
        code="fallen_tree",
        name_zh="树木倒伏",
        name_en="Fallen tree or branch",
        group_code="greenery",
        sla_hours=12,
        sort_order=30,
        keywords=("倒树", "断枝", "树枝", "台风", "fallen tree", "branch", "typhoon"),
    ),
    DefaultCategory(
        code="waterlogging",
        name_zh="积水内涝",
        name_en="Waterlogging",
        group_code="drainage",
        sla_hours=24,
        sort_order=40,
        keywords=("积水", "水浸", "内涝", "水淹", "排水", "flooding", "standing water", "drain"),
        # The water is gone by the time an officer closes the ticket; an "after"
        # photo of a dry road proves nothing.
        evidence_required=False,
        attributes=(
            DefaultAttribute(
                code="depth_cm",
                datatype=AttributeDatatype.number,
                description="积水大约多深（厘米）？/ About how deep is the water (cm)?",
                order=1,
            ),
        ),
    ),
    DefaultCategory(
        code="street_light_out",
        name_zh="路灯不亮",
        name_en="Street light out",
        group_code="lighting",
        sla_hours=48,
        sort_order=50,
        keywords=("路灯", "不亮", "灯坏", "照明", "street light", "lamp", "dark"),
        # Fixed lamps are checked on the night round; a daytime photo shows nothing.
        evidence_required=False,
    ),
    DefaultCategory(
        code="traffic_facility",
        name_zh="交通设施损坏",
        name_en="Damaged traffic facility",
        group_code="traffic",
        sla_hours=48,
        sort_order=60,
        keywords=(
            "红绿灯",
            "信号灯",
            "护栏",
            "标志牌",
            "标线",
            "traffic light",
            "sign",
            "guardrail",
        ),
    ),
    DefaultCategory(
        code="illegal_dumping",
        name_zh="垃圾堆积",
        name_en="Illegal dumping or garbage",
        group_code="sanitation",
        sla_hours=24,
        sort_order=70,
        keywords=("垃圾", "乱倒", "建筑垃圾", "堆放", "garbage", "rubbish", "dumping", "litter"),
    ),
    DefaultCategory(
        code="road_occupation",
        name_zh="占道经营",
        name_en="Occupation of the road",
        group_code="city_management",
        sla_hours=24,
        sort_order=80,
        keywords=("占道", "摆摊", "小贩", "堆物", "street vendor", "stall", "obstruction"),
    ),
    DefaultCategory(
        code="other",
        name_zh="其他",
        name_en="Other",
        group_code="other",
        sla_hours=72,
        sort_order=990,
        keywords=("其他", "other"),
        # Not every "other" problem can be photographed (a smell, a noise).
        photo_required=False,
        evidence_required=False,
    ),
)
