"""Two engine nodes on one PBX and one Redis: one owner per call, no agent given two calls,
and the callers of a node that dies reach agents through the other."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import redis.asyncio as aioredis

from acd import config as acd_config_mod
from acd.model import Agent
from ivr import settings as settings_mod
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx
from ivr.pbx.scripts import AgentBehaviour, LoadProfile
from ivr.runtime import ROOT, build_runtime, scaled_clock

SPEED = 20.0
CALLS = 1000
QUEUES = ["changchun", "province", "jilin", "yanbian"]


def acd_config(prefix: str, agents: int):
    """config/acd.yaml with ``agents`` test agents under ``prefix`` (given a hash tag when it has none)."""
    if "{" not in prefix:
        prefix = "{" + prefix.rstrip(":") + "}:"
    cfg = acd_config_mod.load(ROOT / "config" / "acd.yaml")
    people = [Agent(id=str(3000 + i), dial=f"Local/{3000 + i}@agents", center="changchun", queues=list(QUEUES),
                    skills={"zh": 3, "ko": 3, "enterprise": 3, "expert": 3}) for i in range(agents)]
    return dataclasses.replace(cfg, agents=people, redis=dataclasses.replace(cfg.redis, prefix=prefix),
                               callbacks=dataclasses.replace(cfg.callbacks, enabled=False))


async def wipe(prefix: str) -> None:
    conn = aioredis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    try:
        keys = [k async for k in conn.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await conn.delete(*keys)
    finally:
        await conn.aclose()


async def two_nodes(pbx_agents: int, talk_s: float, lease_s: float = 1.0):
    prefix = f"{{test:nodes:{os.urandom(4).hex()}}}:"
    secret = os.urandom(8).hex()
    behaviours = {f"Local/{3000 + i}@agents": AgentBehaviour(kind="answer", answer_after_s=1.0, talk_s=talk_s)
                  for i in range(pbx_agents)}
    # agents' phones take one call at a time, as in a call center: a ring that reaches an
    # agent already talking (an offer taken back under load, then answered late) is BUSY
    pbx = Pbx(PbxConfig.load(speed=SPEED, seed=3, secret=secret, one_call_per_agent=True), agents=behaviours)
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, port, True
    clock = scaled_clock(SPEED)
    cfg = acd_config(prefix, pbx_agents)
    nodes = []
    for name in ("node-a", "node-b"):
        rt = await build_runtime(settings, secret=secret, acd_store="redis", acd_config=cfg, login_all=True,
                                 node=name, speed=SPEED, lease_s=lease_s, clock=clock)
        await rt.start()
        nodes.append(rt)
    return pbx, nodes, prefix


def assert_no_agent_twice(pbx) -> None:
    talks: dict[str, list[tuple[float, float]]] = {}
    for rec in pbx.records:
        for d in rec.dials:
            if d.status == "ANSWER":
                talks.setdefault(d.target, []).append((d.answered, d.end or rec.end))
    for target, spans in talks.items():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 >= a1 - 1e-3, f"{target} was in two calls at once"


async def test_two_nodes_share_one_pbx_without_double_assignment():
    # 3 s leases (60 s of PBX time): a loaded 2-core machine starves a node past 1 s
    pbx, nodes, prefix = await two_nodes(pbx_agents=40, talk_s=5.0, lease_s=3.0)
    try:
        scripts = LoadProfile(rate_per_s=6.0, calls=CALLS, seed=7, patience_mean_s=None, abandon_in_menu=0.0).scripts()
        handles = []
        t0 = asyncio.get_running_loop().time()
        for offset, script in scripts:
            await asyncio.sleep(max(0.0, offset / SPEED - (asyncio.get_running_loop().time() - t0)))
            handles.append(pbx.place_call(script))
        # one process plays the PBX, two nodes and 1000 callers: on a loaded 2-core machine
        # placing them alone takes 35 s, so the deadline is generous; a stuck call still fails it
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 120)
        for rt in nodes:
            await asyncio.wait_for(_drained(rt), 10)
    finally:
        await _stop_all(pbx, nodes, prefix)
    # a node starved past its lease lets the call go to the node that took it (handed_over)
    served = [{r.call_id for r in rt.engine.finished if r.outcome not in ("elsewhere", "handed_over")}
              for rt in nodes]
    assert not served[0] & served[1], "a call was served by both nodes"
    assert served[0] | served[1] == {r.call_id for r in pbx.records}, "a call was served by no node"
    assert all(r.end is not None for r in pbx.records)
    answered = sum(1 for r in pbx.records if r.talked_to)
    assert answered >= CALLS * 0.9
    assert all(rt.engine.supervisor.failures == 0 for rt in nodes)
    assert_no_agent_twice(pbx)


async def _stop_all(pbx, nodes, prefix: str) -> None:
    for rt in nodes:
        await rt.stop()
    await pbx.stop()
    await wipe(prefix)


async def _drained(rt):
    while rt.engine.calls:
        await asyncio.sleep(0.05)


async def test_callers_of_a_dead_node_still_reach_agents():
    pbx, nodes, prefix = await two_nodes(pbx_agents=2, talk_s=20.0)
    survivor = None
    try:
        scripts = LoadProfile(rate_per_s=2.0, calls=10, seed=11, patience_mean_s=None, abandon_in_menu=0.0).scripts()
        handles = [pbx.place_call(s) for _, s in scripts]
        # Wait until a node holds callers who wait on hold music; that node dies.
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        waiting: list[str] = []
        while loop.time() < end and len(waiting) < 2:
            for rt in nodes:
                waiting = [uid for uid, r in rt.engine.records.items()
                           if r.queued is not None and r.agent_answered is None and r.outcome != "elsewhere"]
                if len(waiting) >= 2:
                    dead = rt
                    break
            await asyncio.sleep(0.05)
        assert len(waiting) >= 2, "no node held waiting callers"
        survivor = nodes[1] if dead is nodes[0] else nodes[0]
        await _die(dead)
        # 100 s, not 40: a caller the dying node was just taking up can be hung up on the way
        # down (its HANGUP goes out before the node is silent) while still waiting in the ACD;
        # its offers then hold an agent until reaped, each up to ring + grace on Redis's own
        # clock (real seconds, while the PBX runs 20x), up to max_reaps times
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 100)
    finally:
        for rt in nodes:
            if rt is not locals().get("dead"):
                await rt.stop()
        await pbx.stop()
        await wipe(prefix)
    # _die cancels the node's tasks: a call task cancelled before its hang-up flag could be set
    # still hangs its caller up (a real crash would not); such callers are not the survivor's
    hung_up_by_dying = {r.call_id for r in pbx.records
                        if r.hangup_by == "engine" and not r.talked_to and r.call_id in waiting}
    assert len(hung_up_by_dying) <= 2, hung_up_by_dying
    waiting = [uid for uid in waiting if uid not in hung_up_by_dying]
    assert survivor.engine.adopted >= len(waiting)
    talked = {r.call_id for r in pbx.records if r.talked_to}
    assert set(waiting) <= talked, "a caller of the dead node never reached an agent"
    assert len(talked) == 10 - len({r.call_id for r in pbx.records if r.hangup_by == "engine" and not r.talked_to})
    assert_no_agent_twice(pbx)


async def test_a_node_whose_lease_was_taken_lets_the_call_go():
    """A node starved past its lease (seen under load with 1 s leases) must not go on driving
    a channel another node has won: it lets go, and the winner serves the caller to the end."""
    pbx, nodes, prefix = await two_nodes(pbx_agents=1, talk_s=600.0)     # a call that lasts
    try:
        handle = pbx.place_call(LoadProfile(rate_per_s=1.0, calls=1, seed=5, patience_mean_s=None,
                                            abandon_in_menu=0.0).scripts()[0][1])
        owner = await _serving(nodes)
        other = nodes[1] if owner is nodes[0] else nodes[0]
        uid = next(iter(owner.engine.calls))
        conn = aioredis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
        try:   # as if the other node's renewal round had won it while this one was starved
            await conn.set(f"{prefix}owner:{uid}", f"{other.engine.node}|{time.time() + 60:.6f}")
        finally:
            await conn.aclose()
        await _until(lambda: any(r.call_id == uid for r in owner.engine.finished) and other.engine.adopted)
        handle.hang_up()
        await asyncio.wait_for(handle.wait(), 10)
        for rt in nodes:
            await asyncio.wait_for(_drained(rt), 10)
    finally:
        await _stop_all(pbx, nodes, prefix)
    lost = next(r for r in owner.engine.finished if r.call_id == uid)
    assert (lost.outcome, lost.reason) == ("handed_over", "lease lost: another node serves the call")
    won = next(r for r in other.engine.finished if r.call_id == uid)
    assert won.outcome not in ("elsewhere", "handed_over", "failed")
    assert other.engine.adopted == 1
    assert all(r.end is not None for r in pbx.records)


async def _until(condition, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not condition():
        if loop.time() > end:
            raise AssertionError("the node that lost its lease did not let go")
        await asyncio.sleep(0.02)


async def _serving(nodes):
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while loop.time() < end:
        for rt in nodes:
            if any(r.answered is not None for r in rt.engine.records.values()):   # it ran ANSWER
                return rt
        await asyncio.sleep(0.02)
    raise AssertionError("no node served the call")


async def _die(rt) -> None:
    """A node dies: no more AGI commands, no lease renewal, no goodbye to its callers."""
    engine = rt.engine
    engine.leases = None                      # nothing released on the way down
    for call in engine.calls.values():
        call.hung_up = True                   # so no HANGUP is sent for them
    await engine.supervisor.cancel_all()
    await rt.acd.stop()
    await rt.link.close()
