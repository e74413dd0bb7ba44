"""The engine writes what it knows: the demo's calls land in the database, one row each,
with the ACD's agent history and callbacks beside them."""

from __future__ import annotations

from sqlalchemy import select

from acd.db import schema
from acd.db.connect import open_engine
from ivr.demo import DemoOptions, run_demo


async def test_demo_calls_land_in_the_records_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run = await run_demo(DemoOptions(calls=12, agents=4, seed=3, records_db=url,
                                     records_spool=str(tmp_path / "spool")))
    summary = run.summary()
    assert summary["lost"] == 0 and summary["records_in_spool"] == 0
    engine = open_engine(url)
    async with engine.connect() as conn:
        calls = (await conn.execute(select(schema.calls))).mappings().all()
        states = (await conn.execute(select(schema.agent_states))).mappings().all()
        callbacks = (await conn.execute(select(schema.callbacks))).mappings().all()
    await engine.dispose()
    ended = {r.call_id: r for r in run.records if r.outcome not in ("handed_over", "elsewhere")}
    assert {c["call_id"] for c in calls} == set(ended)
    for row in calls:
        rec = ended[row["call_id"]]
        assert row["outcome"] == rec.outcome and row["agent_id"] == rec.agent and row["queue"] == rec.queue
        if rec.kind == "inbound":
            assert row["center"] and row["flow"] and row["flow_version"]
        if rec.outcome == "answered":
            assert row["talk_s"] > 0 and row["agent_answered_at"] is not None
    logins = {s["agent_id"] for s in states if s["state"] == "available" and s["reason"] == ""}
    assert len(logins) == 4                           # --login-all: each agent's login is history
    talked = [s["call_id"] for s in states if s["state"] == "talking"]
    answered = [c for c in calls if c["outcome"] == "answered"]
    assert {c["call_id"] for c in answered if c["kind"] == "inbound"} <= set(talked)
    assert len(talked) == len(answered)               # callbacks' legs: the ACD names them cb:<missed call>
    assert {cb["missed_call_id"] for cb in callbacks} <= {c["call_id"] for c in calls if c["outcome"] == "abandoned"}
