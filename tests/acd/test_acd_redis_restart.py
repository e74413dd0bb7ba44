"""Redis stopped and restarted (empty) under two running nodes.

The test starts its own redis-server on a free port (no persistence) so that
stopping it disturbs nobody else.  What must hold: a connected call carries on
and ends normally, requests made during the outage wait and then succeed,
waiting callers keep their places, nobody is assigned twice, and the nodes say
so in their status.
"""

from __future__ import annotations

import asyncio


from acd.model import CallRequest
from acd.service import Acd

import acd_fixtures
from acd_fixtures import Ledger, free_port, race_config, redis_store, start_redis, stop_redis, unique_prefix


def until(pred, timeout=15.0, what=""):
    return acd_fixtures.until(pred, timeout, what, poll_s=0.05)


async def test_redis_restart_mid_run():
    port = free_port()
    proc = await start_redis(port)
    prefix = unique_prefix("restart")
    cfg = race_config(4, ring_timeout=5, grace=1, callbacks=False)
    nodes = []
    try:
        for name in ("node-a", "node-b"):
            store = await redis_store(prefix, port=port)
            node = Acd(store, cfg, name, dispatch_interval_s=0.05, maintenance_interval_s=0.1,
                       stats_interval_s=0.1, backoff_max_s=0.2, recovery_window_s=0.5)
            await node.start()
            nodes.append(node)
        a, b = nodes
        # a1 takes a call and is talking when Redis dies; a2, a4 are paused; a0 logged out
        await a.login("a1")
        await a.enqueue(CallRequest("talk", "changchun", caller="1"))
        offer = await asyncio.wait_for(a.wait_offer("talk"), 5)
        assert offer.agent_id == "a1"
        assert await a.ring_result("talk", "a1", "ANSWER") == "connected"
        for aid in ("a2", "a3"):
            await b.login(aid)
            await b.pause(aid, "meeting")
        for cid in ("w1", "w2"):
            await b.enqueue(CallRequest(cid, "changchun", caller="2"))
        waits = {cid: asyncio.create_task(b.wait_offer(cid)) for cid in ("w1", "w2")}
        await asyncio.sleep(0.4)        # both nodes' stats loops have seen every agent

        stop_redis(proc)
        await until(lambda: not a.status["store_ok"] and not b.status["store_ok"], what="nodes noticing")
        # requests during the outage wait (retry with backoff) instead of failing
        late = asyncio.create_task(a.enqueue(CallRequest("w3", "changchun", caller="3")))
        await asyncio.sleep(0.5)
        assert not late.done()

        proc = await start_redis(port)   # back, and empty
        result = await asyncio.wait_for(late, 20)
        assert result.position >= 1
        await until(lambda: a.status["store_ok"] and b.status["store_ok"], what="nodes recovering")

        # the connected call survived: its agent is talking again and nobody else gets a1
        agent = await until(lambda: _agent(b, "a1", "talking"), what="a1 talking again")
        assert agent.call_id == "talk"
        assert [x.state for x in [await b.store.get_agent("a2"), await b.store.get_agent("a3")]] == ["paused", "paused"]
        assert await b.store.position("w1") == (1, "changchun")
        assert await b.store.position("w2") == (2, "changchun")
        assert await b.store.position("w3") == (3, "changchun")
        assert not any(t.done() for t in waits.values())

        # agents come back: the waiting callers are served in order, a1 only after its call ends
        await b.resume("a2")
        first = await asyncio.wait_for(waits["w1"], 10)
        assert first.agent_id == "a2"
        assert await a.call_ended("talk", "a1", 12.0)
        second = await asyncio.wait_for(waits["w2"], 10)
        assert second.agent_id == "a1"
        await b.resume("a3")
        third = await asyncio.wait_for(a.wait_offer("w3"), 10)
        assert third.agent_id == "a3"
        assert a.store_errors > 0 and b.store_errors > 0
    finally:
        for node in nodes:
            await node.stop()
        if proc.poll() is None:
            stop_redis(proc)


async def _agent(node, aid, state):
    agent = await node.store.get_agent(aid)
    return agent if agent is not None and agent.state == state else None


async def test_redis_restart_under_load_assigns_nobody_twice():
    """Callers keep flowing through two nodes while Redis dies and comes back empty."""
    import random

    port = free_port()
    proc = await start_redis(port)
    prefix = unique_prefix("restart-load")
    cfg = race_config(12, ring_timeout=5, grace=1, callbacks=False)
    nodes = []
    ledger = Ledger()
    rng = random.Random(3)
    try:
        for name in ("node-a", "node-b"):
            node = Acd(await redis_store(prefix, port=port), cfg, name, dispatch_interval_s=0.05,
                       maintenance_interval_s=0.1, stats_interval_s=0.1, backoff_max_s=0.2, recovery_window_s=1.0)
            await node.start()
            nodes.append(node)
        for i, agent in enumerate(cfg.agents):
            await nodes[i % 2].login(agent.id)

        async def caller(i):
            await asyncio.sleep(i * 0.01)
            node = nodes[i % 2]
            cid = f"r{i}"
            await node.enqueue(CallRequest(cid, "changchun" if i % 3 else "province", ["zh"], caller="1"))
            while True:
                offer = await asyncio.wait_for(node.wait_offer(cid), 60)
                ledger.take(offer.agent_id, cid)
                result = await node.ring_result(cid, offer.agent_id, "ANSWER")
                if result != "connected":            # taken back meanwhile: drop the agent leg, wait again
                    ledger.free(offer.agent_id, cid)
                    continue
                await asyncio.sleep(rng.random() * 0.05)
                ledger.free(offer.agent_id, cid)
                assert await node.call_ended(cid, offer.agent_id, 0.05)
                ledger.served.add(cid)
                return

        async def outage():
            await asyncio.sleep(0.8)
            stop_redis(proc_box[0])
            await asyncio.sleep(0.7)
            proc_box[0] = await start_redis(port)

        proc_box = [proc]
        n = 300
        await asyncio.wait_for(asyncio.gather(outage(), *(caller(i) for i in range(n))), 90)
        proc = proc_box[0]
        assert ledger.doubles == []
        assert len(ledger.served) == n
        assert all(node.store_errors > 0 for node in nodes)
        assert all(node.status["store_ok"] for node in nodes)
    finally:
        for node in nodes:
            await node.stop()
        proc = proc_box[0] if "proc_box" in locals() else proc
        if proc.poll() is None:
            stop_redis(proc)
