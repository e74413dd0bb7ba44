"""Wrap-up extension, wrap-up done, and supervisors' forced pause/logout, on both stores (the
in-memory reference and the real Redis with its Lua scripts), then through the engine-facing API."""

from __future__ import annotations

import json

import pytest

from acd.model import AcdError, Call, CallState
from acd.service import Acd

T0 = 1_790_000_000.0
MAX_S = 20.0


async def on_call(store, cfg, agent="c1", call_id="x", at=T0):
    """``agent`` logged in and talking on ``call_id`` (queue changchun) since ``at``."""
    await store.sync_agents(cfg.agents, at)
    await store.agent_action(agent, "login", "", at)
    await store.enqueue(Call(call_id=call_id, queue="changchun", enqueued_at=at, caller="13900000000"))
    assert await store.claim([(call_id, agent, 10, 5)], at + 1)
    assert await store.ring_result(call_id, agent, "ANSWER", at + 2, 2) == "connected"


async def in_wrapup(store, cfg, agent="c1", call_id="x", ended=T0 + 52, wrap=5.0):
    await on_call(store, cfg, agent, call_id)
    assert await store.call_ended(call_id, agent, 50, ended, wrap)
    a = await store.get_agent(agent)
    assert (a.state, a.wrap_until) == ("wrapup", ended + wrap)


async def test_extension_moves_the_end_of_wrapup_up_to_the_maximum(store, cfg):
    await in_wrapup(store, cfg)                                   # wrap-up 52 .. 57
    a = await store.wrapup_extend("c1", 10, MAX_S, T0 + 53)
    assert (a.state, a.wrap_until) == ("wrapup", T0 + 67)
    assert await store.release_wrapups(T0 + 57) == []             # the old end no longer frees c1
    assert await store.release_wrapups(T0 + 66.9) == []
    a = await store.wrapup_extend("c1", 10, MAX_S, T0 + 60)       # 77 asked, 52 + 20 = 72 allowed
    assert a.wrap_until == T0 + 72
    with pytest.raises(AcdError, match=r"^agent 'c1': wrap-up is already at its maximum of 20 s$"):
        await store.wrapup_extend("c1", 1, MAX_S, T0 + 61)
    assert (await store.get_agent("c1")).wrap_until == T0 + 72    # the refusal changed nothing
    assert await store.release_wrapups(T0 + 71.9) == []
    assert await store.release_wrapups(T0 + 72) == ["c1"]
    assert (await store.get_agent("c1")).state == "available"


async def test_a_wrapup_over_but_not_yet_released_extends_from_now(store, cfg):
    await in_wrapup(store, cfg)                                   # ends 57; nobody released it yet
    a = await store.wrapup_extend("c1", 5, MAX_S, T0 + 60)
    assert a.wrap_until == T0 + 65
    assert await store.release_wrapups(T0 + 61) == []


async def test_extension_refused_when_not_in_wrapup_changes_nothing(store, cfg):
    with pytest.raises(AcdError, match="unknown agent 'nobody'"):
        await store.wrapup_extend("nobody", 10, MAX_S, T0)
    await on_call(store, cfg)
    before = (await store.get_agent("c1")).to_dict()
    with pytest.raises(AcdError, match=r"^agent 'c1' is not in wrap-up \(talking\)$"):
        await store.wrapup_extend("c1", 10, MAX_S, T0 + 3)
    assert (await store.get_agent("c1")).to_dict() == before
    with pytest.raises(AcdError, match=r"is not in wrap-up \(logged_out\)"):
        await store.wrapup_extend("c2", 10, MAX_S, T0 + 3)


async def test_wrapup_done_ends_only_that_calls_wrapup_and_applies_a_pending_logout(store, cfg):
    await on_call(store, cfg)
    a = await store.agent_action("c1", "logout", "", T0 + 10)
    assert (a.state, a.pending) == ("talking", "logout")
    a, done = await store.wrapup_done("c1", "x", T0 + 11)         # still talking: not in wrap-up
    assert (a.state, done) == ("talking", False)
    assert await store.call_ended("x", "c1", 50, T0 + 52, 30)
    a, done = await store.wrapup_done("c1", "another-call", T0 + 53)
    assert (a.state, done) == ("wrapup", False)
    a, done = await store.wrapup_done("c1", "x", T0 + 54)
    assert (a.state, a.pending, a.call_id, done) == ("logged_out", "", "", True)
    assert await store.release_wrapups(T0 + 90) == []             # out of the wrap-up set too


# -- the engine-facing API ----------------------------------------------------------------------

@pytest.fixture
async def node(store, cfg, clock):
    clock.now = T0
    acd = Acd(store, cfg, "n1", clock=clock)
    rows: list[tuple[str, dict]] = []
    acd.attach_records(lambda kind, row: rows.append((kind, row)))
    await acd.start(loops=False)
    acd.rows = rows
    yield acd
    await acd.stop(flush_s=1)


def audits(node):
    return [(r["user"], r["action"], json.loads(r["detail"])) for kind, r in node.rows if kind == "audit"]


async def test_forced_logout_waits_for_the_call_and_its_wrapup_and_is_audited(node, store, cfg, clock):
    await on_call(store, cfg, at=T0)
    clock.now = T0 + 10
    a = await node.force_logout("c1", by="wang")
    assert (a.state, a.pending) == ("talking", "logout")          # the call goes on
    [(user, action, detail)] = audits(node)
    assert (user, action, detail["agent"], detail["effect"], detail["state_before"]) == (
        "wang", "force_logout", "c1", "after the call", "talking")
    clock.now = T0 + 52
    assert await node.call_ended("x", "c1", 50)
    assert (await store.get_agent("c1")).state == "wrapup"        # wrap-up is not cut either
    clock.now = T0 + 58
    await node.tick()
    assert (await store.get_agent("c1")).state == "logged_out"
    with pytest.raises(AcdError, match="agent 'c1' is logged out"):
        await node.force_logout("c1", by="wang")
    with pytest.raises(AcdError, match="unknown agent 'zz'"):
        await node.force_pause("zz", by="wang")
    with pytest.raises(AcdError, match="--by: which supervisor"):
        await node.force_pause("c2", by=" ")
    assert len(audits(node)) == 1                                 # refusals are not audited


async def test_forced_pause_of_an_idle_agent_is_at_once(node, store, cfg, clock):
    await store.sync_agents(cfg.agents, T0)
    await node.login("c2")
    a = await node.force_pause("c2", by="li", reason="coaching")
    assert (a.state, a.reason, a.pending) == ("paused", "coaching", "")
    a = await node.force_pause("c2", by="li")                     # already paused: the reason is the supervisor's
    assert (a.state, a.reason) == ("paused", "supervisor")
    assert [(u, act, d["effect"], d.get("reason")) for u, act, d in audits(node)] == [
        ("li", "force_pause", "now", "coaching"), ("li", "force_pause", "now", "supervisor")]


async def test_api_extension_uses_the_calls_queue_maximum(node, store, cfg, clock):
    await in_wrapup(store, cfg)                                   # queue changchun: max_wrapup_s 300 by default
    clock.now = T0 + 53
    a = await node.wrapup_extend("c1", 1000)
    assert a.wrap_until == T0 + 52 + cfg.queues["changchun"].max_wrapup_s
    with pytest.raises(AcdError, match="above 0"):
        await node.wrapup_extend("c1", 0)
    with pytest.raises(AcdError, match="is not in wrap-up"):
        await node.wrapup_extend("c2", 10)


async def test_api_disposition_by_the_agent_of_an_ended_call(node, store, cfg, clock):
    await on_call(store, cfg)
    with pytest.raises(AcdError, match="is connected: record its disposition once it has ended"):
        await node.record_disposition("x", "c1", "consult")
    clock.now = T0 + 52
    assert await node.call_ended("x", "c1", 50)
    with pytest.raises(AcdError, match="handled by agent 'c1', not 'c2'"):
        await node.record_disposition("x", "c2", "consult")
    with pytest.raises(AcdError, match="--category 'advice'"):
        await node.record_disposition("x", "c1", "advice")
    assert [k for k, _ in node.rows if k == "disposition"] == []
    row, agent = await node.record_disposition("x", "c1", "complaint", note="路灯不亮", work_order=True, done=True)
    assert (row["category"], row["work_order"], row["note"]) == ("投诉", True, "路灯不亮")
    assert (agent.state, (await store.get_call("x")).state) == ("available", CallState.ENDED)
