"""The gridfix command, run in-process against each database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from tests.grids.conftest import JIANGMEN

runner = CliRunner()


@pytest.fixture
def env(monkeypatch, db_url, tmp_path, settings):
    monkeypatch.setenv("GRIDFIX_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDFIX_STORAGE_URL", f"file://{tmp_path / 'objects'}")
    monkeypatch.setenv("GRIDFIX_SECRET_KEY", settings.secret_key.get_secret_value())
    return settings


def last_word(output: str) -> str:
    return output.split()[-1]


def test_import_users_tokens_keys(env, data_dir):
    r = runner.invoke(
        cli,
        ["grids", "import", str(data_dir / JIANGMEN), "--crs", "gcj02", "--code-prop", "adcode"],
    )
    assert r.exit_code == 0, r.output
    assert "created 7, updated 0, repaired 0, rejected 0" in r.output
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "wang.officer",
            "--role",
            "officer",
            "--office",
            "440703",
            "--password",
            "a-long-password",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["users", "create", "x", "--role", "officer"])
    assert r.exit_code == 1 and "office" in r.output
    r = runner.invoke(cli, ["tokens", "issue", "wang.officer"])
    assert r.exit_code == 0, r.output
    token = last_word(r.output)
    r = runner.invoke(cli, ["keys", "create", "wang.officer"])
    assert r.exit_code == 0
    key = last_word(r.output)
    with TestClient(create_app(env)) as c:
        me = c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["name"] == "wang.officer"
        me = c.get("/v1/me", headers={"X-API-Key": key})
        assert me.status_code == 200
        login = c.post(
            "/v1/auth/token",
            data={
                "grant_type": "password",
                "username": "wang.officer",
                "password": "a-long-password",
            },
        )
        assert login.status_code == 200 and login.json()["token_type"] == "bearer"
    r = runner.invoke(cli, ["tokens", "issue", "nobody"])
    assert r.exit_code == 1 and "no principal" in r.output


def test_seed_demo_prints_tokens_and_is_rerunnable(env, data_dir):
    r = runner.invoke(
        cli, ["seed-demo", "--data-dir", str(data_dir), "--admin-password", "pw-0123456789"]
    )
    assert r.exit_code == 0, r.output
    assert "offices: " in r.output and "admin password: pw-0123456789" in r.output
    viewer_line = next(line for line in r.output.splitlines() if line.startswith("viewer"))
    token = last_word(viewer_line)
    with TestClient(create_app(env)) as c:
        got = c.get(
            "/v1/grids/lookup",
            params={"lat": 22.5802, "lon": 113.0805},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert got.status_code == 200 and got.json()["ancestors"][1]["code"] == "440703"
    again = runner.invoke(cli, ["seed-demo", "--data-dir", str(data_dir)])
    assert again.exit_code == 0 and "0 created" in again.output


def test_seed_demo_without_data_says_where(env, tmp_path):
    r = runner.invoke(cli, ["seed-demo", "--data-dir", str(tmp_path / "none")])
    assert r.exit_code == 1 and "GRIDFIX_DEMO_DATA" in r.output


def test_bad_setting_stops_with_one_line(monkeypatch):
    monkeypatch.setenv("GRIDFIX_DATABASE_URL", "mysql://x")
    r = runner.invoke(cli, ["migrate"])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "GRIDFIX_DATABASE_URL" in r.output
