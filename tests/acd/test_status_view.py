"""`acd status` as a supervisor reads it: 80 columns, a stopped node not `ok`, a stale wrap-up said so.

The store is the real Redis under a unique prefix, filled through the store's own
calls (login, a call answered and ended), with the shipped config's queues so the
widest real queue names are in the tables.
"""

from __future__ import annotations

import inspect
import io
import json

import pytest
from acd_fixtures import redis_store, unique_prefix, wipe

from acd import cli, status_view
from acd import config as config_mod
from acd import stats as stats_mod
from acd.model import Call
from acd.service import Acd, collect_stats
from hotline import paths

T0 = 1_790_000_000.0


@pytest.fixture
async def shipped():
    """The shipped config and a Redis store under a fresh prefix, wiped afterwards."""
    cfg = config_mod.load(paths.DEFAULTS / "acd.yaml")
    prefix = unique_prefix("view")
    store = await redis_store(prefix)
    await store.sync_agents(cfg.agents, T0)
    try:
        yield cfg, store, prefix
    finally:
        await store.close()
        await wipe(prefix)


async def one_call_then_wrapup(store, cfg, agent_id: str, queue: str, ended_at: float) -> None:
    """An agent logs in, answers one call and hangs up at ``ended_at``: wrap-up starts then."""
    await store.agent_action(agent_id, "login", "", T0)
    await store.enqueue(Call(call_id="x1", queue=queue, skills=[], priority=0, enqueued_at=T0 + 1, caller="13900000000"))
    assert await store.claim([("x1", agent_id, 15, 5)], T0 + 3)
    assert await store.ring_result("x1", agent_id, "ANSWER", T0 + 5, 3) == "connected"
    assert await store.call_ended("x1", agent_id, ended_at - T0 - 5, ended_at, cfg.queues[queue].wrapup_s)


async def screen(store, cfg, now: float, width: int = 80) -> str:
    agents = await store.agents()
    figures = await collect_stats(store, cfg, now, agents)
    figures["nodes"] = await store.nodes()
    out = io.StringIO()
    status_view.print_status(figures, agents, out=out, width=width)
    return out.getvalue()


def widest(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(line.rstrip("\n")) for line in text.splitlines())


async def test_status_fits_80_columns_with_human_labels(shipped):
    cfg, store, _ = shipped
    await one_call_then_wrapup(store, cfg, "1301", "yanbian", T0 + 65)
    await store.heartbeat("engine-a", T0 + 66, "ok")
    text = await screen(store, cfg, T0 + 67)
    assert widest(text) <= 80, text
    for label in ("queue", "waiting", "longest", "free", "talking", "wrap-up", "paused", "offered",
                  "answered", "abandoned", "SL of", "average", "接通率", "changbaishan", "Agents", "1301"):
        assert label in text, label
    assert "…" not in text                      # nothing cut short to make it fit
    assert "node engine-a: ok, heard from 1 s ago" in text


async def test_a_node_silent_for_a_few_heartbeats_is_not_ok(shipped):
    cfg, store, _ = shipped
    await store.heartbeat("engine-a", T0, "ok")
    await store.heartbeat("engine-b", T0 + 300 - 1, "ok")
    text = await screen(store, cfg, T0 + 300)
    line_a = next(line for line in text.splitlines() if "engine-a" in line)
    line_b = next(line for line in text.splitlines() if "engine-b" in line)
    assert "NOT ANSWERING" in line_a and "5 min" in line_a and "ok" not in line_a
    assert "engine-b: ok" in line_b
    # The line between the two is a few heartbeats, not one: a late heartbeat is not a death.
    assert stats_mod.node_health({"n": (T0, "ok")}, T0 + 3 * stats_mod.HEARTBEAT_S)[0].answering
    assert not stats_mod.node_health({"n": (T0, "ok")}, T0 + stats_mod.NODE_SILENT_AFTER_S + 1)[0].answering


def test_the_heartbeat_interval_is_the_one_the_nodes_use():
    default = inspect.signature(Acd.__init__).parameters["stats_interval_s"].default
    assert default == stats_mod.HEARTBEAT_S


async def test_wrapup_long_over_with_no_engine_is_not_shown_as_wrapup(shipped):
    cfg, store, _ = shipped
    await one_call_then_wrapup(store, cfg, "1301", "yanbian", T0 + 65)     # wrap-up until T0 + 75
    await store.heartbeat("engine-a", T0 + 66, "ok")                         # then the engine stopped
    now = T0 + 75 + 300
    assert (await store.get_agent("1301")).state == "wrapup"                 # the store's word is kept
    text = await screen(store, cfg, now)
    row = [line for line in text.splitlines() if line.startswith("1301")]
    assert row and "wrap-up over 5 min ago" in " ".join(text.split()), text
    assert "no engine" in text and "still marked wrap-up" in text
    # While wrap-up runs, it is plain wrap-up.
    text = await screen(store, cfg, T0 + 70)
    row = next(line for line in text.splitlines() if line.startswith("1301"))
    assert "wrap-up" in row and "over" not in row
    assert widest(await screen(store, cfg, now)) <= 80


def test_json_keeps_the_field_names_and_the_tables_fit(capsys):
    """Through the command itself (it runs its own event loop, so this test is not async)."""
    import asyncio

    cfg = config_mod.load(paths.DEFAULTS / "acd.yaml")
    prefix = unique_prefix("view-cli")

    async def login():
        store = await redis_store(prefix)
        await store.sync_agents(cfg.agents, T0)
        await store.agent_action("1301", "login", "", T0)
        await store.close()

    asyncio.run(login())
    try:
        assert cli.main(["--prefix", prefix, "status", "--json"]) == 0
        figures = json.loads(capsys.readouterr().out)
        assert set(figures) == {"at", "service_level_s", "queues", "total", "agents", "nodes"}
        assert set(figures["agents"][0]) == {"agent", "state", "reason", "calls", "talk_s", "occupancy"}
        assert {"sl_answered", "sl_offered", "asa_s", "abandon_rate", "completion_24h"} <= set(figures["total"])
        assert cli.main(["--prefix", prefix, "status"]) == 0
        text = capsys.readouterr().out
        assert widest(text) <= 80 and "Last 24 h" in text and "1301" in text
    finally:
        asyncio.run(wipe(prefix))
