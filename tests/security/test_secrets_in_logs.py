"""Credentials never reach logs: settings' repr, start-up, requests, S3 refusals."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.support.photos import jpeg

DB_PASSWORD = "db-pass-" + "q7Zx" * 6  # trust auth accepts any password


def test_settings_repr_hides_every_credential(make_settings) -> None:
    s = make_settings(
        database_url=f"postgresql+psycopg://gridfix:{DB_PASSWORD}@db.example:5432/gridfix",
        s3_access_key_id="AKIAEXAMPLEKEYID0001",
        s3_secret_access_key="s3-secret-" + "w" * 30,
    )
    for text in (repr(s), str(s), f"{s!r}"):
        assert DB_PASSWORD not in text
        assert "AKIAEXAMPLEKEYID0001" not in text
        assert "s3-secret-" not in text
        assert s.secret_key.get_secret_value() not in text
    assert "gridfix:***@db.example" in repr(s)


@pytest.mark.parametrize("db_url", ["postgis"], indirect=True)
@pytest.mark.parametrize("storage_overrides", ["s3"], indirect=True)
def test_a_run_on_postgis_and_s3_logs_no_credentials(
    make_settings, db_url, storage_overrides, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(db_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    good = make_settings(database_url=url, **storage_overrides)
    wrong = make_settings(
        database_url=url, **{**storage_overrides, "s3_secret_access_key": "wrong-" + "v" * 30}
    )
    secrets = {
        DB_PASSWORD,
        good.s3_secret_access_key.get_secret_value(),  # type: ignore[union-attr]
        "wrong-" + "v" * 30,
        good.secret_key.get_secret_value(),
    }
    caplog.set_level(logging.DEBUG, logger="gridfix")
    caplog.set_level(logging.INFO)
    for settings in (good, wrong):
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            client.get("/readyz")
            client.post(
                "/v1/reports",
                data={"category": "road_damage", "lat": 22.51, "lon": 113.005},
                files=[("photos", ("p.jpg", jpeg(seed=31), "image/jpeg"))],
            )
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert any("refused" in r.getMessage() for r in caplog.records), (
        "the wrong secret was logged about"
    )
    for secret in secrets:
        assert secret not in text
