"""Request dependencies of the photos domain: the object store built in the lifespan."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from app.photos.exceptions import ObjectNotFound
from app.photos.local import LocalStorage
from app.photos.storage import ObjectStorage


def get_storage(request: Request) -> ObjectStorage:
    return cast(ObjectStorage, request.app.state.storage)


Storage = Annotated[ObjectStorage, Depends(get_storage)]


def get_local_storage(storage: Storage) -> LocalStorage:
    """The local store, or 404: the signed-URL endpoints do not exist when objects live on S3."""
    if not isinstance(storage, LocalStorage):
        raise ObjectNotFound("local object URLs are not served: objects live on S3")
    return storage


LocalStore = Annotated[LocalStorage, Depends(get_local_storage)]
