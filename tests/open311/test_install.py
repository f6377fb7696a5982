"""Mounting the adapter: one call, idempotent, scoped error handlers."""

from __future__ import annotations

import dataclasses

import pytest

from app.config import Settings
from app.main import create_app
from app.open311.config import Open311Config
from app.open311.router import install, router


def _mounted(app) -> int:
    return sum(1 for r in app.routes if getattr(r, "original_router", None) is router)


def test_install_twice_replaces_the_config_and_mounts_once():
    settings = Settings(environment="test")
    app = create_app(settings)
    install(app, settings)
    assert _mounted(app) == 1
    paths = app.openapi()["paths"]
    assert "/open311/v2/requests.{fmt}" in paths
    updates = paths["/open311/v2/servicerequestupdates.{fmt}"]
    assert set(updates) == {"get", "post"}
    body = updates["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert {"api_key", "service_request_id", "update_id", "status"} <= set(
        body["schema"]["properties"]
    )
    changed = dataclasses.replace(Open311Config.from_settings(settings), jurisdiction_id="x.org")
    install(app, settings, changed)
    assert _mounted(app) == 1
    assert app.state.open311.config.jurisdiction_id == "x.org"
    with pytest.raises(RuntimeError):
        install(app, settings, dataclasses.replace(changed, prefix="/elsewhere"))


def test_config_reads_settings_with_defaults():
    settings = Settings(environment="test", public_base_url="https://api.example.cn/")
    config = Open311Config.from_settings(settings)
    assert config.prefix == getattr(settings, "open311_prefix", "/open311/v2")
    assert config.endpoint_url == "https://api.example.cn/open311/v2"
    assert config.endpoint_type == "test"
    assert config.media_fetch.allow_loopback is False
    assert config.media_fetch.max_bytes == settings.max_photo_bytes
    intake = config.intake_settings(settings)
    assert intake.description_max_chars >= 4000
    assert intake.reports_per_hour == config.reports_per_hour
