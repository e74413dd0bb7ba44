"""Blind transfers an agent asks for, on the built-in PBX over real sockets, two engine nodes, one Redis.

The request comes the way `acd call transfer` makes it: written to the shared store
by a third party, not by the node that owns the caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import pytest

from acd import config as acd_config_mod, transfers
from acd.model import AcdError, Agent
from acd.redis_store import RedisStore
from ivr import settings as settings_mod
from ivr.demo import DemoOptions, _acd_and_prompts
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx
from ivr.pbx.scripts import AgentBehaviour, CallerScript
from ivr.runtime import ROOT, build_runtime, scaled_clock

from test_two_nodes import assert_no_agent_twice, wipe

SPEED = 20.0
CITY, PROVINCE = ["3000", "3001"], ["3100"]


def config(prefix: str):
    cfg = acd_config_mod.load(ROOT / "config" / "acd.yaml")
    cities = [q for q in cfg.queues if q != "province"]
    skills = {"zh": 3, "ko": 3, "enterprise": 3, "expert": 3}
    people = [Agent(id=a, dial=f"Local/{a}@agents", center="changchun", queues=cities, skills=skills) for a in CITY]
    people += [Agent(id=a, dial=f"Local/{a}@agents", center="province", queues=["province"], skills=skills)
               for a in PROVINCE]
    return dataclasses.replace(cfg, agents=people, redis=dataclasses.replace(cfg.redis, prefix=prefix),
                               callbacks=dataclasses.replace(cfg.callbacks, enabled=False))


class Center:
    def __init__(self, pbx, nodes, cfg, store):
        self.pbx, self.nodes, self.cfg, self.store = pbx, nodes, cfg, store

    async def talking(self, handle, agent: str, timeout: float = 20.0):
        """Wait until the caller talks to ``agent``; the call id."""
        async with asyncio.timeout(timeout):
            while not any(d.target == f"Local/{agent}@agents" and d.status == "ANSWER" and d.end is None
                          for d in handle.record.dials):
                await asyncio.sleep(0.02)
        return handle.record.call_id

    async def talking_to_any(self, handle, agents, timeout: float = 20.0) -> tuple[str, str]:
        async with asyncio.timeout(timeout):
            while True:
                for d in handle.record.dials:
                    for a in agents:
                        if d.target == f"Local/{a}@agents" and d.status == "ANSWER" and d.end is None:
                            return handle.record.call_id, a
                await asyncio.sleep(0.02)

    async def connected(self, handle, agents, timeout: float = 20.0) -> tuple[str, str]:
        """Talking to one of ``agents``, and the ACD has heard of the answer: (call id, agent)."""
        call_id, agent = await self.talking_to_any(handle, agents, timeout)
        async with asyncio.timeout(timeout):
            while (await self.store.get_call(call_id)).state != "connected":
                await asyncio.sleep(0.02)
        return call_id, agent

    async def record(self, call_id: str, timeout: float = 20.0):
        """The engine's record of the call, from whichever node served it."""
        async with asyncio.timeout(timeout):
            while True:
                for rt in self.nodes:
                    for r in rt.engine.finished:
                        if r.call_id == call_id and r.outcome not in ("elsewhere", "handed_over"):
                            return r
                await asyncio.sleep(0.05)

    def transfer_legs(self, record) -> list[dict]:
        return [a for a in record.dial_attempts if "transfer" in a]


@pytest.fixture
async def center(request):
    """``request.param`` (indirect): the city agents' keys while talking (AgentBehaviour.keys)."""
    prefix = f"{{test:xfer:{os.urandom(4).hex()}}}:"
    secret = os.urandom(8).hex()
    answer = AgentBehaviour(kind="answer", answer_after_s=1.0, talk_s=600.0, keys=getattr(request, "param", ()))
    behaviours = {f"Local/{a}@agents": answer for a in CITY}
    behaviours.update({f"Local/{a}@agents": AgentBehaviour(kind="answer", answer_after_s=1.0, talk_s=20.0)
                       for a in PROVINCE})
    behaviours["Local/110@hotline-out"] = AgentBehaviour(kind="busy")
    behaviours["Local/119@hotline-out"] = AgentBehaviour(kind="noanswer")
    behaviours["Local/12399@hotline-out"] = AgentBehaviour(kind="answer", answer_after_s=2.0, talk_s=20.0)
    pbx = Pbx(PbxConfig.load(speed=SPEED, seed=5, secret=secret, one_call_per_agent=True), agents=behaviours)
    pbx.config.prompts.update(_acd_and_prompts(DemoOptions(agents=1))[1])    # the shipped prompts' lengths
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, port, True
    cfg = config(prefix)
    clock = scaled_clock(SPEED)
    nodes = []
    store = None
    try:
        for name in ("node-a", "node-b"):
            rt = await build_runtime(settings, secret=secret, acd_store="redis", acd_config=cfg, login_all=True,
                                     node=name, speed=SPEED, lease_s=3.0, clock=clock)
            await rt.start()
            nodes.append(rt)
        store = await RedisStore.connect("127.0.0.1", 6379, prefix=prefix, poolsize=1)
        yield Center(pbx, nodes, cfg, store)
    finally:
        for channel in list(pbx.channels.values()):
            pbx.hangup(channel, cause=16, by="caller")
        for rt in nodes:
            await rt.stop()
        if store is not None:
            await store.close()
        await pbx.stop()
        await wipe(prefix)


async def ask(center: Center, call_id: str, target: str, **kw):
    """What `acd call transfer` does: a plain write to the shared store."""
    return await transfers.request(center.store, center.cfg, call_id, target=target, now=time.time(), **kw)


async def test_blind_to_the_province_queue_reaches_a_province_agent(center):
    handle = center.pbx.place_call(CallerScript(number="13912345601", keys=[(0.5, "2")]))
    call_id, first = await center.connected(handle, CITY)
    req = await ask(center, call_id, "province")
    assert req.agent_id == first and req.queue == "province"
    await center.talking(handle, PROVINCE[0])
    pbx_rec = await handle.wait(60)
    rec = await center.record(call_id)
    legs = center.transfer_legs(rec)
    assert [(leg["transfer"], leg["kind"], leg["by"], leg["queue"], leg["status"]) for leg in legs] == [
        ("province", "blind", first, "province", "ANSWER")]
    assert rec.agent == PROVINCE[0] and rec.queue == "province"
    answered = [d.target for d in pbx_rec.dials if d.status == "ANSWER"]
    assert answered == [f"Local/{first}@agents", f"Local/{PROVINCE[0]}@agents"]
    # the caller heard hold music between the two, never silence
    assert pbx_rec.max_silence_s < 2.0, pbx_rec.max_silence_s
    agent = await center.store.get_agent(first)
    assert agent.state in ("wrapup", "available") and agent.calls == 1
    assert_no_agent_twice(center.pbx)


async def test_blind_to_an_outside_number_that_answers(center):
    handle = center.pbx.place_call(CallerScript(number="13912345602", keys=[(0.5, "2")]))
    call_id, first = await center.connected(handle, CITY)
    await ask(center, call_id, "12399")
    pbx_rec = await handle.wait(60)
    rec = await center.record(call_id)
    assert [(leg["transfer"], leg["status"]) for leg in center.transfer_legs(rec)] == [("12399", "ANSWER")]
    assert rec.outcome == "transferred"
    assert [(d.target, d.status) for d in pbx_rec.dials] == [
        (f"Local/{first}@agents", "ANSWER"), ("Local/12399@hotline-out", "ANSWER")]
    agent = await center.store.get_agent(first)
    assert agent.state in ("wrapup", "available") and agent.call_id in ("", call_id)


async def test_a_busy_number_brings_the_caller_back_to_the_same_agent(center):
    handle = center.pbx.place_call(CallerScript(number="13912345603", keys=[(0.5, "2")], hangup_after_s=120))
    call_id, first = await center.connected(handle, CITY)
    await ask(center, call_id, "110")
    async with asyncio.timeout(20):
        while sum(1 for d in handle.record.dials if d.target == f"Local/{first}@agents" and d.status == "ANSWER") < 2:
            await asyncio.sleep(0.02)
    pbx_rec = await handle.wait(60)
    assert [(d.target, d.status) for d in pbx_rec.dials] == [
        (f"Local/{first}@agents", "ANSWER"), ("Local/110@hotline-out", "BUSY"), (f"Local/{first}@agents", "ANSWER")]
    rec = await center.record(call_id)
    assert [(leg["transfer"], leg["status"]) for leg in center.transfer_legs(rec)] == [("110", "BUSY")]
    assert rec.agent == first
    assert pbx_rec.max_silence_s < 2.0, pbx_rec.max_silence_s


async def test_a_transfer_raced_by_the_callers_hang_up_leaves_consistent_records(center):
    # the caller gives up while 119 rings (it never answers)
    handle = center.pbx.place_call(CallerScript(number="13912345604", keys=[(0.5, "2")], hangup_after_s=20))
    call_id, first = await center.connected(handle, CITY)
    await ask(center, call_id, "119")
    pbx_rec = await handle.wait(60)
    assert pbx_rec.hangup_by == "caller", pbx_rec
    rec = await center.record(call_id)
    assert [(leg["transfer"], leg["status"]) for leg in center.transfer_legs(rec)] == [("119", "CALLER_GONE")]
    call = await center.store.get_call(call_id)
    assert call.state == "ended" and call.agent_id == first
    agent = await center.store.get_agent(first)
    assert agent.state in ("wrapup", "available") and agent.call_id in ("", call_id)
    # the call is over: a late request is refused and changes nothing
    with pytest.raises(AcdError, match="not talking to an agent"):
        await ask(center, call_id, "province")


@pytest.mark.parametrize("center", [((4.0, "7#1"), (6.0, "1#"))], indirect=True)
async def test_an_agent_on_a_plain_phone_keys_the_transfer(center):
    """#1, the province queue's code, #: the engine reads the keys from the agent's leg (DTMFEnd,
    Direction Received) and asks the ACD as the console would; the 7 before is ignored."""
    handle = center.pbx.place_call(CallerScript(number="13912345605", keys=[(0.5, "2")]))
    call_id, first = await center.connected(handle, CITY)
    await center.talking(handle, PROVINCE[0])
    pbx_rec = await handle.wait(60)
    rec = await center.record(call_id)
    assert [(leg["transfer"], leg["by"], leg["status"]) for leg in center.transfer_legs(rec)] == [
        ("province", first, "ANSWER")]
    assert [d.target for d in pbx_rec.dials if d.status == "ANSWER"] == [
        f"Local/{first}@agents", f"Local/{PROVINCE[0]}@agents"]
    # the keys reached the caller too, as any key pressed in a bridge does; none was taken for a menu
    assert "7" not in pbx_rec.digits
