"""The engine-facing API on both stores, with a fake clock and explicit ticks (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from acd.model import AcdError, CallKind, CallRequest
from acd.records import CallRecord
from acd.service import Acd


async def offer_for(acd, call_id):
    task = asyncio.create_task(acd.wait_offer(call_id))
    await asyncio.sleep(0)
    await acd.tick()
    return await asyncio.wait_for(task, 5)


async def test_call_reaches_agent_then_wrapup_then_next(acd, clock):
    await acd.login("c1")
    r = await acd.enqueue(CallRequest("a", "changchun", ["zh"], caller="139"))
    assert r.position == 1 and r.expected_wait_s == 0 and not r.offer_callback
    await acd.enqueue(CallRequest("b", "changchun", ["zh"], caller="138"))
    offer = await offer_for(acd, "a")
    assert (offer.agent_id, offer.dial_string, offer.ring_timeout_s) == ("c1", "PJSIP/c1", 10)
    assert await acd.position("b") == (1, pytest.approx(100.0))
    clock.advance(3)
    assert await acd.ring_result("a", "c1", "ANSWER") == "connected"
    clock.advance(60)
    assert await acd.call_ended("a", "c1", 60)
    # wrap-up (5 s): b is not offered before it ends
    task = asyncio.create_task(acd.wait_offer("b"))
    await asyncio.sleep(0)
    clock.advance(4.9)
    assert await acd.tick() == []
    clock.advance(0.2)
    made = await acd.tick()
    assert [(o.call_id, o.agent_id) for o in made] == [("b", "c1")]
    assert (await asyncio.wait_for(task, 5)).agent_id == "c1"


async def test_escalation_overflow_keeps_required_language(acd, clock):
    await acd.login("y2")      # yanbian, no Korean
    await acd.login("p3")      # province, Korean
    await acd.enqueue(CallRequest("k", "yanbian", ["ko"]))
    task = asyncio.create_task(acd.wait_offer("k"))
    await asyncio.sleep(0)
    clock.advance(59)
    assert await acd.tick() == []
    clock.advance(1)
    await acd.tick()
    assert (await asyncio.wait_for(task, 5)).agent_id == "p3"


async def test_expert_call_widens_after_20s(acd, clock):
    await acd.login("c2")
    await acd.login("p3")      # province, no expert skill
    await acd.enqueue(CallRequest("e", "province", ["expert"]))
    task = asyncio.create_task(acd.wait_offer("e"))
    await asyncio.sleep(0)
    clock.advance(19)
    assert await acd.tick() == []
    clock.advance(1)
    await acd.tick()
    assert (await asyncio.wait_for(task, 5)).agent_id == "p3"


async def test_ring_timeouts_pause_agent_and_call_goes_to_next(acd, clock):
    await acd.login("c1")
    await acd.enqueue(CallRequest("a", "changchun"))
    for _ in range(2):           # max_misses: 2
        offer = await offer_for(acd, "a")
        assert offer.agent_id == "c1"
        clock.advance(10)
        assert await acd.ring_result("a", "c1", "NOANSWER") == "requeued"
    agent = (await acd.store.get_agent("c1"))
    assert (agent.state, agent.reason) == ("paused", "no answer")
    await acd.login("c2")
    assert (await offer_for(acd, "a")).agent_id == "c2"


async def test_abandoned_caller_is_called_back(acd, clock, store):
    await acd.enqueue(CallRequest("a", "changchun", caller="13900001111"))
    clock.advance(12)
    cb = await acd.abandoned("a")
    assert cb == "cb:a"
    await acd.login("c1")
    clock.advance(29)
    assert await acd.tick() == []             # callbacks wait delay_s (30)
    assert await acd.next_callback(timeout_s=0) is None
    clock.advance(1)
    made = await acd.tick()
    assert [(o.call_id, o.kind) for o in made] == [("cb:a", CallKind.CALLBACK)]
    offer = await acd.next_callback(timeout_s=1)
    assert (offer.call_id, offer.agent_id, offer.caller) == ("cb:a", "c1", "13900001111")
    assert await acd.callback_result("cb:a", "c1", "ANSWER") == "connected"
    clock.advance(30)
    assert await acd.call_ended("cb:a", "c1", 30)
    st = await acd.stats()
    q = next(r for r in st["queues"] if r["queue"] == "changchun")
    assert (q["offered"], q["abandoned"], q["answered"]) == (1, 1, 0)   # callbacks are not offered calls


async def test_full_queue_offers_callback_and_caller_keeps_place(acd, clock):
    await acd.login("c1")
    await acd.pause("c1", "lunch")
    results = [await acd.enqueue(CallRequest(f"q{i}", "changchun", caller=f"1390000000{i}")) for i in range(4)]
    assert [r.position for r in results] == [1, 2, 3, 4]
    assert [r.full for r in results] == [False, False, False, True]
    assert results[3].offer_callback
    assert await acd.request_callback("q1")
    await acd.resume("c1")
    made = await acd.tick()
    assert [o.call_id for o in made] == ["q0"]


async def test_wait_offer_errors_and_cancel(acd, clock):
    with pytest.raises(AcdError, match="not waiting"):
        await acd.wait_offer("nobody")
    with pytest.raises(AcdError, match="unknown queue"):
        await acd.enqueue(CallRequest("x", "shanghai"))
    await acd.enqueue(CallRequest("x", "changchun", caller="13900000009"))
    task = asyncio.create_task(acd.wait_offer("x"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await acd.abandoned("x") == "cb:x"
    await acd.enqueue(CallRequest("anon", "changchun", caller=""))
    assert await acd.abandoned("anon") == ""           # nobody to ring back


async def test_agent_api_and_stats(acd, clock):
    a = await acd.login("y1")
    assert a.state == "available"
    await acd.enqueue(CallRequest("k", "yanbian", ["ko"], caller="1"))
    await offer_for(acd, "k")
    clock.advance(2)
    await acd.ring_result("k", "y1", "ANSWER")
    p = await acd.pause("y1", "training")
    assert p.state == "talking" and p.pending == "pause:training"
    clock.advance(100)
    await acd.call_ended("k", "y1", 100)
    clock.advance(5)
    await acd.tick()
    st = await acd.stats()
    agent = next(x for x in st["agents"] if x["agent"] == "y1")
    assert (agent["state"], agent["reason"], agent["calls"], agent["talk_s"]) == ("paused", "training", 1, 100)
    assert agent["occupancy"] == pytest.approx(1.0)       # never idle while logged in
    q = next(r for r in st["queues"] if r["queue"] == "yanbian")
    assert q["answered"] == 1 and q["sl_answered"] == 1.0 and q["asa_s"] == pytest.approx(2.0)
    assert st["node"]["store_ok"] is True


async def test_call_record_kept_and_exported(acd, clock):
    rec = CallRecord(call_id="r1", ts=clock(), dialled="12345", caller="139", queue="yanbian",
                     flow_path=["welcome", "lang:ko", "queue"], wait_s=4, talk_s=60, agent_id="y1",
                     outcome="answered", survey_score=5)
    await acd.record(rec)
    rows = await acd.store.records(clock() - 1)
    assert rows[0]["flow_path"] == ["welcome", "lang:ko", "queue"] and rows[0]["survey_score"] == 5
    assert rows[0]["node"] == "n1"


async def test_call_record_from_the_acd_view(acd, clock):
    await acd.login("c1")
    await acd.enqueue(CallRequest("z", "changchun", caller="139", dialled="12345", flow_path=["menu", "1"]))
    offer = await offer_for(acd, "z")
    clock.advance(7)
    await acd.ring_result("z", offer.agent_id, "ANSWER")
    clock.advance(50)
    await acd.call_ended("z", "c1", 50)
    rec = await acd.call_record("z", survey_score=5, talk_s=50)
    assert (rec.outcome, rec.agent_id, rec.wait_s, rec.dialled, rec.flow_path) == ("answered", "c1", 7.0, "12345", ["menu", "1"])
    rows = await acd.store.records(clock() - 3600)
    assert rows[0]["survey_score"] == 5 and rows[0]["outcome"] == "answered"
    await acd.enqueue(CallRequest("gone", "changchun", caller="138"))
    clock.advance(3)
    await acd.abandoned("gone")
    assert (await acd.call_record("gone")).outcome == "abandoned"
    with pytest.raises(AcdError, match="no call"):
        await acd.call_record("never")


async def test_waiting_owner_is_told_when_its_call_is_dropped(store, cfg, clock):
    a = Acd(store, cfg, "node-a", clock=clock)
    b = Acd(store, cfg, "node-b", clock=clock)
    await a.start(loops=False)
    await b.start(loops=False)
    await b.enqueue(CallRequest("x", "changchun", caller="139"))
    task = asyncio.create_task(b.wait_offer("x"))
    await asyncio.sleep(0.01)
    await a.abandoned("x")                    # the call left the line through another node
    for _ in range(4):                        # the slow poll runs every 4th maintenance pass
        await b.maintain()
    with pytest.raises(AcdError, match="no longer waiting"):
        await asyncio.wait_for(task, 5)
    await a.stop(flush_s=1)
    await b.stop(flush_s=1)
