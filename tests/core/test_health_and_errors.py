from fastapi.testclient import TestClient

from app.main import create_app


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "storage": "ok"}


def test_readyz_names_the_failing_part(make_settings, tmp_path):
    # Nothing listens on port 1: the database check fails, the local store is fine.
    settings = make_settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
        storage_url=f"file://{tmp_path / 'objects'}",
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"]
    assert r.json()["checks"]["database"].startswith("unavailable")
    assert r.json()["checks"]["storage"] == "ok"
    assert "database" in r.json()["detail"]


def test_readyz_when_s3_is_down(make_settings, sqlite_url):
    settings = make_settings(
        database_url=sqlite_url,
        storage_url="s3://bucket",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_access_key_id="x",
        s3_secret_access_key="y",
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "storage": r.json()["checks"]["storage"]}
    assert r.json()["checks"]["storage"].startswith("unavailable")


def test_unknown_route_and_method_are_problems(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404
    r = client.delete("/healthz")
    assert r.status_code == 405 and r.json()["type"].endswith("/method-not-allowed")


def test_openapi_lists_the_foundation(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/grids/lookup", "/v1/grids/import", "/v1/auth/token", "/v1/riders", "/readyz"):
        assert p in paths


def test_startup_objects_are_frozen_while_the_app_runs(settings):
    """The collector's full passes skip what startup built (it lives as long as the
    process); shutdown hands it back, so a process that makes apps over and over
    (as this test suite does) frees them."""
    import gc

    with TestClient(create_app(settings)) as c:
        assert gc.get_freeze_count() > 10_000
        assert c.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0
