"""The write path: spool first, batches into the database, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from acd.db import schema
from acd.db.connect import open_engine
from acd.db.spool import Spool, claim
from acd.db.writer import RecordWriter, close_writer
from tests.records.records_data import T0, answered_call


async def count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_a_call_lands_with_its_legs_and_survey_once_however_often_written(db, tmp_path):
    writer = RecordWriter(db, Spool(tmp_path / "s.jsonl"), node="node-a")
    writer.submit_call(answered_call("c1"))
    writer.submit_call(answered_call("c1", grade_label="非常满意"))   # the adopting node writes it again
    assert await writer.drain(10) == 0
    async with db.connect() as conn:
        call = (await conn.execute(select(schema.calls))).mappings().one()
        legs = (await conn.execute(select(schema.call_legs).order_by(schema.call_legs.c.seq))).mappings().all()
        survey = (await conn.execute(select(schema.surveys))).mappings().one()
    assert call["call_id"] == "c1" and call["survey_grade"] == 5 and call["wait_s"] == 8.0
    assert call["center"] == "changchun" and call["flow_path"] == "changchun:welcome>changchun:to_city>survey:rate"
    assert call["keys"] == "12" and call["to_person_s"] == 19.5 and call["caller"] == "13912345678"
    assert [(leg["target"], leg["status"]) for leg in legs] == [("1302", "NOANSWER"), ("1301", "ANSWER")]
    assert survey["grade"] == 5 and survey["label"] == "非常满意"


async def test_a_caller_who_leaves_the_survey_is_not_rated(db, tmp_path):
    writer = RecordWriter(db, Spool(tmp_path / "s.jsonl"))
    writer.submit_call(answered_call("c2", grade_label=None))
    await writer.drain(10)
    async with db.connect() as conn:
        survey = (await conn.execute(select(schema.surveys))).mappings().one()
    assert survey["grade"] is None and survey["label"] == ""


async def test_database_away_spools_then_drains_in_order(db, tmp_path):
    dead = open_engine("postgresql://nobody@127.0.0.1:9/none")   # nothing listens on port 9
    writer = RecordWriter(dead, Spool(tmp_path / "s.jsonl"), batch=7)
    for i in range(30):
        writer.submit_call(answered_call(f"c{i:02d}", at=T0 + i))
    assert await writer.flush_once() is False
    status = writer.status()
    assert status["db_up"] is False and status["backlog"] == 30 * 4 and status["last_error"]
    writer.engine = db                     # the database answers again
    assert await writer.drain(20) == 0
    assert await count(db, schema.calls) == 30 and await count(db, schema.call_legs) == 60
    assert writer.status()["db_up"] is True and writer.status()["backlog"] == 0
    await dead.dispose()


async def test_a_torn_last_line_is_dropped_and_the_rest_replayed(db, tmp_path):
    path = tmp_path / "s.jsonl"
    good = json.dumps({"k": "agent_state", "r": {"event_id": "e1", "agent_id": "1301", "state": "available",
                                                  "at": T0}})
    path.write_text(good + "\n" + '{"k": "agent_state", "r": {"event_id": "e2"', encoding="utf-8")
    spool = Spool(path)
    assert spool.pending == 1
    writer = RecordWriter(db, spool)
    writer.submit("agent_state", {"event_id": "e3", "agent_id": "1301", "state": "paused", "reason": "break", "at": T0 + 5})
    assert await writer.drain(10) == 0
    async with db.connect() as conn:
        ids = (await conn.execute(select(schema.agent_states.c.event_id).order_by("at"))).scalars().all()
    assert ids == ["e1", "e3"]


async def test_a_second_process_takes_the_next_slot_and_a_dead_ones_spool_is_drained(db, tmp_path):
    left = Spool(tmp_path / "records-1.jsonl")           # a node that died with records spooled
    left.append({"k": "agent_state", "r": {"event_id": "old", "agent_id": "9", "state": "available", "at": T0}})
    left.close()
    mine, orphans = claim(tmp_path)
    assert mine.path.name == "records-0.jsonl" and [o.path.name for o in orphans] == ["records-1.jsonl"]
    other, _ = claim(tmp_path)                          # slot 0 is held: the next free one
    assert other.path.name == "records-2.jsonl"
    writer = RecordWriter(db, mine, orphans=orphans)
    assert writer.pending == 1 and await writer.drain(10) == 0
    assert await count(db, schema.agent_states) == 1
    final = await close_writer(writer)
    assert final["backlog"] == 0
    other.close()


async def test_the_writer_task_writes_as_records_arrive(db, tmp_path):
    writer = RecordWriter(db, Spool(tmp_path / "s.jsonl"), flush_s=0.01)
    task = asyncio.create_task(writer.run())
    try:
        writer.submit_call(answered_call("live"))
        for _ in range(500):
            if writer.written >= 4:
                break
            await asyncio.sleep(0.01)
        assert writer.written == 4 and await count(db, schema.calls) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_each_state_learns_when_it_ended_whatever_order_the_events_arrive_in(db, tmp_path):
    writer = RecordWriter(db, Spool(tmp_path / "s.jsonl"), batch=1)     # one event per batch
    for event_id, at in (("e2", T0 + 10), ("e1", T0), ("e4", T0 + 30), ("e3", T0 + 20)):
        writer.submit("agent_state", {"event_id": event_id, "agent_id": "1301", "state": "talking", "at": at})
        writer.submit("agent_state", {"event_id": event_id + "-other", "agent_id": "1302", "state": "available", "at": at + 1})
    assert await writer.drain(10) == 0
    async with db.connect() as conn:
        rows = (await conn.execute(select(schema.agent_states.c.event_id, schema.agent_states.c.until)
                                   .where(schema.agent_states.c.agent_id == "1301")
                                   .order_by(schema.agent_states.c.at))).all()
    assert rows == [("e1", T0 + 10), ("e2", T0 + 20), ("e3", T0 + 30), ("e4", None)]


async def test_a_transferred_call_keeps_each_leg_with_who_asked_and_how(db, tmp_path):
    record = answered_call("c9")
    record["dial_attempts"].append({"transfer": "province", "kind": "blind", "by": "1301", "requested": T0 + 60,
                                    "at": T0 + 60.2, "status": "ANSWER", "queue": "province", "settled": T0 + 75})
    record["dial_attempts"].append({"agent": "1001", "status": "ANSWER"})
    writer = RecordWriter(db, Spool(tmp_path / "s.jsonl"))
    writer.submit_call(record)
    assert await writer.drain(10) == 0
    async with db.connect() as conn:
        call = (await conn.execute(select(schema.calls))).mappings().one()
        legs = (await conn.execute(select(schema.call_legs).order_by(schema.call_legs.c.seq))).mappings().all()
    assert [(leg["kind"], leg["target"], leg["status"], leg["transfer_kind"], leg["by_agent"]) for leg in legs] == [
        ("agent", "1302", "NOANSWER", "", ""), ("agent", "1301", "ANSWER", "", ""),
        ("transfer", "province", "ANSWER", "blind", "1301"), ("agent", "1001", "ANSWER", "", "")]
    assert (legs[2]["requested_at"], legs[2]["settled_at"]) == (T0 + 60, T0 + 75)
    assert (call["transfers"], call["transfer_to"]) == (1, "province")
