"""Records tests run on both databases: a fresh SQLite file and a fresh PostgreSQL database.

PostgreSQL is the real server on 127.0.0.1:5432 (.ci/run starts one when none
answers); each test gets its own database, dropped afterwards.  Set
HOTLINE_TEST_PG to point elsewhere (a URL to the maintenance database).
"""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest

from acd.db.connect import open_engine
from acd.db.migrate import upgrade

PG_ADMIN = os.environ.get("HOTLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """An empty database of each kind (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    name = f"hotline_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_url):
    """An async engine on a migrated database of each kind."""
    engine = open_engine(db_url)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
