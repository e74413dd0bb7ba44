"""Two engine nodes on one Redis: racing for agents, and one node dying while callers wait.

These run the real background loops (dispatch, maintenance, stats) of two
:class:`Acd` instances, each with its own Redis connections, against the real
Redis server.  The "engine" here is a task per caller doing what the engine's
call owner does: enqueue, wait for an offer, ring, talk, hang up.
"""

from __future__ import annotations

import asyncio
import random


from acd.model import CallRequest
from acd.service import Acd

from acd_fixtures import Ledger, fast_node, race_config, unique_prefix


async def test_two_nodes_race_for_the_same_agents(store_factory):
    n_calls, n_agents = 2000, 40
    cfg = race_config(n_agents)
    prefix = unique_prefix("race")
    nodes = [fast_node(await store_factory(prefix, poolsize=4), cfg, f"node{i}") for i in range(2)]
    try:
        for node in nodes:
            await node.start()
        for i, agent in enumerate(cfg.agents):
            await nodes[i % 2].login(agent.id)
        ledger = Ledger()
        rng = random.Random(7)
        stop = asyncio.Event()

        async def caller(i):
            node = nodes[rng.randrange(2)]
            cid = f"c{i}"
            queue = "changchun" if i % 3 else "province"
            skills = ["enterprise"] if i % 7 == 0 else ["zh"]
            await node.enqueue(CallRequest(cid, queue, skills, priority=1 if i % 11 == 0 else 0, caller=f"139{i:08d}"))
            patient = rng.random() > 0.05
            while True:
                if not patient:
                    try:
                        offer = await asyncio.wait_for(node.wait_offer(cid), 0.01)
                    except asyncio.TimeoutError:
                        await node.abandoned(cid)
                        ledger.abandoned.add(cid)
                        return
                else:
                    offer = await asyncio.wait_for(node.wait_offer(cid), 60)
                assert offer.call_id == cid
                ledger.take(offer.agent_id, cid)
                if rng.random() < 0.1:
                    ledger.free(offer.agent_id, cid)
                    assert await node.ring_result(cid, offer.agent_id, "NOANSWER") == "requeued"
                    patient = True
                    continue
                assert await node.ring_result(cid, offer.agent_id, "ANSWER") == "connected"
                await asyncio.sleep(rng.random() * 0.005)
                ledger.free(offer.agent_id, cid)
                assert await node.call_ended(cid, offer.agent_id, 1.0)
                ledger.served.add(cid)
                return

        async def callback_worker(node):
            while not stop.is_set():
                offer = await node.next_callback(timeout_s=0.2)
                if offer is None:
                    continue
                ledger.take(offer.agent_id, offer.call_id)
                await asyncio.sleep(0.001)
                ledger.free(offer.agent_id, offer.call_id)
                assert await node.callback_result(offer.call_id, offer.agent_id, "ANSWER") == "connected"
                assert await node.call_ended(offer.call_id, offer.agent_id, 1.0)
                ledger.callbacks_served.add(offer.call_id)

        async def churn():
            # agents pause and come back while calls flow, on either node
            while not stop.is_set():
                aid = f"a{rng.randrange(n_agents)}"
                node = nodes[rng.randrange(2)]
                await node.pause(aid, "break")
                await asyncio.sleep(0.01)
                await node.resume(aid)

        sem = asyncio.Semaphore(400)

        async def limited(i):
            async with sem:
                await caller(i)

        workers = [asyncio.create_task(callback_worker(n)) for n in nodes] + [asyncio.create_task(churn())]
        try:
            await asyncio.wait_for(asyncio.gather(*(limited(i) for i in range(n_calls))), 120)
            deadline = asyncio.get_running_loop().time() + 30
            while len(ledger.callbacks_served) < len(ledger.abandoned):
                assert asyncio.get_running_loop().time() < deadline, "callbacks not all served"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
        assert ledger.doubles == []
        assert len(ledger.served) + len(ledger.abandoned) == n_calls
        assert ledger.callbacks_served == {f"cb:{c}" for c in ledger.abandoned}
        assert all(n.dispatched > 0 for n in nodes), [n.dispatched for n in nodes]
        # nothing left waiting or ringing, every agent free again
        waiting = await nodes[0].store.waiting()
        assert sum(len(v) for v in waiting.values()) == 0
        for _ in range(50):
            states = {a.state for a in await nodes[0].store.agents()}
            if states <= {"available", "paused"}:
                break
            await asyncio.sleep(0.05)
        assert states <= {"available", "paused"}
        figures = await nodes[1].stats()
        total = figures["total"]
        assert total["answered"] == len(ledger.served) and total["abandoned"] == len(ledger.abandoned)
        print(f"\nrace: dispatched {[n.dispatched for n in nodes]}, conflicts {[n.claim_conflicts for n in nodes]}, "
              f"abandoned {len(ledger.abandoned)}")
    finally:
        for node in nodes:
            await node.stop()


async def test_node_killed_while_callers_wait(store_factory):
    cfg = race_config(6, ring_timeout=0.3, grace=0.2, callbacks=False)
    prefix = unique_prefix("kill")
    a = fast_node(await store_factory(prefix), cfg, "node-a")
    b = fast_node(await store_factory(prefix), cfg, "node-b")
    await a.start()
    await b.start()
    callers = [f"k{i}" for i in range(30)]
    for cid in callers:
        await a.enqueue(CallRequest(cid, "changchun", ["zh"], caller="1"))
    waits = [asyncio.create_task(a.wait_offer(cid)) for cid in callers]
    # two agents come in: node A claims them for its first callers, then dies before ringing
    await b.login("a1")
    await b.login("a2")
    done, _ = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert done
    stranded = {t.result().call_id: t.result().agent_id for t in done}
    await a.stop()                       # killed: its tasks are gone, its callers stay in Redis
    for t in waits:
        t.cancel()
    # nobody settles the stranded offers: B's reaper takes them back after ring timeout + grace
    await asyncio.sleep(0.3 + 0.2 + 0.4)
    for cid in stranded:
        call = await b.store.get_call(cid)
        assert call.state in ("waiting", "offered")
    # the engine on node B adopts every caller and serves them all with the agents that exist
    for aid in ("a3", "a4", "a5"):
        await b.login(aid)
    served = []

    async def adopt(cid):
        while True:
            offer = await asyncio.wait_for(b.wait_offer(cid), 30)
            if await b.ring_result(cid, offer.agent_id, "ANSWER") == "connected":
                await asyncio.sleep(0.01)
                await b.call_ended(cid, offer.agent_id, 0.01)
                served.append(cid)
                return

    await asyncio.wait_for(asyncio.gather(*(adopt(c) for c in callers)), 60)
    assert sorted(served) == sorted(callers)
    assert (await b.store.waiting()) == {}
    await b.stop()


async def test_offer_from_one_node_reaches_caller_on_the_other(store_factory):
    cfg = race_config(3)
    prefix = unique_prefix("cross")
    a = fast_node(await store_factory(prefix), cfg, "node-a")
    b = Acd(await store_factory(prefix), cfg, "node-b", maintenance_interval_s=30)   # no slow poll: pub/sub only
    await a.start()
    await b.start(loops=False)
    await b.enqueue(CallRequest("x", "province", caller="1"))
    waiting = asyncio.create_task(b.wait_offer("x"))
    await asyncio.sleep(0.05)
    await a.login("a0")            # node A's dispatcher makes the offer
    offer = await asyncio.wait_for(waiting, 5)
    assert offer.agent_id == "a0" and a.dispatched == 1 and b.dispatched == 0
    # node A publishes the live figures for a wallboard
    import json

    for _ in range(40):
        raw = await b.store._pool.get(b.store.key("stats"))
        if raw and json.loads(raw)["total"]["agents"].get("ringing") == 1:
            break
        await asyncio.sleep(0.05)
    figures = json.loads(raw)
    assert figures["node"]["node"] == "node-a" and figures["total"]["agents"]["ringing"] == 1
    assert "node-a" in await b.store.nodes()
    await a.stop()
    await b.stop()
