"""Signed-URL endpoints of the local object store: what S3 does for the S3 store.

Only mounted meaningfully when ``storage_kind`` is local; with S3 every path is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.core.errors import InvalidInput
from app.photos.dependencies import LocalStore
from app.photos.exceptions import ContentTypeMismatch, ObjectTooLarge
from app.photos.storage import content_disposition

router = APIRouter(prefix="/storage/local", tags=["storage"])


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


_COMMON: dict[int | str, dict[str, Any]] = {
    403: _problem("Signature invalid or for another method, or URL expired"),
    404: _problem("No such object, or objects live on S3"),
    422: _problem("The key is not a valid object key"),
}

Expires = Annotated[str | None, Query(description="Unix time the URL stops working")]
Method = Annotated[str | None, Query(description="The HTTP method the URL is signed for")]
Signature = Annotated[str | None, Query(description="Hex HMAC-SHA256 of the signed fields")]
SignedType = Annotated[str | None, Query(alias="ct", description="Content-Type the PUT must send")]
SignedMax = Annotated[str | None, Query(alias="max", description="Largest body the PUT may send")]
Filename = Annotated[str | None, Query(alias="fn", description="Download filename")]


def _signed_fields(**fields: str | None) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v is not None}


@router.get(
    "/{key:path}",
    summary="Download an object through a signed URL",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The object's bytes", "content": {"application/octet-stream": {}}},
        **_COMMON,
    },
)
def get_local_object(
    key: str,
    store: LocalStore,
    expires: Expires = None,
    method: Method = None,
    sig: Signature = None,
    fn: Filename = None,
) -> StreamingResponse:
    """Download an object through a URL from `presigned_get` (local storage only)."""
    grant = store.verify("GET", key, _signed_fields(expires=expires, method=method, sig=sig, fn=fn))
    info, chunks = store.open_with_info(key)
    headers = {
        "Content-Length": str(info.size),
        "Content-Disposition": content_disposition(grant.filename or key.rsplit("/", 1)[-1]),
        "X-Content-Type-Options": "nosniff",
        # An uploaded HTML or SVG opened from our origin must not run script.
        "Content-Security-Policy": "sandbox",
        # The URL dies at `expires`, so caching longer would only keep dead entries.
        "Cache-Control": f"private, max-age={store.seconds_left(grant)}",
    }
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    return StreamingResponse(chunks, media_type=info.content_type, headers=headers)


@router.put(
    "/{key:path}",
    summary="Upload an object through a signed URL",
    response_class=Response,
    responses={
        200: {"description": "Stored; the ETag header is the MD5 of the body, as on S3"},
        **_COMMON,
        403: _problem("Signature invalid, URL expired, or Content-Type differs from the signed"),
        413: _problem("Body larger than the signed limit"),
    },
)
async def put_local_object(
    key: str,
    request: Request,
    store: LocalStore,
    expires: Expires = None,
    method: Method = None,
    sig: Signature = None,
    ct: SignedType = None,
    max_bytes: SignedMax = None,
) -> Response:
    """Upload an object through a URL from `presigned_put` (local storage only)."""
    grant = store.verify(
        "PUT", key, _signed_fields(expires=expires, method=method, sig=sig, ct=ct, max=max_bytes)
    )
    if request.headers.get("content-type") != grant.content_type:
        raise ContentTypeMismatch(f"this URL accepts only Content-Type {grant.content_type}")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput("Content-Length is not a number")
        if int(declared) > grant.max_bytes:
            raise ObjectTooLarge(f"this URL accepts at most {grant.max_bytes} bytes")
    writer = await run_in_threadpool(store.begin_write, key, grant.content_type)
    try:
        # Chunk by chunk: an oversize body is refused at the limit, never buffered whole.
        async for chunk in request.stream():
            if writer.size + len(chunk) > grant.max_bytes:
                raise ObjectTooLarge(f"this URL accepts at most {grant.max_bytes} bytes")
            await run_in_threadpool(writer.write, chunk)
        stored = await run_in_threadpool(writer.commit)
    except BaseException:
        writer.discard()  # quick and synchronous, so it also runs on cancellation
        raise
    return Response(status_code=200, headers={"ETag": f'"{stored.etag}"'})
