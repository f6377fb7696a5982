"""The "bare pipeline" ceiling: receive a multipart photo, write it to the same
object store, insert one row. No auth, no checks, no routing — what any intake
endpoint on this machine must at least pay. Run by scripts/bench_intake.py as
``uvicorn scripts.bench.bare_app:create --factory``."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import FastAPI, File, UploadFile
from sqlalchemy import text

from app.config import load_settings
from app.core.db import make_engine
from app.photos.storage import build_storage


def create() -> FastAPI:
    settings = load_settings()
    engine = make_engine(settings.resolved_database_url, pool_size=10)
    storage = build_storage(settings)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, k VARCHAR(80))")
            if engine.dialect.name == "sqlite"
            else text(
                "CREATE TABLE IF NOT EXISTS bench_bare (id SERIAL PRIMARY KEY, k VARCHAR(80))"
            )
        )
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def bare(photo: Annotated[UploadFile, File()]) -> dict[str, object]:
        data = photo.file.read()
        key = "bench/" + hashlib.sha256(data).hexdigest()
        storage.put(key, data, content_type="image/jpeg", size=len(data))
        with engine.begin() as conn:
            new_id = conn.execute(
                text("INSERT INTO bench_bare (k) VALUES (:k) RETURNING id"), {"k": key}
            ).scalar()
        return {"id": new_id, "key": key}

    @app.get("/tiny")
    def tiny() -> dict[str, str]:
        return {"status": "ok"}

    return app
