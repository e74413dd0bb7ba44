"""Transfer requests on both stores: who may ask, what is refused, how the owner hears, the recall."""

from __future__ import annotations

import asyncio

import pytest

from acd import transfers
from acd.model import AcdError, CallRequest


async def connected(acd, call_id="a", agent="c1", queue="changchun"):
    await acd.login(agent)
    await acd.enqueue(CallRequest(call_id, queue, ["zh"], caller="13900001111"))
    task = asyncio.create_task(acd.wait_offer(call_id))
    await asyncio.sleep(0)
    await acd.tick()
    offer = await asyncio.wait_for(task, 5)
    assert offer.agent_id == agent
    assert await acd.ring_result(call_id, agent, "ANSWER") == "connected"


def test_targets_resolve_to_a_queue_a_kept_hotline_or_a_number(cfg):
    from acd import config as config_mod
    from acd_fixtures import SMALL

    assert transfers.resolve_target(cfg, "province") == ("province", "")
    assert transfers.resolve_target(cfg, "110") == ("", "110")
    kept = config_mod.parse(SMALL.replace("queues:\n", "queues:\n  - id: hotline-12366\n"), "kept.yaml")
    assert transfers.resolve_target(kept, "12366") == ("hotline-12366", "")
    for bad in ("", "nowhere", "12", "1" * 21, "110; Dial(x)"):
        with pytest.raises(AcdError, match="unknown transfer target"):
            transfers.resolve_target(cfg, bad)


async def test_the_owner_hears_of_a_request_made_by_another_node(acd, store, cfg, clock):
    await connected(acd)
    waiting = asyncio.create_task(acd.wait_transfer("a"))
    await asyncio.sleep(0)
    assert not waiting.done()
    # another node or the CLI: the plain function on the same store
    req = await transfers.request(store, cfg, "a", target="province", now=clock())
    got = await asyncio.wait_for(waiting, 5)
    assert (got.id, got.queue, got.number, got.agent_id, got.skills, got.kind) == (
        req.id, "province", "", "c1", ["zh"], "blind")
    assert (await store.get_call("a")).transfer == req.to_json()


async def test_refusals_change_nothing(acd, store, cfg, clock):
    await connected(acd)
    await acd.enqueue(CallRequest("w", "changchun", ["zh"]))
    cases = [
        (dict(call_id="a", target="nowhere"), "unknown transfer target 'nowhere'"),
        (dict(call_id="a", target="province", kind="consult"), "kind 'consult' is not available"),
        (dict(call_id="zz", target="province"), "unknown call .zz."),
        (dict(call_id="w", target="province"), "call w is not talking to an agent \\(state: waiting\\)"),
        (dict(call_id="a", target="province", agent_id="c2"), "agent c2 is not on call a"),
        (dict(call_id="a", target="changchun"), "already in queue changchun"),
    ]
    before = (await store.get_call("a")).to_dict()
    for kwargs, words in cases:
        with pytest.raises(AcdError, match=words):
            await acd.request_transfer(**kwargs)
    assert (await store.get_call("a")).to_dict() == before
    first = await acd.request_transfer("a", "province")
    with pytest.raises(AcdError, match="another transfer of call a is running"):
        await acd.request_transfer("a", "110")
    assert transfers.TransferRequest.from_json((await store.get_call("a")).transfer) == first


async def test_the_store_refuses_a_request_that_raced_the_end_of_the_call(acd, store, cfg, clock):
    await connected(acd)
    req = transfers.build_request(cfg, await store.get_call("a"), target="province", kind="blind",
                                  agent_id=None, skills=None, now=clock())
    assert await acd.call_ended("a", "c1", 30)          # the caller hung up meanwhile
    assert await store.request_transfer("a", "c1", req.to_json(), clock()) == \
        "call a is not talking to an agent (state: ended)"


async def test_a_failed_transfer_rings_the_same_agent_again_while_in_wrapup(acd, store, clock):
    await connected(acd)
    await acd.request_transfer("a", "110")
    assert await acd.call_ended("a", "c1", 30)          # blind: the agent leaves, wrap-up (5 s) starts
    offer = await acd.return_to_agent("a", "c1")
    assert (offer.call_id, offer.agent_id, offer.dial_string, offer.ring_timeout_s) == ("a", "c1", "PJSIP/c1", 10)
    call, agent = await store.get_call("a"), await store.get_agent("c1")
    assert (call.state, call.agent_id, call.transfer, agent.state, agent.call_id) == ("offered", "c1", "", "ringing", "a")
    clock.advance(6)
    assert await acd.tick() == []                      # the wrap-up timer no longer frees c1
    assert (await store.get_agent("c1")).state == "ringing"
    assert await acd.ring_result("a", "c1", "ANSWER") == "connected"


async def test_no_recall_once_the_agent_took_another_call(acd, store, clock):
    await connected(acd)
    assert await acd.call_ended("a", "c1", 30)
    clock.advance(6)
    await acd.tick()                                     # wrap-up over: c1 free
    await acd.enqueue(CallRequest("b", "changchun", ["zh"]))
    task = asyncio.create_task(acd.wait_offer("b"))
    await asyncio.sleep(0)
    await acd.tick()
    assert (await asyncio.wait_for(task, 5)).agent_id == "c1"
    assert await acd.return_to_agent("a", "c1") is None
    assert (await store.get_call("a")).state == "ended"
    assert (await store.get_agent("c1")).call_id == "b"
