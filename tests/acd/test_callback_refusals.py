"""Callbacks the PBX refuses, and callers who cannot be rung back.

The callback dialer talks to the built-in PBX over a real AMI socket; the ACD runs
on a fake clock with explicit ticks, so "no Originate storm" is a count over rounds
that could each have dialled, not a guess from waiting.  The agents' phones are in
a context the PBX does not have, so every Originate comes back refused (Failure,
reason 0: the channel could not be created), as a missing context does on Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import pytest
import structlog
from structlog.testing import capture_logs

from acd import config as config_mod
from acd.model import Call, CallKind, CallRequest, CallState
from acd.service import Acd
from acd.store import MemoryStore
from ivr.ami.link import AmiLink
from ivr.engine.callbacks import CallbackDialer, originate_failure
from ivr.engine.engine import EVENT_MASK, Engine
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx

import acd_fixtures
from acd_fixtures import Clock

CFG = """
offer_grace_s: 1
defaults: {ring_timeout_s: 5, max_misses: 2, wrapup_s: 0}
callbacks: {enabled: true, delay_s: 0, retry_s: 100, max_attempts: 3, originate_grace_s: 5}
queues: [{id: changchun}]
agents:
""" + "".join(f"  - {{id: a{i}, center: changchun, dial: Local/300{i}@no-such-context}}\n" for i in range(3))



def until(pred, timeout=5.0, what=""):
    return acd_fixtures.until(pred, timeout, what, poll_s=0.01)


@contextlib.asynccontextmanager
async def callback_line(store=None):
    secret = os.urandom(8).hex()
    pbx = Pbx(PbxConfig.load(speed=40, seed=1, secret=secret), agents={})
    host, port = await pbx.start()
    link = AmiLink(host, port, "hotline", secret, events=EVENT_MASK, filters=Engine.filters(),
                   action_timeout=3, ping_interval=0.3,
                   ping_timeout=1, backoff_initial=0.05, backoff_max=0.2)
    clock = Clock()
    acd = Acd(store or MemoryStore(), config_mod.parse(CFG, "refusals.yaml"), "n1", clock=clock, write_wait_s=1)
    await acd.start(loops=False)
    dialer = CallbackDialer(link, acd)
    link.on_event = lambda msg: dialer.on_originate_response(msg) if msg.event == "OriginateResponse" else None
    await link.connect()
    await dialer.start()
    for i in range(3):
        await acd.login(f"a{i}")
    try:
        yield pbx, acd, dialer, clock
    finally:
        await dialer.stop()
        await link.close()
        await pbx.stop()
        await acd.stop()


async def attempts(acd, call_id, n):
    call = await acd.store.get_call(call_id)
    return call is not None and call.attempts >= n and call.state != CallState.OFFERED


async def test_a_refused_originate_is_the_callbacks_failure_not_the_agents_miss():
    async with callback_line() as (pbx, acd, dialer, clock):
        await acd.enqueue(CallRequest("c1", "changchun", caller="+8613912345678"))
        assert await acd.abandoned("c1") == "cb:c1"
        with capture_logs() as logs:
            assert len(await acd.tick()) == 1
            await until(lambda: attempts(acd, "cb:c1", 1), what="the first refusal recorded")
            task = await acd.store.get_call("cb:c1")
            assert (task.state, task.attempts, task.caller) == ("waiting", 1, "13912345678")
            assert "could not set up" in task.reason and task.due_at == pytest.approx(clock() + 100)
            # rounds that could dial again do not: the task waits out its backoff
            for _ in range(5):
                assert await acd.tick() == []
            assert dialer.originated == 1 and pbx.calls_processed == 1
            agents = await acd.store.agents()
            assert all(a.state == "available" and a.misses == 0 for a in agents)
            clock.advance(100)
            assert len(await acd.tick()) == 1
            await until(lambda: attempts(acd, "cb:c1", 2), what="the second refusal")
            assert (await acd.store.get_call("cb:c1")).due_at == pytest.approx(clock() + 200)   # backoff doubles
            clock.advance(199)
            assert await acd.tick() == []
            clock.advance(1)
            assert len(await acd.tick()) == 1
            await until(lambda: attempts(acd, "cb:c1", 3), what="the third refusal")
        task = await acd.store.get_call("cb:c1")
        assert (task.state, task.attempts, task.outcome) == ("failed", 3, "CHANUNAVAIL")
        assert "could not set up" in task.reason
        assert pbx.calls_processed == 3
        agents = await acd.store.agents()
        assert all(a.state == "available" and a.misses == 0 for a in agents)    # nobody paused "no answer"
        refused = [e for e in logs if e["event"] == "acd.callback_failed"]
        assert [e["party"] for e in refused] == ["pbx"] * 3 and all(e["reason"] for e in refused)


async def test_a_task_with_an_undialable_number_fails_without_an_originate():
    """A task stored before numbers were checked (or by another node's old version)."""
    async with callback_line() as (pbx, acd, dialer, clock):
        legacy = Call(call_id="cb:old", queue="changchun", caller="666@agents", kind=CallKind.CALLBACK,
                      enqueued_at=clock(), due_at=clock())
        assert await acd.store.restore_call(legacy, clock())
        assert len(await acd.tick()) == 1
        await until(lambda: attempts(acd, "cb:old", 1), what="the task failed")
        task = await acd.store.get_call("cb:old")
        assert task.state == "failed" and "callback number refused" in task.reason
        assert pbx.calls_processed == 0 and dialer.originated == 0
        assert all(a.state == "available" and a.misses == 0 for a in await acd.store.agents())


@pytest.mark.parametrize("raw", ["", "anonymous", "unknown", "666@agents", "110", "12345", "88881234", "1391234567x"])
async def test_an_unusable_caller_number_gets_no_callback_task(store, cfg, clock, raw):
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    acd = Acd(store, cfg, "n1", clock=clock)
    await acd.start(loops=False)
    try:
        with capture_logs() as logs:
            await acd.enqueue(CallRequest("x", "changchun", caller=raw))
            assert await acd.request_callback("x") is False          # keep them on the line
            assert (await acd.store.get_call("x")).kind == CallKind.CALL
            assert await acd.abandoned("x") == ""
        assert await acd.store.get_call("cb:x") is None
        refusals = [e for e in logs if e["event"] == "acd.callback_refused"]
        assert len(refusals) == 2 and refusals[0]["call_id"] == "x" and refusals[0]["reason"]
        assert all(raw not in e["number"] or len(raw) < 4 for e in refusals)   # masked, never the raw number
    finally:
        await acd.stop()


async def test_a_usable_number_is_kept_in_its_dialable_form(store, cfg, clock):
    acd = Acd(store, cfg, "n1", clock=clock)
    await acd.start(loops=False)
    try:
        await acd.enqueue(CallRequest("x", "changchun", caller="+86 431 8888 1234".replace(" ", "")))
        assert await acd.abandoned("x") == "cb:x"
        assert (await acd.store.get_call("cb:x")).caller == "043188881234"
        await acd.enqueue(CallRequest("y", "changchun", caller="008613900001111"))
        assert await acd.request_callback("y") is True
        task = await acd.store.get_call("y")
        assert (task.kind, task.caller) == ("callback", "13900001111")
    finally:
        await acd.stop()


@pytest.mark.parametrize("reason, party, status", [
    ("0", "pbx", "CHANUNAVAIL"), ("8", "pbx", "CONGESTION"), ("", "pbx", "CHANUNAVAIL"),
    ("1", "agent", "NOANSWER"), ("3", "agent", "NOANSWER"), ("5", "agent", "BUSY"),
])
def test_whose_failure_an_originate_response_is(reason, party, status):
    assert originate_failure(reason)[:2] == (party, status)


async def test_the_dialer_outlives_an_error_of_the_acd():
    """An unexpected error while asking for the next callback is logged with its reason; the
    supervision tree starts the dialer again, which asks again (it used to die for good)."""

    class FlakyAcd:
        def __init__(self):
            self.asked = 0
            self.again = asyncio.Event()

        async def next_callback(self, timeout_s=None):
            self.asked += 1
            if self.asked == 1:
                raise RuntimeError("store answered nonsense")
            self.again.set()
            await asyncio.sleep(timeout_s or 0)
            return None

    acd = FlakyAcd()
    dialer = CallbackDialer(link=None, acd=acd)
    with capture_logs() as logs:
        await dialer.start()
        try:
            await asyncio.wait_for(acd.again.wait(), 5)
        finally:
            await dialer.stop()
    errors = [e for e in logs if e["event"] == "task.failed"]
    assert len(errors) == 1 and errors[0]["task"] == "callback-dialer"
    assert errors[0]["error"] == "RuntimeError: store answered nonsense" and errors[0]["exc_info"]
    assert acd.asked >= 2 and dialer.supervisor.failures == 1 and dialer.supervisor.restarts == 1
    assert not dialer.supervisor.all_tasks()
