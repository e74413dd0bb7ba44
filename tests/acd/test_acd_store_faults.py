"""Redis faults that are not a restart: out of memory, a stall, a script that fails.

Each test that breaks Redis starts its own redis-server on a free loopback port,
so nobody else's data is touched.  What must hold: no ACD call raises to the
engine because Redis said no; writes that must land (ring result, call ended,
abandon) land after the fault, in order, so every agent ends up free; Redis's
own reason is in the log; a slow call is logged with its duration and name.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from structlog.testing import capture_logs

from acd import config as config_mod
from acd.model import CallRequest, StoreScriptError
from acd.redis_faults import is_transient
from acd.redis_store import RedisStore
from acd.service import Acd

import acd_fixtures
from acd_fixtures import REDIS_HOST, Ledger, free_port, start_redis, stop_redis, unique_prefix, wipe

CFG = """
offer_grace_s: 1
defaults: {ring_timeout_s: 5, max_misses: 1000, wrapup_s: 0.3, max_waiting: 1000}
callbacks: {enabled: false}
queues: [{id: changchun}]
agents:
""" + "".join(f"  - {{id: a{i}, center: changchun, dial: PJSIP/a{i}, skills: {{zh: 3}}}}\n" for i in range(6))



def until(pred, timeout=20.0, what=""):
    return acd_fixtures.until(pred, timeout, what, poll_s=0.05)


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def redis_cmd(port: int, *args: str) -> str:
    """One command on a connection of its own (CONFIG SET, DEBUG SLEEP): Redis's reply line."""
    reader, writer = await asyncio.open_connection(REDIS_HOST, port)
    try:
        writer.write(_resp(*args))
        await writer.drain()
        return (await reader.readline()).decode().strip()
    finally:
        writer.close()


async def out_of_memory(port: int, on: bool) -> None:
    assert await redis_cmd(port, "CONFIG", "SET", "maxmemory-policy", "noeviction") == "+OK"
    assert await redis_cmd(port, "CONFIG", "SET", "maxmemory", "1" if on else "0") == "+OK"


async def node(port, prefix, name, **kw):
    store = await RedisStore.connect(REDIS_HOST, port, prefix=prefix, poolsize=2,
                                     slow_call_s=kw.pop("slow_call_s", 1.0),
                                     call_timeout_s=kw.pop("call_timeout_s", 10.0))
    acd = Acd(store, config_mod.parse(CFG, "faults.yaml"), name, dispatch_interval_s=0.05,
              maintenance_interval_s=0.1, stats_interval_s=0.2, backoff_max_s=0.2, write_wait_s=0.3, **kw)
    await acd.start()
    return acd


def events(logs, name):
    return [e for e in logs if e["event"] == name]


def mentions(logs, text):
    return [e for e in logs if any(text in str(v) for v in e.values())]


async def all_agents_free(acd, logged_in=6):
    """Every agent logged in is available again (none ringing, talking or in wrap-up)."""
    agents = await acd.store.agents()
    free = [a for a in agents if a.state == "available" and not a.call_id]
    return len(free) == logged_in and all(a.state in ("available", "logged_out") for a in agents)


async def test_out_of_memory_while_calls_flow_costs_no_call_and_frees_every_agent():
    port = free_port()
    proc = await start_redis(port)
    prefix = unique_prefix("oom")
    nodes = []
    ledger = Ledger()
    rng = random.Random(8)
    try:
        with capture_logs() as logs:
            nodes = [await node(port, prefix, "node-a"), await node(port, prefix, "node-b")]
            for i in range(6):
                await nodes[i % 2].login(f"a{i}")

            async def caller(i):
                await asyncio.sleep(i * 0.12)
                acd, cid = nodes[i % 2], f"k{i}"
                patience = 1.5 if i % 4 == 0 else None
                await acd.enqueue(CallRequest(cid, "changchun", ["zh"], caller=f"139{i:08d}"))
                while True:
                    try:
                        offer = await asyncio.wait_for(acd.wait_offer(cid), patience or 60)
                    except asyncio.TimeoutError:
                        assert patience, f"{cid} never got an agent"
                        await acd.abandoned(cid)
                        ledger.abandoned.add(cid)
                        return
                    if rng.random() < 0.1:
                        await acd.ring_result(cid, offer.agent_id, "NOANSWER")
                        continue
                    ledger.take(offer.agent_id, cid)
                    await acd.ring_result(cid, offer.agent_id, "ANSWER")
                    await asyncio.sleep(0.2 + rng.random() * 0.3)
                    ledger.free(offer.agent_id, cid)
                    await acd.call_ended(cid, offer.agent_id, 0.3)
                    ledger.served.add(cid)
                    return

            async def fault():
                await asyncio.sleep(1.0)
                await out_of_memory(port, True)
                await asyncio.sleep(5.0)          # the fault under test lasts 5 s
                await out_of_memory(port, False)

            n = 60
            await asyncio.wait_for(asyncio.gather(fault(), *(caller(i) for i in range(n))), 60)
            a, b = nodes
            await until(lambda: all(x.status["writes_pending"] == 0 for x in nodes), what="writes landing")
            await until(lambda: all_agents_free(a), what="every agent free again")
        assert ledger.doubles == []
        assert len(ledger.served) + len(ledger.abandoned) == n
        assert len(ledger.served) >= n // 2
        calls = await a.store.get_calls([f"k{i}" for i in range(n)])
        assert all(c is not None for c in calls)
        assert {c.call_id for c in calls if c.state == "ended"} == ledger.served
        assert {c.call_id for c in calls if c.state == "abandoned"} == ledger.abandoned
        assert await a.store.waiting() == {}
        assert mentions(logs, "OOM command not allowed"), "Redis's own reason is not in the log"
        assert events(logs, "acd.write_deferred"), "the fault never reached a caller's write"
        assert all(x.status["store_ok"] for x in nodes)
    finally:
        for x in nodes:
            await x.stop()
        stop_redis(proc)


async def test_writes_during_an_outage_return_at_once_and_land_in_order(tmp_path):
    """Redis down for good 2 s (shut down with its data saved, then started again on it)."""
    port = free_port()
    keep = ("--dir", str(tmp_path), "--dbfilename", "acd.rdb")
    proc = await start_redis(port, *keep)
    prefix = unique_prefix("order")
    acd = None
    try:
        with capture_logs() as logs:
            acd = await node(port, prefix, "solo")
            await acd.login("a0")
            await acd.enqueue(CallRequest("x", "changchun", caller="13900000001"))
            offer = await asyncio.wait_for(acd.wait_offer("x"), 5)
            await redis_cmd(port, "SHUTDOWN", "SAVE")
            proc.wait(5)
            started = time.monotonic()
            assert await asyncio.wait_for(acd.ring_result("x", offer.agent_id, "ANSWER"), 5) == "connected"
            assert await asyncio.wait_for(acd.call_ended("x", offer.agent_id, 12.0), 5) is True
            assert time.monotonic() - started < 1.5          # 2 x write_wait_s, not the outage
            assert acd.status["writes_pending"] == 2
            await asyncio.sleep(1.0)                         # the outage lasts a while
            proc = await start_redis(port, *keep)
            await until(lambda: acd.status["writes_pending"] == 0, what="writes landing")
            call = await acd.store.get_call("x")
            assert (call.state, call.agent_id) == ("ended", "a0")         # ANSWER landed before the end
            await until(lambda: all_agents_free(acd, 1), what="a0 free after wrap-up")
            assert (await acd.store.get_agent("a0")).calls == 1
        assert [e["what"] for e in events(logs, "acd.write_deferred")] == ["ring_result", "call_ended"]
        assert {e["what"] for e in events(logs, "acd.write_landed")} == {"ring_result", "call_ended"}
        assert events(logs, "acd.store_unreachable") and not events(logs, "acd.store_lost_state")
    finally:
        if acd is not None:
            await acd.stop()
        if proc.poll() is None:
            stop_redis(proc)


async def test_a_write_refused_for_lack_of_memory_lands_afterwards():
    port = free_port()
    proc = await start_redis(port)
    acd = None
    try:
        with capture_logs() as logs:
            acd = await node(port, unique_prefix("oom1"), "solo")
            await acd.login("a0")
            await acd.enqueue(CallRequest("x", "changchun", caller="13900000001"))
            offer = await asyncio.wait_for(acd.wait_offer("x"), 5)
            assert await acd.ring_result("x", offer.agent_id, "ANSWER") == "connected"
            await out_of_memory(port, True)
            assert await asyncio.wait_for(acd.call_ended("x", offer.agent_id, 12.0), 5) is True  # provisional
            assert (await acd.store.get_agent("a0")).state == "talking"        # reads still work
            await out_of_memory(port, False)
            await until(lambda: all_agents_free(acd, 1), what="a0 free after wrap-up")
        # the refusal is logged with its operation and reason (the call's CALL_ENDED, or the
        # stats publisher's SET when it hits the full Redis first and the writes wait behind it)
        down = events(logs, "acd.store_unreachable")
        assert down and down[0]["op"] in ("CALL_ENDED", "SET")
        assert down[0]["reason"].startswith("OOM command not allowed")
    finally:
        if acd is not None:
            await acd.stop()
        stop_redis(proc)


async def test_a_stall_is_logged_with_its_duration_and_operation():
    port = free_port()
    proc = await start_redis(port, "--enable-debug-command", "yes")
    acd = None
    try:
        with capture_logs() as logs:
            acd = await node(port, unique_prefix("stall"), "solo", slow_call_s=0.5)
            stall = asyncio.create_task(redis_cmd(port, "DEBUG", "SLEEP", "1.2"))
            # calls answered before the stall began are quick; the one caught in it is not
            await until(lambda: _login_seen_slow(acd, logs), timeout=10, what="a slow call logged")
            assert await stall == "+OK"
        slow = [e for e in events(logs, "acd.store_slow") if e["op"] == "AGENT_ACTION"]
        assert slow and 0.8 <= slow[0]["duration_s"] < 5 and slow[0]["threshold_s"] == 0.5
    finally:
        if acd is not None:
            await acd.stop()
        stop_redis(proc)


async def _login_seen_slow(acd, logs):
    await acd.login("a1")
    return any(e["event"] == "acd.store_slow" and e["op"] == "AGENT_ACTION" for e in logs)


async def test_no_answer_in_time_counts_as_unavailable_and_is_retried():
    port = free_port()
    proc = await start_redis(port, "--enable-debug-command", "yes")
    acd = None
    try:
        with capture_logs() as logs:
            acd = await node(port, unique_prefix("timeout"), "solo", slow_call_s=0.2, call_timeout_s=0.4)
            stall = asyncio.create_task(redis_cmd(port, "DEBUG", "SLEEP", "1.5"))
            # a login caught in the stall times out, is retried, and is answered after it
            await until(lambda: _login_caught(acd), timeout=10, what="a timeout")
            assert (await acd.store.get_agent("a2")).state == "available"
            await stall
        down = events(logs, "acd.store_unreachable")
        assert down and "no answer within 0.4 s" in down[0]["reason"]
        assert events(logs, "acd.store_back")
    finally:
        if acd is not None:
            await acd.stop()
        stop_redis(proc)


async def _login_caught(acd):
    await acd.login("a2")
    return acd.status["store_errors"] > 0


async def test_a_script_error_is_reported_with_its_name_and_reason(cfg):
    prefix = unique_prefix("script")
    store = await RedisStore.connect(REDIS_HOST, 6379, prefix=prefix, poolsize=1)
    acd = Acd(store, cfg, "solo", write_wait_s=0.5)
    await acd.start(loops=False)
    try:
        with capture_logs() as logs:
            await store._cmd("set", store.key("agent", "c1"), "not json")
            with pytest.raises(StoreScriptError) as err:
                await acd.login("c1")
            assert err.value.script == "AGENT_ACTION" and "invalid token" in err.value.reason
            # a must-land write meeting the same is given up with one line, never raised to the caller
            await acd.login("c2")
            await acd.enqueue(CallRequest("x", "changchun", caller="13900000002"))
            waiting = asyncio.create_task(acd.wait_offer("x"))
            await until(lambda: _ticked(acd, waiting), timeout=5, what="an offer")
            await acd.ring_result("x", "c2", "ANSWER")
            await store._cmd("set", store.key("agent", "c2"), "not json either")
            assert await acd.call_ended("x", "c2", 5.0) is True
        bugs = events(logs, "acd.store_script_error")
        assert [(e["script"], e["during"]) for e in bugs] == [("AGENT_ACTION", "login"), ("CALL_ENDED", "call_ended")]
        assert all("invalid token" in e["reason"] for e in bugs)
        given_up = events(logs, "acd.write_given_up")
        assert [e["what"] for e in given_up] == ["call_ended"] and given_up[0]["attempts"] == 1
    finally:
        await acd.stop()
        await wipe(prefix)

async def _ticked(acd, task):
    await acd.tick()
    await asyncio.sleep(0)
    return task.done()


@pytest.mark.parametrize("text, transient", [
    ("OOM command not allowed when used memory > 'maxmemory'.", True),
    ("OOM command not allowed when used memory > 'maxmemory'. script: 0b0e, on @user_script:12.", True),
    ("ERR Error running script (call to f_0b0e): @user_script:12: @user_script: 12: -OOM command not allowed", True),
    ("LOADING Redis is loading the dataset in memory", True),
    ("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", True),
    ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", True),
    ("READONLY You can't write against a read only replica.", True),
    ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", True),
    ("ERR max number of clients reached", True),
    ("ERR user_script:1: Expected value but found invalid token at character 1 script: 0b0e", False),
    ("ERR user_script:3: attempt to compare 'BUSY' with nil", False),
    ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
])
def test_which_redis_errors_pass_by_themselves(text, transient):
    assert is_transient(text) is transient



async def test_a_handler_that_fails_is_logged_and_the_subscriber_carries_on():
    """The subscriber used to swallow every exception with no word: a node then missed
    offers and kicks with nothing in its log to say why."""
    prefix = unique_prefix("sub")
    store = await acd_fixtures.redis_store(prefix)
    seen: list[tuple[str, str]] = []
    resubscribed, heard = asyncio.Event(), asyncio.Event()

    def handler(kind: str, payload: str) -> None:
        if kind == "resubscribed":
            resubscribed.set()
            return
        if payload == "boom":
            raise RuntimeError("handler broke on purpose")
        seen.append((kind, payload))
        heard.set()

    listener = asyncio.create_task(store.listen(handler))
    try:
        with capture_logs() as logs:
            await asyncio.wait_for(resubscribed.wait(), 5)
            resubscribed.clear()
            publisher = await acd_fixtures.redis_store(prefix)
            try:
                await asyncio.wait_for(_published(publisher, prefix + "events", "offer:boom"), 5)
                await asyncio.wait_for(resubscribed.wait(), 5)          # told to catch up after the failure
                await asyncio.wait_for(_published(publisher, prefix + "events", "offer:x1"), 5)
                await asyncio.wait_for(heard.wait(), 5)
            finally:
                await publisher.close()
        assert not listener.done()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await store.close()
        await wipe(prefix)
    failed = [e for e in logs if e["event"] == "acd.subscriber_handler_failed"]
    assert failed and "handler broke on purpose" in failed[0]["error"] and failed[0]["exc_info"] is True
    assert seen == [("offer", "x1")]
    assert listener.cancelled()                          # it ends only when cancelled


async def test_the_listener_comes_back_after_redis_restarts():
    """Redis gone and back: every failure is logged, the feed says it resubscribed, events flow again."""
    from hotline import log

    log.setup("info", json=False)                   # the way back is an info line
    port = free_port()
    proc = await start_redis(port)
    prefix = unique_prefix("relisten")
    store = await acd_fixtures.redis_store(prefix, port=port)
    got: list[tuple[str, str]] = []
    listener = asyncio.create_task(store.listen(lambda kind, payload: got.append((kind, payload))))
    try:
        with capture_logs() as logs:
            await until(lambda: got == [("resubscribed", "")], timeout=5, what="first subscription")
            stop_redis(proc)
            await until(lambda: events(logs, "acd.subscriber_lost"), timeout=5, what="the loss logged")
            proc = await start_redis(port)
            await until(lambda: got.count(("resubscribed", "")) == 2, timeout=10, what="resubscribed")
            publisher = await acd_fixtures.redis_store(prefix, port=port)
            try:
                await asyncio.wait_for(_published(publisher, prefix + "events", "kick:"), 5)
            finally:
                await publisher.close()
            await until(lambda: ("kick", "") in got, timeout=5, what="an event after the restart")
        assert events(logs, "acd.subscriber_back")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await store.close()
        if proc.poll() is None:
            stop_redis(proc)


async def _published(store, channel: str, message: str) -> None:
    """Publish once a subscriber listens (Redis says how many got it)."""
    while await store.redis.publish(channel, message) < 1:
        await asyncio.sleep(0.02)
