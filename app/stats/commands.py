"""Entry points for the ``gridfix stats …`` commands (the CLI wires them).

gridfix stats rebuild   recompute every rollup from the tickets (after a bulk
                        load, a change of the office tree or of
                        GRIDFIX_LOCAL_TIMEZONE, or to repair)
gridfix stats fold      add the pending ticket changes to the rollups now
                        (PostgreSQL; every API process does each second)
gridfix stats prune     drop day rows older than their windows and zero rows
                        (daily from cron; reads never need them)
"""

from __future__ import annotations

from app.config import Settings
from app.core.db import make_engine, make_sessionmaker, mark_writer
from app.stats.pending import fold_all
from app.stats.rebuild import Progress, RebuildReport, Windows, prune, rebuild


def windows(settings: Settings) -> Windows:
    return Windows(
        cohort_days=settings.stats_day_window_days,
        flow_days=settings.stats_flow_day_window_days,
    )


def rebuild_command(settings: Settings, progress: Progress | None = None) -> RebuildReport:
    """Rebuild all rollups in one transaction (readers see the old ones until it commits)."""
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            mark_writer(session)
            report = rebuild(session, windows(settings), progress=progress)
            session.commit()
            return report
    finally:
        engine.dispose()


def prune_command(settings: Settings) -> dict[str, int]:
    """Delete rollup rows no read uses any more; returns rows deleted per table."""
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            mark_writer(session)
            deleted = prune(session, windows(settings))
            session.commit()
            return deleted
    finally:
        engine.dispose()


def fold_command(settings: Settings) -> int:
    """Fold every pending change into the rollups; returns how many."""
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        return fold_all(make_sessionmaker(engine))
    finally:
        engine.dispose()
