"""``acd db upgrade``: Alembic migrations run inside one transaction, so a migration that
fails leaves the schema as it was (PostgreSQL and SQLite both have transactional DDL)."""

from __future__ import annotations

import pathlib

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.db.connect import DbError, DbUnavailable, reason, shown

MIGRATIONS = pathlib.Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


async def current(engine: AsyncEngine) -> str:
    """The schema revision the database is at ("" for an empty database)."""
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision() or "")
    except Exception as exc:
        raise DbUnavailable(f"cannot reach the records database at {shown(engine.url)}: {reason(exc)}") from None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str, str]:
    """Bring the schema to ``revision``; returns (before, after)."""
    before = await current(engine)

    def run(conn) -> None:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    except DbError:
        raise
    except Exception as exc:
        raise DbError(f"migration to {revision} failed on {shown(engine.url)}, schema left at "
                      f"{before or 'empty'}: {reason(exc)}") from None
    return before, await current(engine)


async def require_current(engine: AsyncEngine) -> None:
    """Refuse to write into a schema that is not the one this code knows."""
    at, want = await current(engine), head()
    if at != want:
        raise DbError(f"the records database at {shown(engine.url)} is at schema {at or 'empty'}, "
                      f"this version needs {want}: run 'acd db upgrade'")
