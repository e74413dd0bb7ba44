"""What a caller waiting in a queue hears, and the callback they may take: the whole engine (shipped
flows, the real ACD on its in-memory store) on the built-in PBX over real sockets.  What the caller
heard is the PBX's own record of the sounds it played on the channel."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from engine_harness import engine_on_pbx

from acd import config as acd_config_mod
from acd.model import Agent, CallKind
from ivr.engine import waiting
from ivr.pbx.scripts import CallerScript

SPEED = 40.0
AGENT = Agent(id="1101", dial="Local/1101@agents", name="长春-刘", center="changchun", queues=["changchun"],
              skills={"zh": 3})


async def until(predicate, timeout=20.0, what="condition"):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def changchun_with_one_busy_agent(**queue):
    """The shipped flows and ACD settings, Changchun's queue changed by ``queue``, one agent who
    talks for ten minutes with whoever reaches them first."""
    from ivr.demo import DemoOptions, _acd_and_prompts

    base, prompts = _acd_and_prompts(DemoOptions(agents=1))
    queues = dict(base.queues)
    queues["changchun"] = dataclasses.replace(queues["changchun"], escalation=[], **queue)
    cfg = dataclasses.replace(base, queues=queues, agents=[dataclasses.replace(AGENT)])
    async with engine_on_pbx(cfg, prompts, speed=SPEED, seed=5, talk_s=600.0) as running:
        yield running            # the harness hangs up whoever is still on the line before stopping


async def queued(pbx, runtime, number: str, keys=()):
    """A Changchun caller who presses nothing in the menu (a person at Changchun), once in line."""
    handle = pbx.place_call(CallerScript(number=number, did="12345", keys=keys))
    await until(lambda: handle.record.call_id and runtime.engine.records.get(handle.record.call_id) is not None
                and runtime.engine.records[handle.record.call_id].queued is not None, what=f"{number} in line")
    return handle


def after_menu(played: list[str]) -> list[str]:
    return played[next(i for i, s in enumerate(played) if s.endswith("_menu")) + 1:]


def contains(seq: list[str], part: list[str]) -> bool:
    return any(seq[i:i + len(part)] == part for i in range(len(seq) - len(part) + 1))


def zh(*ids: str) -> list[str]:
    return [f"ivr/zh/{i}" for i in ids]


async def test_waiting_caller_hears_place_and_wait_then_takes_a_callback_that_keeps_the_place():
    offer_after = 150.0
    async with changchun_with_one_busy_agent(announce_every_s=20.0, callback_offer_after_s=offer_after,
                                             aht_s=30.0, max_waiting=200) as (pbx, runtime):
        first = await queued(pbx, runtime, "13912340000")
        await until(lambda: first.record.talked_to, what="the one agent talking")
        ahead = [await queued(pbx, runtime, f"1391234000{i}") for i in (1, 2, 3)]
        fourth = await queued(pbx, runtime, "13912340004", keys=[(0, None), (0.3, "1")])
        call_id = fourth.record.call_id
        entered = runtime.engine.records[call_id].queued
        await until(lambda: "ivr/zh/callback_offer" in fourth.record.played, what="the callback offer")
        offered_after_s = (time.time() - entered) * SPEED
        rec = await fourth.wait(20)
        heard = after_menu(rec.played)
        # place 4 behind a busy agent: 3 ahead; 4 calls of 30 s for one agent: 2 minutes (两)
        assert heard[:6] == zh("queue_ahead", "num_3", "queue_ahead_end", "queue_eta", "num_liang", "queue_eta_end")
        assert offered_after_s >= offer_after - 1.0, offered_after_s     # not before the configured wait
        assert heard.count("ivr/zh/queue_ahead") >= 5                    # every 20 s meanwhile
        assert heard[-2:] == zh("callback_offer", "callback_kept") and rec.digits == "1"
        assert rec.hangup_by == "engine" and not rec.talked_to
        # the ACD rings them back from their place: still behind the three who were ahead
        task = await runtime.acd.get_call(call_id)
        assert task is not None and task.kind == CallKind.CALLBACK and task.caller == "13912340004"
        assert await runtime.acd.store.position(call_id) == (4, "changchun")
        await until(lambda: any(r.call_id == call_id for r in runtime.engine.finished), what="the call recorded")
        done = next(r for r in runtime.engine.finished if r.call_id == call_id)
        assert "callback requested" in done.reason and done.outcome == "completed"
        # the ones ahead heard their own places, and still wait
        assert contains(after_menu(ahead[0].record.played), zh("queue_next"))
        assert contains(after_menu(ahead[2].record.played), zh("queue_ahead", "num_liang", "queue_ahead_end"))
        assert all(not h.record.ended for h in ahead)


async def test_caller_over_max_waiting_is_offered_a_callback_at_once_and_waits_on_without_a_key():
    async with changchun_with_one_busy_agent(announce_every_s=30.0, callback_offer_after_s=600.0,
                                             aht_s=30.0, max_waiting=2) as (pbx, runtime):
        first = await queued(pbx, runtime, "13912350000")
        await until(lambda: first.record.talked_to, what="the one agent talking")
        await queued(pbx, runtime, "13912350001")
        await queued(pbx, runtime, "13912350002")
        third = await queued(pbx, runtime, "13912350003")           # place 3 of at most 2
        entered = runtime.engine.records[third.record.call_id].queued
        await until(lambda: "ivr/zh/callback_offer" in third.record.played, what="the callback offer")
        assert (time.time() - entered) * SPEED < 30.0                # before the first 30 s of music ended
        heard = after_menu(third.record.played)
        assert heard[:4] == zh("queue_ahead", "num_liang", "queue_ahead_end", "queue_eta")
        assert "ivr/zh/callback_offer" in heard[:8]
        # no key: they wait on, still a live caller in their place, until the next announcement
        await until(lambda: after_menu(third.record.played).count("ivr/zh/queue_ahead") >= 2, what="waiting on")
        assert not third.record.ended and "ivr/zh/callback_kept" not in third.record.played
        task = await runtime.acd.get_call(third.record.call_id)
        assert task.kind == CallKind.CALL
        assert await runtime.acd.store.position(third.record.call_id) == (3, "changchun")


def test_numbers_are_read_as_counts():
    assert waiting.number_prompts(2, "zh") == ["num_liang"]
    assert waiting.number_prompts(12, "zh") == ["num_10", "num_2"]
    assert waiting.number_prompts(105, "zh") == ["num_1", "num_100", "num_0", "num_5"]
    assert waiting.number_prompts(110, "zh") == ["num_1", "num_100", "num_1", "num_10"]
    assert waiting.number_prompts(1050, "zh") == ["num_1", "num_1000", "num_0", "num_5", "num_10"]
    assert waiting.number_prompts(110, "ko") == ["num_100", "num_10"]
    assert waiting.number_prompts(2, "ko") == ["num_2"]
    assert waiting.number_prompts(0, "zh") == ["num_0"]
    assert waiting.announcement(1, 40, "zh") == ["queue_next"]
    assert waiting.announcement(0, 0, "zh") == ["queue_wait"]
    assert waiting.announcement(3, float("inf"), "ko") == ["queue_ahead", "num_2", "queue_ahead_end"]
    assert waiting.announcement(4, 61, "zh")[-3:] == ["queue_eta", "num_liang", "queue_eta_end"]


def _shipped_prompts():
    import pathlib

    from ivr.flows.config import load_config
    return load_config(pathlib.Path(__file__).resolve().parents[2] / "config").config.prompts


def test_announcement_prompts_are_in_the_shipped_config():
    prompts = _shipped_prompts()
    ids = {waiting.GENERIC, waiting.AHEAD, waiting.AHEAD_END, waiting.ETA, waiting.ETA_END, waiting.NEXT,
           waiting.OFFER, waiting.KEPT, "num_liang", "num_10", "num_100", "num_1000"} | {f"num_{d}" for d in range(10)}
    for pid in ids:
        assert pid in prompts, pid
        assert set(prompts[pid].texts) == {"zh", "ko"}, pid


async def test_expected_wait_comes_from_measured_handle_times():
    """Two agents who talked 60 s a call (wrap-up 10 s): the expected wait of the 5th caller is measured,
    not the 240 s the queue assumes before any call."""
    from acd import routing
    from acd.model import CallRequest
    from acd.service import Acd
    from acd.store import MemoryStore

    cfg = acd_config_mod.parse("defaults: {aht_s: 240, wrapup_s: 10}\nqueues: [{id: q}]\nagents:\n"
                               "  - {id: a1, center: q, dial: PJSIP/a1}\n  - {id: a2, center: q, dial: PJSIP/a2}\n")
    now = [1_790_000_000.0]
    acd = Acd(MemoryStore(), cfg, "n1", clock=lambda: now[0])
    await acd.start(loops=False)
    try:
        for agent in ("a1", "a2"):
            await acd.login(agent)
        for n in range(6):                                  # six calls of 60 s each, over both agents
            cid = f"c{n}"
            await acd.enqueue(CallRequest(cid, "q", caller="13900000001"))
            waiter = asyncio.create_task(acd.wait_offer(cid))
            await asyncio.sleep(0)
            await acd.tick()
            offer = await asyncio.wait_for(waiter, 5)
            await acd.ring_result(cid, offer.agent_id, "ANSWER")
            now[0] += 60
            await acd.call_ended(cid, offer.agent_id, 60.0)
            now[0] += 11
            await acd.tick()
        await acd.stats()            # what a running node's stats loop does every few seconds
        handle = routing.handle_time(6, 360.0, 10.0, 240.0)
        assert handle == (6 * 70 + 3 * 240) / 9
        for i in range(1, 6):
            await acd.enqueue(CallRequest(f"x{i}", "q", caller="13900000002"))
        place, wait_s = await acd.position("x5")
        assert place == 5
        # both agents free (no tick since): 3 ahead of them, one freed every handle / 2 seconds
        assert abs(wait_s - 3 * handle / 2) < 1e-6 and wait_s < 3 * 240 / 2   # measured, not aht_s
    finally:
        await acd.stop(flush_s=1)
