"""Settings: one object, read from ``GRIDFIX_*`` environment variables.

With nothing configured, gridfix runs on an embedded SQLite file and a local
object folder under ``./var/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-change-me"  # noqa: S105 - a placeholder production refuses
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?"
)


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDFIX_", extra="ignore", frozen=True)

    environment: Environment = Environment.development
    data_dir: Path = Path("var")

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: sqlite file in data_dir. "
        "postgresql+psycopg://… switches to PostgreSQL/PostGIS.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_echo: bool = False

    storage_url: str = Field(
        default="",
        description="Empty or file://PATH: local folder. s3://BUCKET[/prefix]: S3-compatible.",
    )
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: str = Field(default="path", pattern="^(path|virtual|auto)$")
    s3_create_bucket: bool = False

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    token_issuer: str = "gridfix"  # noqa: S105 - a name, not a secret
    token_audience: str = "gridfix-api"  # noqa: S105 - a name, not a secret
    access_token_ttl_s: int = Field(default=3600, ge=60, le=30 * 86400)
    auth_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=30,
        description="A change to a caller made elsewhere (revocation, deactivation, role, "
        "office) applies to this process's resolved tokens and API keys within this many "
        "seconds; resolved credentials are kept up to 10 minutes while nothing changed. 0: off",
    )
    rider_token_ttl_s: int = Field(default=30 * 86400, ge=60, le=365 * 86400)
    presign_ttl_s: int = Field(default=900, ge=10, le=7 * 86400)

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL the API is reached at; used for local signed URLs.",
    )
    route_tolerance_m: float = Field(default=150.0, ge=0, le=5000)
    border_margin_m: float = Field(default=25.0, ge=0, le=1000)

    # Rider intake
    max_photos_per_report: int = Field(default=4, ge=1, le=20)
    max_photo_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # Pillow's own bomb guard (MAX_IMAGE_PIXELS) stays the backstop above this.
    max_photo_pixels: int = Field(default=50_000_000, ge=10_000, le=89_000_000)
    description_max_chars: int = Field(default=2000, ge=1, le=20_000)
    location_mismatch_m: float = Field(
        default=200.0,
        ge=0,
        description="Flag a report whose given location and photo GPS differ more",
    )
    reports_per_hour: int = Field(default=30, ge=0, description="Per-rider limit; 0 disables it")
    upload_ttl_s: int = Field(default=3600, ge=60, le=7 * 86400)
    idempotency_ttl_s: int = Field(default=86400, ge=86400, le=30 * 86400)
    original_url_ttl_s: int = Field(default=300, ge=10, le=86400)
    derivative_url_ttl_s: int = Field(default=86400, ge=60, le=7 * 86400)
    nearby_max_radius_m: float = Field(default=500.0, ge=10, le=5000)

    # Officer workflow
    reopen_window_days: float = Field(default=14, gt=0, le=365)
    auto_close_after_h: float = Field(
        default=72, gt=0, le=24 * 90, description="Quiet period before a resolved ticket closes"
    )
    claim_escalation_h: float = Field(
        default=24,
        gt=0,
        le=24 * 30,
        description="An unclaimed border ticket moves to the common parent office after this",
    )
    evidence_max_distance_m: float = Field(default=150.0, gt=0, le=5000)
    local_timezone: str = Field(
        default="Asia/Shanghai", description="Zone of camera clocks whose EXIF time has no offset"
    )
    jobs_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="How often each process runs auto-close and escalation; 0: off",
    )

    # Open311 GeoReport v2 adapter
    open311_prefix: str = Field(default="/open311/v2", pattern=r"^/[A-Za-z0-9/_.-]*$")
    open311_jurisdiction_id: str | None = Field(
        default=None, description="When set, another jurisdiction_id gets 404"
    )
    open311_contact: str = "gridfix operators: see the README of this deployment"
    open311_key_service: str = (
        "Partner API keys are issued by this deployment's administrators (gridfix keys create)"
    )
    open311_reports_per_hour: int = Field(
        default=600, ge=0, description="Per partner key holder; 0 disables it"
    )
    # Outbound fetches of partner URLs (media_url)
    outbound_timeout_s: float = Field(default=10.0, gt=0, le=60)
    outbound_max_redirects: int = Field(default=3, ge=0, le=10)
    outbound_allow_loopback: bool = Field(
        default=False, description="Tests only: lets 127.0.0.0/8 and ::1 through"
    )

    # Event feed, live stream (SSE) and webhooks
    events_poll_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="Outbox poll period of a process with live streams"
    )
    events_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    events_stream_max_s: float = Field(
        default=300.0, gt=0, le=24 * 3600, description="Streams end after this; clients resume"
    )
    events_max_streams: int = Field(default=1000, ge=1, description="Per process")
    events_gap_grace_s: float = Field(
        default=15.0,
        ge=0,
        le=600,
        description="How long the feed waits for an outbox id committed out of order",
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=30)
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    webhook_retry_base_s: float = Field(default=10.0, gt=0, le=3600)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    webhook_worker_interval_s: float = Field(
        default=2.0, ge=0, description="How often each process looks for due deliveries; 0: off"
    )
    webhook_batch_size: int = Field(default=20, ge=1, le=500)
    webhook_concurrency: int = Field(default=4, ge=1, le=64)

    # Dashboard statistics (/v1/stats)
    stats_clock_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="as_of granularity: overdue and ages are computed at now rounded down to it",
    )
    stats_max_age_s: int = Field(default=5, ge=0, le=300, description="Cache-Control max-age")
    stats_cache_items: int = Field(
        default=512,
        ge=0,
        le=100_000,
        description="Computed answers kept per process, by scope, filters and data version; 0: off",
    )
    stats_hour_window_h: int = Field(
        default=24, ge=1, le=24 * 31, description="Backlog ages have hour resolution this far back"
    )
    stats_day_window_days: int = Field(
        default=31,
        ge=2,
        le=3660,
        description="Days kept at day resolution (cohort bounds, backlog ages); "
        "older from/to must be first days of months",
    )
    stats_flow_day_window_days: int = Field(
        default=400, ge=32, le=3660, description="Day rows of time series kept"
    )
    stats_fold_interval_s: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="PostgreSQL: how often each API process adds the pending ticket changes "
        "to the rollups (stats reads also do before they read); 0: only reads and "
        "`gridfix stats fold`",
    )

    background_workers: bool = Field(
        default=True, description="Run the derivative worker thread in each API process"
    )

    # Security defaults (app/core/security.py)
    docs_enabled: bool = Field(default=True, description="Serve /docs and /openapi.json")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API, each scheme://host[:port]; "
        "no wildcard (tokens travel in headers, so no credentialed CORS either)",
    )
    max_request_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest request body; larger ones get 413 before they are read. "
        "Unset: room for a full report (photos x bytes) or a 50 MB grid import, plus 1 MB",
    )
    hsts_max_age_s: int = Field(
        default=0,
        ge=0,
        le=2 * 365 * 86400,
        description="Strict-Transport-Security max-age; 0 sends none. Set it only when "
        "every client reaches the API over TLS (a proxy terminating HTTPS in front)",
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str) -> str:
        if not v:
            return v
        scheme = urlparse(v).scheme
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError(
                f"unsupported scheme {scheme!r}; use postgresql+psycopg://… or sqlite:///…"
            )
        if scheme == "postgresql" or scheme == "postgres":
            raise ValueError("name the driver: postgresql+psycopg://…")
        return v

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            # An origin is exactly what a browser sends in `Origin`: no wildcard,
            # path, query or trailing slash, so the allow-list is compared verbatim.
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin[:80]!r} is not an origin; list each as scheme://host[:port], "
                    "e.g. https://dashboard.example.org (no '*', no path)"
                )
        return v

    @field_validator("local_timezone")
    @classmethod
    def _check_timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name like Asia/Shanghai"
            ) from None
        return v

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, v: str) -> str:
        if not v:
            return v
        parsed = urlparse(v)
        if parsed.scheme not in ("s3", "file"):
            raise ValueError(
                f"unsupported scheme {parsed.scheme!r}; use s3://bucket or file://path"
            )
        if parsed.scheme == "s3" and not parsed.netloc:
            raise ValueError("s3:// URL needs a bucket name, e.g. s3://gridfix-photos")
        return v

    @model_validator(mode="after")
    def _production_refuses_placeholders(self) -> Settings:
        if self.environment is Environment.production:
            secret = self.secret_key.get_secret_value()
            lowered = secret.lower()
            placeholder = any(w in lowered for w in ("change-me", "changeme", "placeholder"))
            if secret == DEV_SECRET or placeholder or len(secret) < 32:
                raise ValueError(
                    "GRIDFIX_SECRET_KEY: production needs a random secret of at least 32 characters"
                )
            if self.outbound_allow_loopback:
                raise ValueError(
                    "GRIDFIX_OUTBOUND_ALLOW_LOOPBACK: never in production (SSRF to localhost)"
                )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Settings end up in logs and tracebacks: never with a database password
        # or S3 credentials in them (the SecretStr fields mask themselves).
        for name, value in super().__repr_args__():
            if name == "database_url" and value:
                yield name, redact_url(value)
            elif name == "s3_access_key_id" and value:
                yield name, "**********"
            else:
                yield name, value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gridfix.sqlite3').as_posix()}"

    @property
    def request_body_limit(self) -> int:
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        photos = self.max_photos_per_report * self.max_photo_bytes
        return max(photos, 50 * 1024 * 1024) + 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def storage_kind(self) -> str:
        return "s3" if self.storage_url.startswith("s3://") else "local"

    @property
    def s3_bucket(self) -> str:
        return urlparse(self.storage_url).netloc

    @property
    def s3_prefix(self) -> str:
        return urlparse(self.storage_url).path.strip("/")

    @property
    def local_storage_dir(self) -> Path:
        if self.storage_url.startswith("file://"):
            return Path(urlparse(self.storage_url).path)
        return self.data_dir / "objects"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and reprs)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parsed._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


class ConfigError(Exception):
    """A setting is wrong; the message is one line naming it."""


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = f"GRIDFIX_{loc.upper()}" if loc else "settings"
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{name}: {msg}")
        raise ConfigError("; ".join(parts)) from None
