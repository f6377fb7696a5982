"""Direct uploads: presigned PUT URLs for photos sent straight to storage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.actor import Actor
from app.auth.dependencies import AppSettings, require_roles
from app.auth.enums import Role
from app.core import idempotency
from app.core.db import DbSession, utcnow
from app.core.errors import problem_responses
from app.photos import uploads
from app.photos.dependencies import Storage

router = APIRouter(prefix="/uploads", tags=["reports"])

Uploader = Annotated[
    Actor, Depends(require_roles(Role.rider, Role.officer, Role.supervisor, Role.admin))
]
OPERATION = "POST /v1/uploads"


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(
        max_length=32, examples=["image/jpeg"], description=", ".join(uploads.ACCEPTED_TYPES)
    )
    size_bytes: int = Field(ge=1, description="Exact size of the photo the phone will PUT")


class UploadOut(BaseModel):
    upload_id: str
    url: str = Field(description="PUT the photo's bytes here, with the headers below")
    method: str
    headers: dict[str, str]
    expires_at: datetime


@router.post(
    "",
    status_code=201,
    response_model=UploadOut,
    responses={
        200: {"description": "A replay of the first response to this Idempotency-Key"},
        **problem_responses(401, 403, 409, 422, 503),
    },
)
def create_upload(
    session: DbSession,
    actor: Uploader,
    settings: AppSettings,
    storage: Storage,
    body: UploadRequest,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Get a presigned URL to upload one photo directly to storage; then report with its id."""
    now = utcnow()
    key = idempotency.validate_key(idempotency_key)
    claim = None
    if key is not None:
        fingerprint = idempotency.request_fingerprint(OPERATION, body.model_dump())
        got = idempotency.claim(
            session,
            actor.id,
            key,
            OPERATION,
            fingerprint,
            ttl_s=settings.idempotency_ttl_s,
            now=now,
        )
        if isinstance(got, idempotency.StoredResponse):
            return JSONResponse(
                got.body, status_code=200, headers={idempotency.REPLAY_HEADER: "true"}
            )
        claim = got
    new = uploads.create(
        session,
        storage,
        settings,
        actor,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        now=now,
    )
    out = UploadOut(
        upload_id=new.upload.id,
        url=new.presigned.url,
        method=new.presigned.method,
        headers=dict(new.presigned.headers),
        expires_at=new.presigned.expires_at,
    ).model_dump(mode="json")
    if claim is not None:
        idempotency.complete(session, claim, 201, out)
    return JSONResponse(out, status_code=201)
