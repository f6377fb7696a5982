"""The ``gridfix`` command: serve, migrate, import grids, manage users and keys, seed a demo."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from app.auth.enums import Role
from app.config import ConfigError, Settings, load_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import DomainError
from app.core.geo import CRS

cli = typer.Typer(
    help="gridfix: rider hazard reports routed to grid offices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
grids_cli = typer.Typer(help="Grid offices and their boundaries.", no_args_is_help=True)
users_cli = typer.Typer(help="People and partner accounts.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys for partner systems.", no_args_is_help=True)
cli.add_typer(grids_cli, name="grids")
cli.add_typer(users_cli, name="users")
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(keys_cli, name="keys")
stats_cli = typer.Typer(help="Dashboard statistics rollups.", no_args_is_help=True)
cli.add_typer(stats_cli, name="stats")
categories_cli = typer.Typer(help="The hazard category catalogue.", no_args_is_help=True)
cli.add_typer(categories_cli, name="categories")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def _migrate(settings: Settings, *, seed_categories: bool = False) -> None:
    from app.core.migrate import upgrade

    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        upgrade(engine)
        if seed_categories:
            # Once, before workers start: a fresh install can take reports at once.
            from app.categories.service import ensure_defaults

            with make_sessionmaker(engine)() as session:
                ensure_defaults(session)
                session.commit()
    finally:
        engine.dispose()


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """One transaction for a CLI command: commit on success, roll back on error."""
    _migrate(settings)
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = True,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
) -> None:
    """Apply migrations, then serve the API."""
    import uvicorn

    settings = _settings()
    if migrate:
        _migrate(settings, seed_categories=True)
    out.print(
        f"gridfix on http://{host}:{port}  database={settings.resolved_database_url.split('://')[0]}"
        f"  storage={settings.storage_kind}  docs=/docs",
        markup=False,
        highlight=False,
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        proxy_headers=True,
        timeout_graceful_shutdown=30,
        # A worker still importing on a busy machine must not be killed and restarted
        # in a loop by the supervisor's 5 s default health check.
        timeout_worker_healthcheck=30,
    )


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    _migrate(settings)
    out.print("database is up to date", markup=False)


@grids_cli.command("import")
def grids_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    crs: Annotated[CRS, typer.Option(help="Datum of the file (DataV files are gcj02)")] = CRS.wgs84,
    code_prop: Annotated[str, typer.Option(help="Property holding the office code")] = "code",
    name_prop: Annotated[str, typer.Option(help="Property holding the office name")] = "name",
    parent_prop: Annotated[
        str | None, typer.Option(help="Property holding the parent's code (dotted path ok)")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent office code for every feature")] = None,
    level: Annotated[str | None, typer.Option(help="Level name for every feature")] = None,
    level_prop: Annotated[str | None, typer.Option(help="Property holding the level")] = None,
    repair: Annotated[bool, typer.Option(help="Repair invalid geometries")] = True,
    dry_run: Annotated[bool, typer.Option(help="Check and report; change nothing")] = False,
) -> None:
    """Create or update grid offices from a GeoJSON boundary file."""
    from app.grids.importer import ImportOptions
    from app.grids.service import import_boundaries

    settings = _settings()
    options = ImportOptions(
        crs=crs,
        code_property=code_prop,
        name_property=name_prop,
        parent_property=parent_prop,
        parent_code=parent,
        level=level,
        level_property=level_prop,
        repair=repair,
    )
    with _session(settings) as session, _progress() as progress:
        task = progress.add_task("importing", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = import_boundaries(
            session, file.read_bytes(), options, dry_run=dry_run, progress=tick
        )
        if dry_run:
            session.rollback()
    out.print(
        f"created {len(report.created)}, updated {len(report.updated)}, "
        f"repaired {len(report.repaired)}, rejected {len(report.rejected)}"
        + (" (dry run: nothing saved)" if dry_run else ""),
        markup=False,
    )
    for code in report.repaired:
        out.print(f"  repaired  {code}", markup=False)
    for problem in report.rejected:
        out.print(
            f"  rejected  #{problem.index} {problem.code or '-'}: {problem.reason}", markup=False
        )
    if report.rejected and not (report.created or report.updated):
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def main() -> None:
    try:
        cli()
    except ConfigError as exc:  # pragma: no cover - _settings() normally catches it
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


@users_cli.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[Role, typer.Option(help="Role")],
    office: Annotated[
        str | None, typer.Option(help="Office code (officer, supervisor, viewer)")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="Password for /v1/auth/token (omit for key-only accounts)")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown to others")] = None,
) -> None:
    """Create a staff, viewer or admin account."""
    from app.auth.service import create_principal

    with _session(_settings()) as session:
        principal, _ = create_principal(
            session,
            name=name,
            role=role,
            office_code=office,
            password=password,
            display_name=display_name,
        )
        session.flush()
        out.print(f"created {principal.role} {principal.name} (id {principal.id})", markup=False)


@tokens_cli.command("issue")
def tokens_issue(
    name: Annotated[str, typer.Argument(help="Login name of the principal")],
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
) -> None:
    """Print a bearer token for a principal (the token is the last word)."""
    from app.auth.repository import get_principal_by_name
    from app.auth.tokens import issue_token

    settings = _settings()
    with _session(settings) as session:
        principal = get_principal_by_name(session, name)
        if principal is None:
            typer.echo(f"error: no principal named {name!r}", err=True)
            raise typer.Exit(1)
        token, expires = issue_token(settings, principal, ttl)
    out.print(f"# {principal.role} {name}, expires {expires.isoformat()}", markup=False)
    out.print(token, markup=False, soft_wrap=True)


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Login name of the principal that owns the key")],
    label: Annotated[str, typer.Option(help="What the key is for")] = "partner",
) -> None:
    """Create an API key for a principal and print it once (the key is the last word)."""
    from app.auth.repository import get_principal_by_name
    from app.auth.service import create_api_key

    with _session(_settings()) as session:
        principal = get_principal_by_name(session, name)
        if principal is None:
            typer.echo(f"error: no principal named {name!r}", err=True)
            raise typer.Exit(1)
        key, plaintext = create_api_key(session, principal_id=principal.id, name=label)
        session.flush()
        out.print(f"# key {key.id} for {name}; it is shown only now", markup=False)
        out.print(plaintext, markup=False, soft_wrap=True)


@cli.command("seed-demo")
def seed_demo_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Shared data folder (default: GRIDFIX_DEMO_DATA or ../shared/data)"),
    ] = None,
    admin_password: Annotated[
        str | None, typer.Option(help="Password for the 'admin' account (default: random)")
    ] = None,
) -> None:
    """Load Jiangmen districts, synthetic grids and demo staff; print their tokens."""
    import secrets

    from app.auth.tokens import issue_token
    from app.seed import default_data_dir, seed_demo

    settings = _settings()
    password = admin_password or secrets.token_urlsafe(12)
    with _session(settings) as session:
        result = seed_demo(session, data_dir or default_data_dir(), admin_password=password)
        tokens = {label: issue_token(settings, p)[0] for label, p in result.featured.items()}
    out.print(
        f"offices: {result.offices_created} created, {result.offices_updated} updated; "
        f"accounts created: {len(result.principals_created)}",
        markup=False,
    )
    if "admin" in result.principals_created:
        out.print(f"admin password: {password}", markup=False)
    for label, token in tokens.items():
        out.print(f"{label:32} {token}", markup=False, soft_wrap=True)


@cli.command()
def sweep(
    grace_minutes: Annotated[
        int, typer.Option(min=0, help="Leave objects younger than this alone")
    ] = 60,
) -> None:
    """Remove expired uploads, orphan objects and expired idempotency records."""
    from datetime import timedelta

    from app.core.db import utcnow
    from app.photos.storage import build_storage
    from app.photos.sweeper import sweep as run_sweep

    settings = _settings()
    storage = build_storage(settings)
    with _session(settings) as session:
        report = run_sweep(session, storage, now=utcnow(), grace=timedelta(minutes=grace_minutes))
    out.print(
        f"uploads expired {report.uploads_expired}, upload objects deleted "
        f"{report.upload_objects_deleted}, orphans deleted {report.orphans_deleted}, "
        f"idempotency records purged {report.idempotency_purged}",
        markup=False,
    )


@categories_cli.command("seed")
def categories_seed() -> None:
    """Insert the default hazard categories that are missing; existing ones are left alone."""
    from app.categories.service import ensure_defaults

    with _session(_settings()) as session:
        inserted = ensure_defaults(session)
    out.print(f"categories: {inserted} inserted", markup=False)


@cli.command()
def tick() -> None:
    """Run the scheduled ticket work once: auto-close, claim escalation, overdue flags."""
    from app.core.db import utcnow
    from app.core.migrate import upgrade
    from app.tickets import jobs

    settings = _settings()
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        upgrade(engine)
        report = jobs.run(make_sessionmaker(engine), settings, utcnow())
    finally:
        engine.dispose()
    out.print(
        f"auto-closed {report.auto_closed}, claims escalated {report.claims_escalated}, "
        f"overdue flagged {report.overdue_flagged}",
        markup=False,
    )


@stats_cli.command("rebuild")
def stats_rebuild() -> None:
    """Recompute every statistics rollup from the tickets (after grid re-imports)."""
    from app.stats.commands import rebuild_command

    settings = _settings()
    _migrate(settings)
    result = rebuild_command(settings)
    out.print(f"statistics rebuilt: {result}", markup=False)


@stats_cli.command("fold")
def stats_fold() -> None:
    """Add the pending ticket changes to the rollups now (workers do every second)."""
    from app.stats.commands import fold_command

    settings = _settings()
    _migrate(settings)
    out.print(f"pending changes folded: {fold_command(settings)}", markup=False)


@stats_cli.command("prune")
def stats_prune() -> None:
    """Drop rollup rows that fell out of their windows (run daily)."""
    from app.stats.commands import prune_command

    settings = _settings()
    _migrate(settings)
    result = prune_command(settings)
    out.print(f"statistics pruned: {result}", markup=False)


if __name__ == "__main__":
    main()
