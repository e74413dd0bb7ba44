"""Roster against the ACD's agent log-ins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seats import roster as rmod
from seats.adherence import adherence, read_agent_log
from seats.errors import SeatsError
from seats.roster import Duty
from seats_helpers import make_roster


@pytest.fixture
def small(cfg):
    r = make_roster(cfg, 3, days=7)
    r.duties[("p00", 0)] = Duty("M")   # 08-16, agent-00
    r.duties[("p01", 0)] = Duty("M")   # 08-16, agent-01
    r.duties[("p02", 0)] = Duty("A")   # 16-24, agent-02
    r.duties[("p00", 1)] = Duty("M")   # outside the log window below
    return r


LOG = [
    {"agent_id": "agent-00", "event": "login", "ts": "2026-01-05T07:55:00+08:00"},
    {"agent_id": "agent-00", "event": "logout", "ts": "2026-01-05T16:02:00+08:00"},
    {"agent_id": "agent-01", "event": "login", "ts": "2026-01-05T01:40:00Z"},      # 09:40 in China
    {"agent_id": "agent-01", "event": "logout", "ts": "2026-01-05T15:00:00"},
    {"agent_id": "agent-99", "event": "login", "ts": "2026-01-05T12:00:00"},
    {"agent_id": "agent-99", "event": "logout", "ts": "2026-01-05T23:59:00"},
]


def test_adherence_from_jsonl(small, tmp_path):
    path = tmp_path / "agents.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in LOG) + "\n", encoding="utf-8")
    rep = adherence(small, read_agent_log(path), grace_min=5)
    by = {(d["person"], d["date"]): d for d in rep["duties"]}
    assert set(by) == {("p00", "2026-01-05"), ("p01", "2026-01-05")}  # p02 ends after the log
    assert by[("p00", "2026-01-05")]["status"] == "ok" and by[("p00", "2026-01-05")]["adherence"] == 1.0
    p01 = by[("p01", "2026-01-05")]
    assert p01["status"] == "late+early" and p01["logged_min"] == 320  # 09:40-15:00
    assert rep["unrostered_agents"] == ["agent-99"]
    assert rep["total"]["scheduled_min"] == 960 and rep["total"]["logged_min"] == 800


def test_absent_with_explicit_window_and_csv(small, tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text("agent_id,event,ts\nagent-00,login,2026-01-05T08:00:00\n", encoding="utf-8")
    import datetime as dt

    rep = adherence(small, read_agent_log(path),
                    window=(dt.datetime(2026, 1, 5), dt.datetime(2026, 1, 6)))
    status = {d["person"]: d["status"] for d in rep["duties"]}
    assert status == {"p00": "ok", "p01": "absent", "p02": "absent"}


@pytest.mark.parametrize("text,line", [
    ('{"agent_id": "a", "event": "login", "ts": "2026-01-05T08:00"}\n{"agent_id": "a", "event": "nap", "ts": "x"}\n', 2),
    ('{"agent_id": "a", "event": "login", "ts": "2026-01-05T08:00"}\n{broken\n', 2),
    ('{"agent_id": "", "event": "login", "ts": "2026-01-05T08:00"}\n', 1),
])
def test_bad_log_lines_are_named(tmp_path, text, line):
    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SeatsError) as err:
        read_agent_log(path)
    assert f"{path}:{line}" in str(err.value)


def test_cli_adherence(small, tmp_path):
    rpath = tmp_path / "r.json"
    rmod.save(small, rpath)
    lpath = tmp_path / "agents.jsonl"
    lpath.write_text("\n".join(json.dumps(e) for e in LOG) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "seats.cli", "adherence", str(rpath), "--log", str(lpath), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"]["duties"] == 2
    out = subprocess.run([sys.executable, "-m", "seats.cli", "adherence", str(rpath), "--log",
                          str(tmp_path / "missing.jsonl")], capture_output=True, text=True)
    assert out.returncode == 2 and "missing.jsonl" in out.stderr and "Traceback" not in out.stderr


def test_on_duty_feeds_the_acd(small, tmp_path):
    import datetime as dt

    from seats.roster import on_duty

    at_nine = on_duty(small, dt.datetime(2026, 1, 5, 9, 0))
    assert sorted(r["agent_id"] for r in at_nine["tonghua"]) == ["agent-00", "agent-01"]
    assert on_duty(small, dt.datetime(2026, 1, 5, 16, 0))["tonghua"][0]["agent_id"] == "agent-02"
    assert on_duty(small, dt.datetime(2026, 1, 6, 0, 0))["tonghua"] == []  # 16-24 has ended
    rpath = tmp_path / "r.json"
    rmod.save(small, rpath)
    out = subprocess.run([sys.executable, "-m", "seats.cli", "roster", "on-duty", str(rpath), "--at",
                          "2026-01-05T01:00:00Z", "--json"], capture_output=True, text=True)  # 09:00 China
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["centers"]["tonghua"]) == 2


def test_redis_snapshot_against_the_acd_state(small, tmp_path):
    """Real Redis, a unique prefix, cleaned up: the ACD's documented key layout."""
    import asyncio
    import datetime as dt
    import uuid

    import redis.asyncio as aioredis

    from seats.acd_state import read_agent_states, snapshot

    prefix = f"{{seats-test-{uuid.uuid4().hex[:8]}}}:"
    agents = {
        "agent-00": {"state": "available"},
        "agent-01": {"state": "logged_out"},
        "agent-02": {"state": "talking"},
        "agent-77": {"state": "paused"},
    }

    async def setup(delete=False):
        conn = aioredis.Redis(host="127.0.0.1", port=6379, db=0, decode_responses=True)
        try:
            if delete:
                await conn.delete(f"{prefix}agents", *[f"{prefix}agent:{a}" for a in agents])
            else:
                await conn.sadd(f"{prefix}agents", *agents)
                for a, v in agents.items():
                    await conn.set(f"{prefix}agent:{a}", json.dumps(v))
        finally:
            await conn.aclose()

    asyncio.run(setup())
    try:
        states = read_agent_states("127.0.0.1", 6379, prefix=prefix)
        assert states["agent-02"]["state"] == "talking" and len(states) == 4
        rep = snapshot(small, states, dt.datetime(2026, 1, 5, 9, 0))
        row = rep["centers"]["tonghua"]
        assert (row["expected"], row["logged_in"], row["missing"]) == (2, 1, ["agent-01"])
        assert rep["logged_in_off_roster"] == ["agent-02"]   # logged in, rostered only from 16:00
        assert rep["logged_in_unknown"] == ["agent-77"]
        rpath = tmp_path / "r.json"
        rmod.save(small, rpath)
        out = subprocess.run([sys.executable, "-m", "seats.cli", "adherence", str(rpath), "--redis",
                              "127.0.0.1:6379", "--prefix", prefix, "--at", "2026-01-05T16:30", "--json"],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["total"] == {"expected": 1, "logged_in": 1, "adherence": 1.0}
    finally:
        asyncio.run(setup(delete=True))


def test_dead_redis_names_host_and_port(small, tmp_path):
    rpath = tmp_path / "r.json"
    rmod.save(small, rpath)
    out = subprocess.run([sys.executable, "-m", "seats.cli", "adherence", str(rpath), "--redis", "127.0.0.1:1"],
                         capture_output=True, text=True)
    # a service that does not answer is exit 3 for every command (hotline.errors.Unreachable), not 2
    assert out.returncode == 3 and "127.0.0.1:1" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
