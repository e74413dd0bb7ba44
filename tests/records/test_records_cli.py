"""``acd db``, ``acd export`` and ``seats adherence --records-db`` on both databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from sqlalchemy import inspect, select, text

from acd.cli import main as acd
from acd.db import schema
from acd.db.connect import open_engine
from acd.db.migrate import upgrade
from acd.db.spool import Spool
from acd.db.writer import RecordWriter
from acd.db.connect import DbError
from tests.records.records_data import T0, answered_call

SINCE, UNTIL = "2026-11-30T00:00", "2026-12-01T00:00"   # China time: T0 is 08:53 on 30 November


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(acd, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def fill(db, tmp_path, *records: dict) -> None:
    writer = RecordWriter(db, Spool(tmp_path / "fill.jsonl"))
    for r in records:
        writer.submit_call(r)
    assert await writer.drain(10) == 0


async def test_export_fills_every_column_with_zoned_times_and_masked_numbers(db, db_url, tmp_path, capsys):
    await fill(db, tmp_path, answered_call("c1"), answered_call("c0", at=T0 - 86400 * 3))
    code, out, err = await run(capsys, "--db", db_url, "export", "--since", SINCE, "--until", UNTIL)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["call_id"] for r in rows] == ["c1"]
    row = rows[0]
    empty = {k for k, v in row.items() if v == ""}
    assert empty == {"transfer_to", "recording_path", "disposition", "callback_of", "abandoned_in",
                     "disposition_out_of_remit", "disposition_note", "disposition_work_order", "disposition_agent",
                     "disposition_at"}     # no agent recorded a disposition (tests/records/test_dispositions.py)
    assert row["started_at"] == "2026-11-30T08:53:20.000+08:00" and row["ended_at"].endswith("+08:00")
    assert row["caller"] == "139****5678" and row["outcome"] == "answered" and row["survey_label"] == "满意"
    assert row["wait_s"] == "8.0" and row["agent_id"] == "1301" and row["flow_path"].startswith("changchun:welcome")


async def test_whole_numbers_only_for_an_allowed_role_and_audited(db, db_url, tmp_path, capsys):
    await fill(db, tmp_path, answered_call("c1"))
    code, _, err = await run(capsys, "--db", db_url, "export", "--since", SINCE, "--until", UNTIL, "--unmask")
    assert code == 2 and err.count("\n") == 1 and "may not see whole numbers" in err
    code, out, err = await run(capsys, "--db", db_url, "export", "--since", SINCE, "--until", UNTIL,
                               "--format", "jsonl", "--unmask", "--role", "auditor", "--user", "wang")
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["caller"] == "13912345678"
    async with db.connect() as conn:
        audit = (await conn.execute(select(schema.audit_log))).mappings().all()
    assert [(a["user"], a["role"], a["action"]) for a in audit] == [("wang", "auditor", "export_unmasked")]
    assert json.loads(audit[0]["detail"])["rows"] == 1


async def test_upgrade_then_status_and_a_failed_migration_leaves_the_schema_as_it_was(db_url, capsys):
    engine = open_engine(db_url)
    async with engine.begin() as conn:      # a table in the way: the first migration cannot finish
        await conn.execute(text("CREATE TABLE calls (x INTEGER)"))
    try:
        await upgrade(engine)
        raise AssertionError("the migration should have failed")
    except DbError as exc:
        assert "schema left at empty" in str(exc)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sorted(inspect(c).get_table_names()))
    assert tables == ["calls"]             # agent_states, audit_log ... were rolled back
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE calls"))
    await engine.dispose()
    code, out, _ = await run(capsys, "--db", db_url, "db", "status")
    assert code == 1 and "run acd db upgrade" in out
    code, out, _ = await run(capsys, "--db", db_url, "db", "upgrade")
    from acd.db.migrate import head

    assert code == 0 and f"schema empty -> {head()}" in out
    code, out, _ = await run(capsys, "--db", db_url, "db", "upgrade")
    assert code == 0 and "is current" in out


async def test_sweep_removes_what_is_past_retention(db, db_url, tmp_path, capsys):
    import time

    old = answered_call("old", at=time.time() - 800 * 86400)
    await fill(db, tmp_path, old, answered_call("new", at=time.time() - 86400))
    code, out, err = await run(capsys, "--db", db_url, "db", "sweep", "--json")
    assert code == 0, err
    removed = json.loads(out)
    assert removed["calls"] == 1 and removed["call_legs"] == 2 and removed["surveys"] == 1
    async with db.connect() as conn:
        left = (await conn.execute(select(schema.calls.c.call_id))).scalars().all()
    assert left == ["new"]


async def test_unreachable_or_wrong_database_is_one_line(capsys):
    code, _, err = await run(capsys, "--db", "postgresql://nobody@127.0.0.1:9/none", "export", "--since", "1d")
    assert code == 3 and err.count("\n") == 1 and "127.0.0.1:9" in err
    code, _, err = await run(capsys, "--db", "mysql://x@y/z", "db", "status")
    assert code == 2 and "only sqlite and postgresql" in err
    code, _, err = await run(capsys, "--db", "sqlite:////no/such/folder/r.db", "db", "upgrade")
    assert code == 2 and "does not exist" in err


async def test_adherence_reads_logins_from_the_state_history(db, db_url, tmp_path):
    from seats.history import read_agent_history

    writer = RecordWriter(db, Spool(tmp_path / "h.jsonl"))
    for i, (state, at) in enumerate([("available", T0), ("ringing", T0 + 60), ("talking", T0 + 65),
                                     ("logged_out", T0 + 3600), ("paused", T0 + 7200)]):
        writer.submit("agent_state", {"event_id": f"e{i}", "agent_id": "1301", "state": state, "at": at})
    await writer.drain(10)
    events = await asyncio.to_thread(read_agent_history, db_url)
    assert [(e.event, e.ts.strftime("%H:%M")) for e in events] == [("login", "08:53"), ("logout", "09:53"),
                                                                   ("login", "10:53")]


async def test_the_migrations_build_exactly_the_schema_the_code_declares(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async with db.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), schema.metadata))
    assert diff == []
