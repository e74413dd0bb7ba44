"""Supervisors asking onto live calls, on both stores: refusals, several at once, the owner hears."""

from __future__ import annotations

import asyncio

import pytest

from acd import config as config_mod, supervision
from acd.model import AcdError, CallRequest

from acd_fixtures import SMALL

WITH_SUPERVISORS = SMALL + """
supervisors:
  - {id: s1, dial: Local/9001@supervisor}
  - {id: s2, dial: Local/9002@supervisor}
"""


@pytest.fixture
def cfg():
    return config_mod.parse(WITH_SUPERVISORS, "small.yaml")


async def connected(acd, call_id="a", agent="c1"):
    await acd.login(agent)
    await acd.enqueue(CallRequest(call_id, "changchun", ["zh"], caller="13900001111"))
    task = asyncio.create_task(acd.wait_offer(call_id))
    await asyncio.sleep(0)
    await acd.tick()
    await asyncio.wait_for(task, 5)
    assert await acd.ring_result(call_id, agent, "ANSWER") == "connected"


async def test_two_supervisors_at_once_and_the_owner_hears_of_each(acd, store, cfg, clock):
    await connected(acd)
    handled: set[str] = set()
    waiting = asyncio.create_task(acd.wait_spies("a", handled))
    await asyncio.sleep(0)
    first = await supervision.request(store, cfg, "a", supervisor="s1", mode="listen", now=clock())   # the CLI's way
    got = await asyncio.wait_for(waiting, 5)
    assert [(s.id, s.supervisor, s.dial, s.mode) for s in got] == [(first.id, "s1", "Local/9001@supervisor", "listen")]
    handled.add(first.id)
    second = await acd.request_spy("a", "s2", "barge")
    also = await acd.request_spy("a", "s1", "whisper")        # the same supervisor, another mode
    got = await asyncio.wait_for(acd.wait_spies("a", handled), 5)
    assert [(s.id, s.mode) for s in got] == [(second.id, "barge"), (also.id, "whisper")]
    assert [s.supervisor for s in supervision.spies_of(await store.get_call("a"))] == ["s1", "s2", "s1"]


async def test_refusals_change_nothing(acd, store, clock):
    await connected(acd)
    await acd.enqueue(CallRequest("w", "changchun", ["zh"]))
    await acd.request_spy("a", "s1", "listen")
    before = (await store.get_call("a")).to_dict()
    for kwargs, words in [
        (dict(call_id="a", supervisor="nobody"), "unknown supervisor 'nobody' \\(supervisors: s1, s2\\)"),
        (dict(call_id="a", supervisor="s2", mode="shout"), "mode 'shout': one of listen, whisper, barge"),
        (dict(call_id="zz", supervisor="s2"), "unknown call 'zz'"),
        (dict(call_id="w", supervisor="s2"), "call w is not talking to an agent \\(state: waiting\\)"),
        (dict(call_id="a", supervisor="s1", mode="listen"), "supervisor s1 already asked to listen on call a"),
    ]:
        with pytest.raises(AcdError, match=words):
            await acd.request_spy(**kwargs)
    assert (await store.get_call("a")).to_dict() == before


async def test_a_request_that_raced_the_end_of_the_call_is_refused_by_the_store(acd, store, cfg, clock):
    await connected(acd)
    req = supervision.build_request(cfg, await store.get_call("a"), "a", supervisor="s1", mode="barge", now=clock())
    assert await acd.call_ended("a", "c1", 12)
    import dataclasses
    import json

    assert await store.request_spy("a", json.dumps(dataclasses.asdict(req)), clock()) == \
        "call a is not talking to an agent (state: ended)"
