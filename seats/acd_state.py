"""Who is logged in to the ACD right now, read from its Redis state (docs/acd.md).

The ACD keeps one JSON string per agent under ``<prefix>agent:<id>`` (with its
``state``; ``logged_out`` when not logged in) and the set of agent ids under
``<prefix>agents``.  Read-only: seats/ never writes the ACD's keys, and does
not import acd/ so the two parts stay independent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time

import asyncio_redis

from hotline.errors import Unreachable
from seats.errors import SeatsError
from seats.roster import Roster, on_duty

PASSWORD_ENV = "HOTLINE_REDIS_PASSWORD"  # the same variable the ACD reads; never logged


async def _read(host: str, port: int, prefix: str, db: int, password: str | None) -> dict[str, dict]:
    conn = await asyncio_redis.Connection.create(host=host, port=port, db=db, password=password,
                                                 auto_reconnect=False)
    try:
        ids = sorted(await conn.smembers_asset(f"{prefix}agents"))
        values = await conn.mget_aslist([f"{prefix}agent:{i}" for i in ids]) if ids else []
    finally:
        conn.close()
    out = {}
    for agent_id, raw in zip(ids, values):
        if raw is None:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue  # a damaged entry is the ACD's business; skip it here
        if isinstance(data, dict):
            out[agent_id] = data
    return out


def read_agent_states(host: str, port: int, *, prefix: str = "hotline:", db: int = 0,
                      timeout_s: float = 3.0) -> dict[str, dict]:
    """Agent id -> its state record.  A Redis that does not answer is :class:`Unreachable` (exit 3,
    worded like every other command's), not a user's mistake: the operator fixes the network."""
    password = os.environ.get(PASSWORD_ENV) or None
    t0 = time.monotonic()
    try:
        return asyncio.run(asyncio.wait_for(_read(host, port, prefix, db, password), timeout_s))
    except (OSError, asyncio.TimeoutError) as exc:
        raise Unreachable("Redis", f"{host}:{port}", exc) from None
    except asyncio_redis.NotConnectedError:
        # the time limit cancels the connect, which asyncio_redis reports as a lost connection
        late = time.monotonic() - t0 >= timeout_s * 0.9
        raise Unreachable("Redis", f"{host}:{port}",
                          f"no answer within {timeout_s:g} s" if late else "the connection was lost") from None
    except asyncio_redis.Error as exc:
        raise SeatsError(f"Redis at {host}:{port} refused the request: {exc}") from None


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
