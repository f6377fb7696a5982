"""Storage housekeeping (``app.photos.sweeper.sweep`` and ``gridfix sweep``) on each
database × each object store, with objects and rows made through the real API."""

# ruff: noqa: F811

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from app.cli import cli
from app.core.db import utcnow
from app.core.idempotency_models import IdempotencyRecord
from app.photos.models import Photo, Upload
from app.photos.service import derivative_key, original_key
from app.photos.sweeper import SweepReport, sweep

# The intake world (districts, categories, riders, the app on each backend pair): its
# fixtures live in tests/reports/conftest.py, so they are imported here by name, and
# the tests' parameters of the same name "redefine" them (F811, file-wide).
from tests.reports.conftest import PENGJIANG, World, make_world, world  # noqa: F401
from tests.reports.test_uploads import new_upload, put_bytes, staging_key, uploaded
from tests.support.photos import jpeg

LAT, LON = PENGJIANG
ORPHAN_SHA = "f0" * 32
STALE_SHA = "e1" * 32


def keys(storage, prefix: str = "") -> set[str]:
    return {o.key for o in storage.list(prefix)}


def run_sweep(session_factory, storage, grace: timedelta = timedelta(0)) -> SweepReport:
    with session_factory() as s:
        report = sweep(s, storage, now=utcnow(), grace=grace)
        s.commit()
    return report


def expire_upload(session_factory, upload_id: str) -> None:
    with session_factory() as s:
        s.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        s.commit()


def report_with_key(world: World, seed: int) -> tuple[dict, str]:
    key = str(uuid.uuid4())
    r = world.post_report(files=[("a.jpg", jpeg(seed=seed))], key=key, lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    return world.wait_ready(r.json()["id"]), key


def test_sweep_removes_what_no_row_needs_and_nothing_else(world, session_factory):
    storage = world.client.app.state.storage
    # Two reports whose photos are referenced (originals and derivatives ready).
    kept, kept_key = report_with_key(world, 301)
    pending, old_key = report_with_key(world, 302)
    kept_id, pending_id = kept["photos"][0]["id"], pending["photos"][0]["id"]
    # The second photo is back to pending (a worker redoing it): its derived objects
    # must survive even though no key column names them yet.
    with session_factory() as s:
        s.execute(
            update(Photo)
            .where(Photo.id == pending_id)
            .values(derivatives_status="pending", display_key=None, thumb_key=None)
        )
        # The second report's idempotency record has expired; the first's has not.
        s.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == old_key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()

    # Orphans: a request that died between put and commit, a killed worker, and a
    # stale derivative of a photo that exists (not one of its keys).
    storage.put(original_key(ORPHAN_SHA), b"orphan", content_type="image/jpeg")
    storage.put(derivative_key(STALE_SHA, "display"), b"orphan", content_type="image/jpeg")
    storage.put(derivative_key(kept_id, "old-size"), b"stale", content_type="image/jpeg")

    # Uploads: one expired with bytes, one live with bytes, one used whose staging
    # object came back (the post-commit delete never ran: a crash).
    expired_id = uploaded(world, jpeg(seed=303))
    expire_upload(session_factory, expired_id)
    live_id = uploaded(world, jpeg(seed=304))
    used_id = uploaded(world, jpeg(seed=305))
    assert world.post_report(upload_ids=[used_id], lat=LAT, lon=LON).status_code == 201
    used_key = staging_key(session_factory, used_id)
    assert not storage.exists(used_key)
    storage.put(used_key, b"left behind", content_type="image/jpeg")
    referenced = (
        {original_key(kept_id), original_key(pending_id)}
        | {derivative_key(kept_id, n) for n in ("display", "thumb")}
        | {derivative_key(pending_id, n) for n in ("display", "thumb")}
    )
    assert referenced <= keys(storage)

    got = run_sweep(session_factory, storage)

    assert got.orphans_deleted == 3
    assert got.uploads_expired == 1
    assert got.upload_objects_deleted == 2  # the expired one and the used one's leftover
    assert got.idempotency_purged == 1
    left = keys(storage)
    assert referenced <= left
    assert original_key(ORPHAN_SHA) not in left
    assert derivative_key(STALE_SHA, "display") not in left
    assert derivative_key(kept_id, "old-size") not in left
    assert not storage.exists(staging_key(session_factory, expired_id))
    assert storage.exists(staging_key(session_factory, live_id))
    assert not storage.exists(used_key)
    with session_factory() as s:
        status = dict(s.execute(select(Upload.id, Upload.status)).all())
        assert status[expired_id] == "expired"
        assert status[live_id] == "pending"
        assert status[used_id] == "used"
        assert list(s.scalars(select(IdempotencyRecord.key))) == [kept_key]

    # Idempotent: a second run finds nothing to do.
    assert run_sweep(session_factory, storage) == SweepReport()
    # What the reports point at still serves.
    again = world.client.get(f"/v1/reports/{kept['id']}", headers=world.headers["rider"]).json()
    assert world.fetch(again["photos"][0]["display_url"]).status_code == 200
    # The live upload is still usable; the expired one is not.
    assert world.post_report(upload_ids=[live_id], lat=LAT, lon=LON).status_code == 201
    r = world.post_report(upload_ids=[expired_id], lat=LAT, lon=LON)
    assert r.status_code == 422 and "expired" in r.json()["detail"]


def test_young_orphans_are_left_to_a_later_run(world, session_factory):
    """An object written moments ago may belong to a request that has not committed yet."""
    storage = world.client.app.state.storage
    storage.put(original_key(ORPHAN_SHA), b"in flight", content_type="image/jpeg")
    got = run_sweep(session_factory, storage, grace=timedelta(hours=1))
    assert got.orphans_deleted == 0
    assert storage.exists(original_key(ORPHAN_SHA))
    assert run_sweep(session_factory, storage).orphans_deleted == 1


def test_an_expired_upload_that_never_got_bytes(world, session_factory):
    upload = new_upload(world)
    expire_upload(session_factory, upload["upload_id"])
    got = run_sweep(session_factory, world.client.app.state.storage)
    assert got.uploads_expired == 1
    with session_factory() as s:
        assert s.get(Upload, upload["upload_id"]).status == "expired"
    # A late PUT to the still-signed URL cannot revive it.
    put_bytes(world, upload, jpeg(seed=306))
    r = world.post_report(upload_ids=[upload["upload_id"]], lat=LAT, lon=LON)
    assert r.status_code == 422


def test_gridfix_sweep_command(world, session_factory, monkeypatch, tmp_path):
    storage = world.client.app.state.storage
    s = world.settings
    env = {
        "GRIDFIX_ENVIRONMENT": "test",
        "GRIDFIX_DATA_DIR": str(tmp_path / "cli-var"),
        "GRIDFIX_DATABASE_URL": s.database_url,
        "GRIDFIX_STORAGE_URL": s.storage_url,
        "GRIDFIX_SECRET_KEY": s.secret_key.get_secret_value(),
    }
    if s.storage_kind == "s3":
        env |= {
            "GRIDFIX_S3_ENDPOINT_URL": s.s3_endpoint_url,
            "GRIDFIX_S3_ACCESS_KEY_ID": s.s3_access_key_id,
            "GRIDFIX_S3_SECRET_ACCESS_KEY": s.s3_secret_access_key.get_secret_value(),
            "GRIDFIX_S3_REGION": s.s3_region,
        }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    storage.put(original_key(ORPHAN_SHA), b"orphan", content_type="image/jpeg")
    expired_id = uploaded(world, jpeg(seed=307))
    expire_upload(session_factory, expired_id)
    runner = CliRunner()

    young = runner.invoke(cli, ["sweep"])  # default grace: an hour
    assert young.exit_code == 0, young.output
    assert "orphans deleted 0" in young.output
    assert "uploads expired 1" in young.output
    assert storage.exists(original_key(ORPHAN_SHA))

    r = runner.invoke(cli, ["sweep", "--grace-minutes", "0"])
    assert r.exit_code == 0, r.output
    assert (
        "uploads expired 0, upload objects deleted 0, orphans deleted 1, "
        "idempotency records purged 0"
    ) in " ".join(r.output.split())
    assert not storage.exists(original_key(ORPHAN_SHA))
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1
        assert session.get(Upload, expired_id).status == "expired"


def test_objects_off_the_key_layout_do_not_stop_the_sweep(world, session_factory):
    """Whatever else lies under derived/ (a stray file, an old layout) is an object no
    photo row names: removed like any orphan, and the run goes on to the rest."""
    storage = world.client.app.state.storage
    for key in ("derived/stray.jpg", "derived/ab/notes.txt", "originals/stray"):
        storage.put(key, b"x", content_type="text/plain")
    expired = new_upload(world)
    expire_upload(session_factory, expired["upload_id"])
    got = run_sweep(session_factory, storage)
    assert got.orphans_deleted == 3
    assert got.uploads_expired == 1
    assert keys(storage, "derived/") == set() and keys(storage, "originals/") == set()


class WritesMeanwhile:
    """The app's store, plus a hook that runs when the sweep first lists a prefix or
    deletes a key: what the API and the derivative worker do while a sweep runs."""

    def __init__(self, inner, *, on_list=None, on_delete=None) -> None:
        self.inner = inner
        self.on_list = on_list
        self.on_delete = on_delete

    def list(self, prefix: str = ""):
        if self.on_list is not None:
            hook, self.on_list = self.on_list, None
            hook()
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        if self.on_delete is not None:
            hook, self.on_delete = self.on_delete, None
            hook(key)
        self.inner.delete(key)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_write_committed_during_the_sweep_does_not_fail_it(world, session_factory):
    """``gridfix sweep`` runs beside the API. On SQLite a transaction that read first and
    writes later fails ("database is locked") when another writer committed in between,
    so the sweep's reads must not hold the transaction its writes use."""
    storage = world.client.app.state.storage
    expired = new_upload(world)
    expire_upload(session_factory, expired["upload_id"])
    storage.put(original_key(ORPHAN_SHA), b"orphan", content_type="image/jpeg")

    def api_writes() -> None:  # e.g. the worker marking a photo ready
        r = world.post_report(category="other", lat=LAT, lon=LON, description="meanwhile")
        assert r.status_code == 201

    got = run_sweep(session_factory, WritesMeanwhile(storage, on_list=api_writes))
    assert (got.uploads_expired, got.orphans_deleted) == (1, 1)
    with session_factory() as s:
        assert s.get(Upload, expired["upload_id"]).status == "expired"


def test_an_upload_used_while_the_sweep_runs_stays_used(world, session_factory):
    """A report that took the upload just before it expired commits while the sweep is
    deleting its staging object: the row must stay ``used``, not become ``expired``."""
    storage = world.client.app.state.storage
    uid = uploaded(world, jpeg(seed=308))
    expire_upload(session_factory, uid)

    def report_takes_it(key: str) -> None:
        with session_factory() as s:
            s.execute(update(Upload).where(Upload.id == uid).values(status="used"))
            s.commit()

    got = run_sweep(session_factory, WritesMeanwhile(storage, on_delete=report_takes_it))
    assert got.uploads_expired == 0
    with session_factory() as s:
        assert s.get(Upload, uid).status == "used"
