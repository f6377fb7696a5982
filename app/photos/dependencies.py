"""Request dependencies of the photos domain: the object store built in the lifespan."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request, UploadFile

from app.photos.exceptions import ObjectNotFound
from app.photos.exceptions_images import PhotoTooLarge, RejectReason
from app.photos.local import LocalStorage
from app.photos.storage import ObjectStorage


async def get_storage(request: Request) -> ObjectStorage:
    return cast(ObjectStorage, request.app.state.storage)


Storage = Annotated[ObjectStorage, Depends(get_storage)]


async def get_local_storage(storage: Storage) -> LocalStorage:
    """The local store, or 404: the signed-URL endpoints do not exist when objects live on S3."""
    if not isinstance(storage, LocalStorage):
        raise ObjectNotFound("local object URLs are not served: objects live on S3")
    return storage


LocalStore = Annotated[LocalStorage, Depends(get_local_storage)]


def read_uploaded_files(files: list[UploadFile], max_bytes: int) -> list[bytes]:
    """The bytes of each file, refusing one over the limit before reading it all."""
    out = []
    for i, f in enumerate(files):
        data = b"" if f.size is not None and f.size > max_bytes else f.file.read(max_bytes + 1)
        if len(data) > max_bytes or (f.size is not None and f.size > max_bytes):
            exc = PhotoTooLarge(
                RejectReason.too_large,
                f"photos[{i}]: {max(len(data), f.size or 0):,} bytes; the limit is {max_bytes:,}",
            )
            exc.errors = [{"field": f"photos[{i}]", "reason": "too_large"}]
            raise exc
        out.append(data)
    return out
