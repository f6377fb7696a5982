"""The adapter's settings, read once when it is installed.

Until ``app.config.Settings`` grows the ``open311_*`` and ``outbound_*`` fields,
each is read with ``getattr`` and the default below, so the adapter works with
the settings as they are today; tests pass a ready :class:`Open311Config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Environment, Settings
from app.core.outbound import FetchPolicy
from app.photos.images import sniff

DEFAULT_PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# GeoReport v2: "free form text limited to 4,000 characters".
DESCRIPTION_MAX = 4000
DEFAULT_CONTACT = "gridfix operators: see the README of this deployment"
DEFAULT_KEY_SERVICE = (
    "Partner API keys are issued by this deployment's administrators (gridfix keys create)"
)


@dataclass(frozen=True, slots=True)
class Open311Config:
    prefix: str = DEFAULT_PREFIX
    jurisdiction_id: str | None = None
    contact: str = DEFAULT_CONTACT
    key_service: str = DEFAULT_KEY_SERVICE
    base_url: str = "http://127.0.0.1:8000"
    endpoint_type: str = "test"  # discovery: "production" or "test"
    # Per partner principal and hour; the riders' limit is far too low for a
    # system that forwards a whole city's reports through one key. 0 disables it.
    reports_per_hour: int = 600
    media_fetch: FetchPolicy = field(
        default_factory=lambda: FetchPolicy(max_bytes=15 * 1024 * 1024, sniff=sniff)
    )

    @property
    def endpoint_url(self) -> str:
        return self.base_url.rstrip("/") + self.prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> Open311Config:
        def get(name: str, default: object) -> object:
            return getattr(settings, name, default)

        prefix = "/" + str(get("open311_prefix", DEFAULT_PREFIX)).strip("/")
        production = settings.environment is Environment.production
        return cls(
            prefix=prefix,
            jurisdiction_id=_text_or_none(get("open311_jurisdiction_id", None)),
            contact=str(get("open311_contact", DEFAULT_CONTACT)),
            key_service=str(get("open311_key_service", DEFAULT_KEY_SERVICE)),
            base_url=settings.public_base_url,
            endpoint_type="production" if production else "test",
            reports_per_hour=_int(get("open311_reports_per_hour", 600)),
            media_fetch=FetchPolicy(
                max_bytes=settings.max_photo_bytes,
                sniff=sniff,
                timeout_s=_float(get("outbound_timeout_s", 10.0)),
                max_redirects=_int(get("outbound_max_redirects", 3)),
                allow_loopback=bool(get("outbound_allow_loopback", False)),
            ),
        )

    def intake_settings(self, settings: Settings) -> Settings:
        """The settings intake runs with for Open311: the spec's description limit and
        the partner rate limit instead of the riders' ones."""
        return settings.model_copy(
            update={
                "description_max_chars": max(settings.description_max_chars, DESCRIPTION_MAX),
                "reports_per_hour": self.reports_per_hour,
            }
        )


def _text_or_none(value: object) -> str | None:
    return str(value) if value else None


def _int(value: object) -> int:
    return int(str(value))


def _float(value: object) -> float:
    return float(str(value))
