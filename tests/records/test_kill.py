"""Kill the engine mid-write and start it again: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys

from sqlalchemy import func, select

from acd.db import schema
from acd.db.migrate import upgrade
from acd.db.connect import open_engine
from acd.db.settings import RecordsConfig
from acd.db.writer import close_writer, open_writer

ROOT = pathlib.Path(__file__).resolve().parents[2]
CALLS = 400


async def counts(engine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        calls = (await conn.execute(select(func.count()).select_from(schema.calls))).scalar_one()
        distinct = (await conn.execute(select(func.count(func.distinct(schema.calls.c.call_id))))).scalar_one()
        legs = (await conn.execute(select(func.count()).select_from(schema.call_legs))).scalar_one()
    return calls, distinct, legs


async def test_kill_mid_write_then_restart_loses_and_doubles_nothing(db_url, tmp_path):
    engine = open_engine(db_url)
    await upgrade(engine)
    spool_dir = tmp_path / "spool"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.records.spooling_node", db_url, str(spool_dir), str(CALLS), "5",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line.strip() == b"submitted"
    written = 0
    for _ in range(3000):                        # until part of it is in the database
        written = (await counts(engine))[0]
        if written >= 20:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before = await counts(engine)
    assert 20 <= before[0] < CALLS, "the kill must land mid-write for this test to mean anything"

    writer = await open_writer(RecordsConfig(url=db_url, spool_dir=str(spool_dir)), node="restarted")
    assert writer.pending > 0
    assert await writer.drain(60) == 0
    await close_writer(writer)
    assert await counts(engine) == (CALLS, CALLS, 2 * CALLS)
    await engine.dispose()
