"""A records database that does not answer at start: refused in one line, or (--db-optional)
the node starts and spools until it answers."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from acd.db import schema
from acd.db.connect import DbUnavailable, open_engine
from acd.db.settings import RecordsConfig
from acd.db.spool import Spool
from acd.db.writer import RecordWriter, close_writer, open_writer
from ivr.cli import UserError
from tests.records.records_data import answered_call

DEAD = "postgresql://nobody@127.0.0.1:9/none"


async def test_refused_without_optional_and_spooling_with_it(tmp_path):
    cfg = RecordsConfig(url=DEAD, spool_dir=str(tmp_path / "spool"))
    with pytest.raises(DbUnavailable, match="127.0.0.1:9"):
        await open_writer(cfg)
    writer = await open_writer(cfg, optional=True)
    writer.submit_call(answered_call("c1"))
    assert await writer.flush_once() is False and writer.status()["db_up"] is False
    assert writer.health() == "records db down, 4 spooled"     # what `acd status` shows beside the node
    final = await close_writer(writer, drain_s=0.5)
    assert final["backlog"] == 4                      # kept for the next start
    again = Spool(tmp_path / "spool" / "records-0.jsonl")
    assert again.pending == 4
    again.close()


async def test_ivr_serve_names_the_database_and_the_flag(tmp_path):
    from ivr import settings as settings_mod
    from ivr.runtime import build_runtime

    with pytest.raises(UserError, match=r"127\.0\.0\.1:9.*--db-optional"):
        await build_runtime(settings_mod.load(), secret="x", acd_store="memory", records=True, records_db=DEAD)


async def test_two_nodes_writing_the_same_calls_make_one_row_each(db, tmp_path):
    writers = [RecordWriter(db, Spool(tmp_path / f"n{i}.jsonl"), batch=25) for i in range(2)]
    for w in writers:
        for i in range(200):
            w.submit_call(answered_call(f"c{i:03d}"))
    left = await asyncio.gather(*(w.drain(30) for w in writers))
    assert left == [0, 0]
    async with db.connect() as conn:
        calls = (await conn.execute(select(func.count()).select_from(schema.calls))).scalar_one()
        legs = (await conn.execute(select(func.count()).select_from(schema.call_legs))).scalar_one()
    assert (calls, legs) == (200, 400)


def test_open_engine_refuses_an_unknown_kind():
    from acd.db.connect import DbError

    with pytest.raises(DbError, match="only sqlite and postgresql"):
        open_engine("oracle://x@y/z")
