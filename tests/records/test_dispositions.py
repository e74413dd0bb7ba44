"""Dispositions and supervisors' forced pause/logout: ``acd call disposition`` and ``acd agent
force-pause|force-logout|wrapup-extend`` against the real Redis (a prefix of each test's own) and
both records databases (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid

import pytest
from sqlalchemy import select

from acd import config as config_mod
from acd.cli import main as acd
from acd.db import schema
from acd.db.spool import Spool
from acd.db.writer import RecordWriter
from acd.model import Call
from acd.redis_store import RedisStore
from tests.records.records_data import T0, answered_call

SINCE, UNTIL = "2026-11-30T00:00", "2026-12-01T00:00"
CFG = config_mod.load()          # the shipped config: the CLI reads the same; agents 1301, 1302 in yanbian


@pytest.fixture
async def redis():
    prefix = f"{{test:disp:{uuid.uuid4().hex[:10]}}}:"
    store = await RedisStore.connect("127.0.0.1", 6379, prefix=prefix)
    await store.sync_agents(CFG.agents, time.time())
    try:
        yield store
    finally:
        await store.delete_all()
        await store.close()


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(acd, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def cli(redis, db_url):
    return ("--prefix", redis.prefix, "--db", db_url)


async def talking(store, agent: str, call_id: str) -> None:
    now = time.time()
    await store.agent_action(agent, "login", "", now)
    await store.enqueue(Call(call_id=call_id, queue="yanbian", enqueued_at=now, caller="13912345678"))
    assert await store.claim([(call_id, agent, 15, 5)], now)
    assert await store.ring_result(call_id, agent, "ANSWER", now, 3) == "connected"


async def ended(store, agent: str, call_id: str, wrap: float = 600.0) -> None:
    await talking(store, agent, call_id)
    assert await store.call_ended(call_id, agent, 150, time.time(), wrap)


async def fill(db, tmp_path, *records: dict) -> None:
    writer = RecordWriter(db, Spool(tmp_path / f"fill-{uuid.uuid4().hex[:6]}.jsonl"))
    for r in records:
        writer.submit_call(r)
    assert await writer.drain(10) == 0


async def rows(db, table) -> list[dict]:
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings().all()]


async def export(capsys, db_url, fmt="csv") -> list[dict]:
    code, out, err = await run(capsys, "--db", db_url, "export", "--since", SINCE, "--until", UNTIL, "--format", fmt)
    assert code == 0, err
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(out)))
    return [json.loads(line) for line in out.splitlines()]


async def test_disposition_is_stored_exported_and_survives_the_later_call_record(db, db_url, redis, tmp_path,
                                                                                   capsys):
    await ended(redis, "1301", "c1")
    code, out, err = await run(capsys, *cli(redis, db_url), "call", "disposition", "c1", "--agent", "1301",
                               "--category", "complaint", "--note", "路灯不亮,三天了", "--work-order")
    assert (code, err) == (0, "")
    assert out == "call c1: 投诉, work order\n"
    assert (await redis.get_agent("1301")).state == "wrapup"          # no --done: wrap-up runs on
    # the engine writes the call's record after the disposition: the whole calls row is replaced
    await fill(db, tmp_path, answered_call("c1"), answered_call("c2", at=T0 + 60))
    [row] = [r for r in await export(capsys, db_url) if r["call_id"] == "c1"]
    assert (row["disposition"], row["disposition_note"], row["disposition_work_order"],
            row["disposition_agent"], row["disposition_out_of_remit"]) == ("投诉", "路灯不亮,三天了", "true", "1301", "")
    assert row["disposition_at"].endswith("+08:00")
    other = [r for r in await export(capsys, db_url) if r["call_id"] == "c2"][0]
    assert other["disposition"] == other["disposition_work_order"] == other["disposition_at"] == ""
    # a second disposition replaces the first; --done ends the wrap-up now
    code, out, err = await run(capsys, *cli(redis, db_url), "call", "disposition", "c1", "--agent", "1301",
                               "--category", "意见建议", "--out-of-remit", "petition", "--done")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("call c1: 意见建议, out of remit: 信访, answered at once (接诉即答) (replaces the one recorded ")
    assert lines[1] == "agent 1301: available (wrap-up ended)"
    assert (await redis.get_agent("1301")).state == "available"
    [stored] = await rows(db, schema.dispositions)
    assert (stored["category"], stored["out_of_remit"], stored["note"], stored["work_order"]) == (
        "意见建议", "信访", "", False)
    [row] = [r for r in await export(capsys, db_url, "jsonl") if r["call_id"] == "c1"]
    assert (row["disposition"], row["disposition_out_of_remit"], row["disposition_work_order"]) == (
        "意见建议", "信访", False)
    # the call's record written once more (a replayed spool, an adopting node) keeps it too
    await fill(db, tmp_path, answered_call("c1"))
    [row] = [r for r in await export(capsys, db_url, "jsonl") if r["call_id"] == "c1"]
    assert row["disposition"] == "意见建议"


@pytest.mark.parametrize("argv, says", [
    (("c1", "--agent", "1302", "--category", "consult"), "call 'c1' was handled by agent '1301', not '1302'\n"),
    (("nope", "--agent", "1301", "--category", "consult"), "unknown call 'nope' (the ACD keeps a call for 24 h after it ends)\n"),
    (("c1", "--agent", "1301", "--category", "advice"), "--category 'advice': expected one of 咨询 (consult), "
                                                         "求助 (help), 投诉 (complaint), 举报 (report), 意见建议 (suggestion)\n"),
    (("c1", "--agent", "1301", "--category", "help", "--out-of-remit", "tax"), "--out-of-remit 'tax': expected one of"),
    (("c1", "--agent", "1301", "--category", "help", "--note", "x" * 501), "--note: 501 characters, at most 500"),
    (("c1", "--agent", "1301", "--category", "help", "--out-of-remit", "诉讼", "--work-order"),
     "--work-order: a matter out of remit (诉讼) gets no work order"),
    (("live", "--agent", "1302", "--category", "help"), "call 'live' is connected: record its disposition once it has ended\n"),
])
async def test_refusals_are_one_line_and_change_nothing(db, db_url, redis, capsys, argv, says):
    await ended(redis, "1301", "c1")
    await talking(redis, "1302", "live")
    before = [a.to_dict() for a in await redis.agents()]
    code, out, err = await run(capsys, *cli(redis, db_url), "call", "disposition", *argv, "--done")
    assert (code, out) == (2, "")
    assert err.startswith("acd call disposition: " + says) and err.count("\n") == 1
    assert await rows(db, schema.dispositions) == []
    assert [a.to_dict() for a in await redis.agents()] == before


async def test_forced_logout_waits_for_the_end_of_the_call_forced_pause_is_at_once(db, db_url, redis, capsys):
    await talking(redis, "1301", "c1")
    await redis.agent_action("1302", "login", "", time.time())
    code, out, err = await run(capsys, *cli(redis, db_url), "agent", "force-logout", "1301", "--by", "wang")
    assert (code, out, err) == (0, "agent 1301: talking, then logout (forced by wang, after the call)\n", "")
    code, out, err = await run(capsys, *cli(redis, db_url), "agent", "force-pause", "1302", "--by", "wang")
    assert (code, out, err) == (0, "agent 1302: paused (supervisor) (forced by wang, now)\n", "")
    assert (await redis.get_agent("1301")).state == "talking"         # the call was not cut
    assert await redis.call_ended("c1", "1301", 100, time.time(), 0)
    assert (await redis.get_agent("1301")).state == "logged_out"      # applied when it ended
    audit = sorted(await rows(db, schema.audit_log), key=lambda r: r["id"])
    assert [(a["user"], a["role"], a["action"]) for a in audit] == [
        ("wang", "supervisor", "force_logout"), ("wang", "supervisor", "force_pause")]
    first, second = (json.loads(a["detail"]) for a in audit)
    assert (first["agent"], first["effect"], first["state_before"]) == ("1301", "after the call", "talking")
    assert (second["agent"], second["effect"], second["reason"]) == ("1302", "now", "supervisor")
    assert all(abs(a["at"] - time.time()) < 60 for a in audit)
    # refusals: one line, exit 2, no audit row
    for argv, says in [(("force-logout", "1301", "--by", "wang"), "agent '1301' is logged out"),
                       (("force-pause", "9999", "--by", "wang"), "unknown agent '9999'"),
                       (("force-pause", "1302"), "--by: which supervisor?")]:
        code, out, err = await run(capsys, *cli(redis, db_url), "agent", *argv)
        assert (code, out) == (2, "") and says in err and err.count("\n") == 1, err
    assert len(await rows(db, schema.audit_log)) == 2


async def test_wrapup_extend_from_the_command(db_url, redis, capsys):
    await ended(redis, "1301", "c1", wrap=10)
    until = (await redis.get_agent("1301")).wrap_until
    code, out, err = await run(capsys, "--prefix", redis.prefix, "agent", "wrapup-extend", "1301", "--seconds", "60")
    assert code == 0, err
    assert out.startswith("agent 1301: wrapup for ") and out.endswith(" s more (at most 300 s after the call)\n")
    assert (await redis.get_agent("1301")).wrap_until == pytest.approx(until + 60)
    await redis.agent_action("1302", "login", "", time.time())
    code, out, err = await run(capsys, "--prefix", redis.prefix, "agent", "wrapup-extend", "1302", "--seconds", "60")
    assert (code, err) == (2, "acd agent wrapup-extend: agent '1302' is not in wrap-up (available)\n")
    code, _, err = await run(capsys, "--prefix", redis.prefix, "agent", "wrapup-extend", "1301", "--seconds", "soon")
    assert (code, err) == (2, "acd agent wrapup-extend: --seconds 'soon': expected a number of seconds above 0\n")


async def test_the_api_path_goes_through_the_spool_and_a_replay_adds_nothing(db, tmp_path):
    """Acd.record_disposition and Acd.force_pause hand their rows to the node's records writer."""
    from acd.service import Acd
    from acd.store import MemoryStore

    store = MemoryStore()
    spool = Spool(tmp_path / "node.jsonl")
    writer = RecordWriter(db, spool)
    node = Acd(store, CFG, "n1")
    node.attach_records(writer.submit)
    await node.start(loops=False)
    try:
        await store.sync_agents(CFG.agents, time.time())
        await ended(store, "1301", "c9")
        await node.record_disposition("c9", "1301", "举报", note="占道经营")
        await node.force_pause("1301", by="zhao", reason="review")
        assert await writer.drain(10) == 0
        again = RecordWriter(db, Spool(tmp_path / "replay.jsonl"))     # the same lines written twice
        for line in (tmp_path / "node.jsonl").read_text().splitlines():
            item = json.loads(line)
            again.submit(item["k"], item["r"])
        assert await again.drain(10) == 0
    finally:
        await node.stop(flush_s=1)
    [d] = await rows(db, schema.dispositions)
    assert (d["call_id"], d["agent_id"], d["category"], d["note"], d["work_order"]) == ("c9", "1301", "举报", "占道经营", False)
    [a] = await rows(db, schema.audit_log)
    assert (a["user"], a["action"], json.loads(a["detail"])["effect"]) == ("zhao", "force_pause", "after the call")
