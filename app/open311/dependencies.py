"""Request dependencies of the adapter: its settings, the format, the jurisdiction,
and the POSTed form (urlencoded or multipart, with ``attribute[code]`` keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from starlette.datastructures import UploadFile

from app.auth.dependencies import AppSettings
from app.config import Settings
from app.open311 import attributes as attrs
from app.open311.config import Open311Config
from app.open311.errors import Open311Error
from app.open311.formats import Format

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MEDIA_FIELDS = frozenset({"media", "media[]"})
MAX_FIELDS = 500


@dataclass(frozen=True, slots=True)
class Open311State:
    """Built once by ``install``; reaches requests through ``app.state``."""

    config: Open311Config
    intake_settings: Settings


async def _state(request: Request) -> Open311State:
    state: Open311State = request.app.state.open311
    return state


State = Annotated[Open311State, Depends(_state)]


async def _config(state: State) -> Open311Config:
    return state.config


Config = Annotated[Open311Config, Depends(_config)]


async def _format(
    fmt: Annotated[str, Path(description="`xml` (the spec's required format) or `json`")],
) -> Format:
    try:
        return Format(fmt)
    except ValueError:
        raise Open311Error(404, f"unknown format {fmt[:20]!r}; use .xml or .json") from None


Fmt = Annotated[Format, Depends(_format)]


def check_jurisdiction(config: Open311Config, given: str | None) -> None:
    """A jurisdiction_id that names another jurisdiction is 404 (spec: "not found").

    This endpoint serves one jurisdiction, so the spec lets clients leave it out.
    """
    if given and config.jurisdiction_id is not None and given.strip() != config.jurisdiction_id:
        raise Open311Error(
            404,
            f"jurisdiction_id {given[:100]!r} not found; this endpoint serves "
            f"{config.jurisdiction_id!r}",
        )


async def _jurisdiction(
    config: Config,
    jurisdiction_id: Annotated[
        str | None, Query(max_length=255, description="Checked when the server names one")
    ] = None,
) -> None:
    check_jurisdiction(config, jurisdiction_id)


Jurisdiction = Depends(_jurisdiction)


@dataclass(slots=True)
class Submission:
    """A POSTed service request: the first value of each plain field, every value of
    each ``attribute[code]``, and the ``media`` files (GeoReport v2.1 draft)."""

    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    media: list[UploadFile] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The field's value, ``None`` when absent or blank ("Optional Arguments")."""
        value = self.fields.get(name)
        return value if value is not None and value.strip() else None


async def _submission(request: Request, settings: AppSettings) -> AsyncIterator[Submission]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise Open311Error(
            400, "send the request as application/x-www-form-urlencoded or multipart/form-data"
        )
    form = await request.form(max_files=settings.max_photos_per_report, max_fields=MAX_FIELDS)
    try:
        sub = Submission()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in MEDIA_FIELDS:
                    sub.media.append(value)
                continue
            parsed = attrs.parse_key(key)
            if parsed is not None:
                sub.attributes.setdefault(parsed[0], []).append(value)
            elif key in MEDIA_FIELDS:
                raise Open311Error(400, "media must be sent as files (multipart/form-data)")
            else:
                sub.fields.setdefault(key, value)
        yield sub
    finally:
        await form.close()


SubmissionDep = Annotated[Submission, Depends(_submission)]
