"""Who is logged in to the ACD right now, as the ACD reports it (acd.agents_view).

Read-only: seats/ never writes the ACD's state and does not know how the ACD lays
out its keys in Redis; it asks the ACD's read function and words its failures the
way every seats command does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from acd.agents_view import agent_states
from acd.redis_connect import RedisUnreachable
from hotline.errors import EXIT_USER, Unreachable
from seats.errors import SeatsError
from seats.roster import Roster, on_duty

PASSWORD_ENV = "HOTLINE_REDIS_PASSWORD"  # the same variable the ACD reads; never logged


def read_agent_states(host: str, port: int, *, prefix: str = "{hotline}:", db: int = 0,
                      timeout_s: float = 3.0) -> dict[str, dict]:
    """Agent id -> its state record.  A Redis that does not answer is :class:`Unreachable` (exit 3,
    worded like every other command's), not a user's mistake: the operator fixes the network."""
    password = os.environ.get(PASSWORD_ENV) or None
    try:
        return asyncio.run(agent_states(host, port, prefix=prefix, db=db, password=password, timeout_s=timeout_s))
    except RedisUnreachable as exc:
        if exc.code == EXIT_USER:
            raise SeatsError(f"Redis at {host}:{port} refused the request: {exc.reason}") from None
        raise Unreachable("Redis", f"{host}:{port}", exc.reason) from None


def snapshot(roster: Roster, states: dict[str, dict], when: dt.datetime) -> dict:
    """Expected on duty at ``when`` against logged in now, per center."""
    logged_in = {a for a, s in states.items() if s.get("state", "logged_out") != "logged_out"}
    expected = on_duty(roster, when)
    rostered_agents = {p.agent_id for p in roster.people if p.agent_id}
    centers = {}
    for center, rows in expected.items():
        ids = [r["agent_id"] for r in rows if r["agent_id"]]  # people not in acd.yaml cannot log in
        present = [a for a in ids if a in logged_in]
        centers[center] = {
            "expected": len(ids),
            "logged_in": len(present),
            "missing": sorted(a for a in ids if a not in logged_in),
            "without_agent": len(rows) - len(ids),
            "states": {a: states[a].get("state") for a in present},
        }
    on_duty_ids = {r["agent_id"] for rows in expected.values() for r in rows}
    expected_n = sum(c["expected"] for c in centers.values())
    present_n = sum(c["logged_in"] for c in centers.values())
    return {
        "at": when.isoformat(timespec="minutes"),
        "centers": centers,
        "logged_in_off_roster": sorted(a for a in logged_in if a in rostered_agents and a not in on_duty_ids),
        "logged_in_unknown": sorted(a for a in logged_in if a not in rostered_agents),
        "total": {"expected": expected_n, "logged_in": present_n,
                  "adherence": round(present_n / expected_n, 4) if expected_n else 1.0},
    }
