import pytest

from app.config import ConfigError, Environment, load_settings


def test_defaults_are_embedded(monkeypatch):
    for k in ("GRIDFIX_DATABASE_URL", "GRIDFIX_STORAGE_URL", "GRIDFIX_DATA_DIR"):
        monkeypatch.delenv(k, raising=False)
    s = load_settings()
    assert s.resolved_database_url == "sqlite:///var/gridfix.sqlite3"
    assert s.is_sqlite and s.storage_kind == "local"
    assert str(s.local_storage_dir) == "var/objects"


def test_environment_switches_backends(monkeypatch):
    monkeypatch.setenv("GRIDFIX_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GRIDFIX_STORAGE_URL", "s3://photos/prefix/x")
    s = load_settings()
    assert not s.is_sqlite
    assert (s.storage_kind, s.s3_bucket, s.s3_prefix) == ("s3", "photos", "prefix/x")


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("GRIDFIX_DATABASE_URL", "mysql://x", "GRIDFIX_DATABASE_URL: unsupported scheme 'mysql'"),
        ("GRIDFIX_DATABASE_URL", "postgresql://u@h/db", "GRIDFIX_DATABASE_URL: name the driver"),
        ("GRIDFIX_STORAGE_URL", "ftp://x", "GRIDFIX_STORAGE_URL: unsupported scheme 'ftp'"),
        ("GRIDFIX_STORAGE_URL", "s3://", "GRIDFIX_STORAGE_URL: s3:// URL needs a bucket"),
        ("GRIDFIX_ROUTE_TOLERANCE_M", "-5", "GRIDFIX_ROUTE_TOLERANCE_M"),
        ("GRIDFIX_ENVIRONMENT", "staging", "GRIDFIX_ENVIRONMENT"),
    ],
)
def test_wrong_setting_is_one_clear_line(monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg


@pytest.mark.parametrize("secret", ["dev-insecure-change-me", "short", "change-me" + "x" * 40])
def test_production_refuses_placeholder_secrets(monkeypatch, secret):
    monkeypatch.setenv("GRIDFIX_ENVIRONMENT", "production")
    monkeypatch.setenv("GRIDFIX_SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="GRIDFIX_SECRET_KEY"):
        load_settings()


def test_production_accepts_a_real_secret(monkeypatch):
    monkeypatch.setenv("GRIDFIX_ENVIRONMENT", "production")
    monkeypatch.setenv("GRIDFIX_SECRET_KEY", "k3J9x" * 10)
    assert load_settings().environment is Environment.production
