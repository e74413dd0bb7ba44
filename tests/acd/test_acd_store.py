"""One suite, two stores: the in-memory reference and Redis (real server, Lua scripts)."""

from __future__ import annotations

import pytest

from acd.model import AcdError, Agent, Call, CallKind, CallState
from acd.service import collect_stats

T0 = 1_790_000_000.0


def mk_agents(cfg):
    return cfg.agents


async def ready(store, cfg, *logins, now=T0):
    await store.sync_agents(cfg.agents, now)
    for i, aid in enumerate(logins):
        await store.agent_action(aid, "login", "", now + i * 0.001)


def mk_call(cid, queue="changchun", skills=(), priority=0, t=T0, caller="13900000000"):
    return Call(call_id=cid, queue=queue, skills=list(skills), priority=priority, enqueued_at=t, caller=caller)


async def test_claim_is_exclusive_for_agent_and_call(store, cfg):
    await ready(store, cfg, "c1", "c2")
    await store.enqueue(mk_call("x", t=T0))
    await store.enqueue(mk_call("y", t=T0 + 1))
    # two decisions made on the same stale snapshot: same agent for two calls, same call for two agents
    offers = await store.claim([("x", "c1", 10, 5), ("y", "c1", 10, 5)], T0 + 2)
    assert [(o.call_id, o.agent_id) for o in offers] == [("x", "c1")]
    offers = await store.claim([("x", "c2", 10, 5)], T0 + 2)
    assert offers == []
    offers = await store.claim([("y", "c2", 10, 5)], T0 + 2)
    assert [(o.call_id, o.agent_id, o.dial_string, o.ring_timeout_s) for o in offers] == [("y", "c2", "PJSIP/c2", 10.0)]
    a = await store.get_agent("c1")
    assert a.state == "ringing" and a.call_id == "x"
    c = await store.get_call("x")
    assert c.state == CallState.OFFERED and c.agent_id == "c1" and c.offer_until == pytest.approx(T0 + 17)


async def test_agent_states_and_pending_pause(store, cfg):
    await store.sync_agents(cfg.agents, T0)
    with pytest.raises(AcdError, match="unknown agent"):
        await store.agent_action("nobody", "login", "", T0)
    with pytest.raises(AcdError, match="logged out"):
        await store.agent_action("c1", "pause", "lunch", T0)
    a = await store.agent_action("c1", "login", "", T0)
    assert a.state == "available"
    a = await store.agent_action("c1", "pause", "lunch", T0 + 10)
    assert (a.state, a.reason) == ("paused", "lunch")
    await store.enqueue(mk_call("x"))
    await store.agent_action("c2", "login", "", T0 + 10)
    agents, _ = await store.snapshot(10)
    assert [x.id for x in agents] == ["c2"]          # a caller waits: free agents are read, c1 is not free
    await store.agent_action("c2", "logout", "", T0 + 10)
    a = await store.agent_action("c1", "resume", "", T0 + 20)
    assert a.state == "available" and a.idle_since == pytest.approx(T0 + 20)
    # pause during a call is applied after wrap-up
    await store.claim([("x", "c1", 10, 5)], T0 + 21)
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 22, 2) == "connected"
    a = await store.agent_action("c1", "pause", "meeting", T0 + 23)
    assert a.state == "talking" and a.pending == "pause:meeting"
    assert await store.call_ended("x", "c1", 30, T0 + 52, 5)
    assert (await store.get_agent("c1")).state == "wrapup"
    assert await store.release_wrapups(T0 + 56) == []
    assert await store.release_wrapups(T0 + 57) == ["c1"]
    a = await store.get_agent("c1")
    assert (a.state, a.reason, a.calls, a.talk_s) == ("paused", "meeting", 1, 30)
    assert a.times["talking"] == pytest.approx(30) and a.times["wrapup"] == pytest.approx(5)
    a = await store.agent_action("c1", "logout", "", T0 + 60)
    assert a.state == "logged_out"


async def test_no_answer_puts_call_back_at_head_and_pauses_after_misses(store, cfg):
    await ready(store, cfg, "c1", "c2")
    await store.enqueue(mk_call("first", t=T0))
    await store.enqueue(mk_call("second", t=T0 + 1))
    await store.claim([("first", "c1", 10, 5)], T0 + 2)
    assert (await store.position("second"))[0] == 1
    await store.enqueue(mk_call("third", t=T0 + 3))
    assert await store.ring_result("first", "c1", "NOANSWER", T0 + 12, 2) == "requeued"
    assert await store.position("first") == (1, "changchun")
    assert (await store.position("third"))[0] == 3
    a = await store.get_agent("c1")
    assert a.state == "available" and a.misses == 1 and a.idle_since == pytest.approx(T0 + 12)
    # a second miss in a row pauses the agent with reason "no answer"
    await store.claim([("first", "c1", 10, 5)], T0 + 13)
    assert await store.ring_result("first", "c1", "NOANSWER", T0 + 23, 2) == "requeued"
    a = await store.get_agent("c1")
    assert (a.state, a.reason) == ("paused", "no answer")
    # an answer resets the count
    await store.claim([("first", "c2", 10, 5)], T0 + 24)
    await store.ring_result("first", "c2", "NOANSWER", T0 + 25, 2)
    await store.claim([("first", "c2", 10, 5)], T0 + 26)
    assert await store.ring_result("first", "c2", "ANSWER", T0 + 27, 2) == "connected"
    assert (await store.get_agent("c2")).misses == 0
    # a late or duplicate report changes nothing
    assert await store.ring_result("first", "c2", "NOANSWER", T0 + 28, 2) == "stale"


async def test_offer_not_settled_is_reaped(store, cfg):
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("x"))
    await store.claim([("x", "c1", 10, 5)], T0 + 1)
    assert await store.reap_offers(T0 + 15) == []
    assert await store.reap_offers(T0 + 16) == ["x"]
    c = await store.get_call("x")
    a = await store.get_agent("c1")
    assert c.state == "waiting" and a.state == "available" and a.misses == 0
    assert await store.position("x") == (1, "changchun")


async def test_abandon_creates_callback_routed_once(store, cfg):
    await ready(store, cfg)
    await store.enqueue(mk_call("x", caller="13912345678"))
    cb = await store.abandon("x", T0 + 20, {"priority": -1, "delay_s": 30})
    assert cb == "cb:x"
    assert (await store.get_call("x")).state == CallState.ABANDONED
    assert await store.abandon("x", T0 + 21, {"priority": -1, "delay_s": 30}) == ""   # idempotent
    task = await store.get_call("cb:x")
    assert task.kind == CallKind.CALLBACK and task.due_at == pytest.approx(T0 + 50) and task.origin == "x"
    assert task.caller == "13912345678"
    await store.agent_action("c1", "login", "", T0 + 22)
    offers = await store.claim([("cb:x", "c1", 10, 20)], T0 + 51)
    assert offers[0].kind == CallKind.CALLBACK
    got = await store.pop_callback()
    assert (got.call_id, got.agent_id, got.caller) == ("cb:x", "c1", "13912345678")
    assert await store.pop_callback() is None
    # the caller does not answer: retried later, then failed after max attempts
    assert await store.ring_result("cb:x", "c1", "NOANSWER", T0 + 60, 2, "caller", 60, 2) == "retry"
    assert (await store.get_agent("c1")).misses == 0
    task = await store.get_call("cb:x")
    assert task.state == "waiting" and task.attempts == 1 and task.due_at == pytest.approx(T0 + 120)
    await store.claim([("cb:x", "c1", 10, 20)], T0 + 121)
    assert await store.ring_result("cb:x", "c1", "BUSY", T0 + 130, 2, "caller", 60, 2) == "failed"
    task = await store.get_call("cb:x")
    assert (task.state, task.attempts, task.outcome) == ("failed", 2, "BUSY")


async def test_abandon_while_ringing_frees_agent(store, cfg):
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("x"))
    await store.claim([("x", "c1", 10, 5)], T0 + 1)
    assert await store.abandon("x", T0 + 3, None) == ""
    a = await store.get_agent("c1")
    assert a.state == "available" and a.misses == 0
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 4, 2) == "stale"


async def test_request_callback_keeps_place(store, cfg):
    await ready(store, cfg)
    for i in range(3):
        await store.enqueue(mk_call(f"c{i}", t=T0 + i))
    assert not await store.request_callback("c1", T0 + 5)             # no number to ring back
    assert await store.request_callback("c1", T0 + 5, "13900000000")
    assert await store.position("c1") == (2, "changchun")
    assert (await store.get_call("c1")).kind == CallKind.CALLBACK
    assert not await store.request_callback("nope", T0 + 5)


async def test_priority_and_enqueue_idempotent(store, cfg):
    await ready(store, cfg, "c1")
    assert await store.enqueue(mk_call("a", t=T0)) == 1
    assert await store.enqueue(mk_call("b", t=T0 + 1)) == 2
    assert await store.enqueue(mk_call("vip", priority=3, t=T0 + 2)) == 1
    assert await store.enqueue(mk_call("a", t=T0 + 9)) == 2       # re-enqueue keeps the place
    waiting = await store.waiting()
    assert [cid for cid, _ in waiting["changchun"]] == ["vip", "a", "b"]
    _, calls = await store.snapshot(2)
    assert [c.call_id for c in calls] == ["vip", "a"]
    _, calls = await store.snapshot(100)          # one free agent: the head 8 of each queue
    assert [c.call_id for c in calls] == ["vip", "a", "b"]
    await store.agent_action("c1", "pause", "", T0 + 1)
    assert await store.snapshot(100) == ([], [])   # nobody free: nothing to read


async def test_stats_service_levels(store, cfg):
    await ready(store, cfg, "c1", "c2")
    # answered after 5 s, answered after 40 s, abandoned after 8 s
    await store.enqueue(mk_call("fast", t=T0))
    await store.claim([("fast", "c1", 10, 5)], T0 + 4)
    await store.ring_result("fast", "c1", "ANSWER", T0 + 5, 2)
    await store.enqueue(mk_call("slow", t=T0))
    await store.claim([("slow", "c2", 10, 5)], T0 + 39)
    await store.ring_result("slow", "c2", "ANSWER", T0 + 40, 2)
    await store.enqueue(mk_call("gone", t=T0 + 2))
    await store.abandon("gone", T0 + 10, None)
    await store.enqueue(mk_call("still", t=T0 + 30))
    figures = await collect_stats(store, cfg, T0 + 50)
    q = next(r for r in figures["queues"] if r["queue"] == "changchun")
    assert (q["offered"], q["answered"], q["abandoned"], q["answered_within"]) == (3, 2, 1, 1)
    assert q["sl_answered"] == pytest.approx(0.5)
    assert q["sl_offered"] == pytest.approx(1 / 3)
    assert q["asa_s"] == pytest.approx(22.5)
    assert q["abandon_rate"] == pytest.approx(1 / 3)
    assert q["completion_24h"] == pytest.approx(2 / 3)
    assert q["waiting"] == 1 and q["longest_wait_s"] == pytest.approx(20, abs=0.01)
    assert q["agents"]["talking"] == 2
    # outcomes older than 24 h no longer count
    later = await collect_stats(store, cfg, T0 + 86400 + 41)
    q = next(r for r in later["queues"] if r["queue"] == "changchun")
    assert q["offered"] == 0 and q["sl_answered"] is None


async def test_records_kept_and_listed(store, cfg):
    await store.put_record({"call_id": "r1", "ts": T0, "caller": "139", "outcome": "answered"}, T0, 1000)
    await store.put_record({"call_id": "r2", "ts": T0 + 50, "caller": "138", "outcome": "abandoned"}, T0 + 50, 1000)
    rows = await store.records(T0 - 1)
    assert [r["call_id"] for r in rows] == ["r1", "r2"]
    assert [r["call_id"] for r in await store.records(T0 + 10)] == ["r2"]
    assert [r["call_id"] for r in await store.records(T0 - 1, T0 + 10)] == ["r1"]


async def test_restore_after_lost_state(store, cfg):
    busy = Agent.from_dict({**cfg.agents[3].to_dict(), "state": "wrapup", "wrap_until": T0 + 30})
    assert await store.restore_agent(busy)
    await store.sync_agents(cfg.agents, T0)          # the rest come back logged out
    assert (await store.get_agent("c1")).state == "wrapup"
    assert (await store.get_agent("c2")).state == "logged_out"
    assert await store.release_wrapups(T0 + 30) == ["c1"]
    await store.agent_action("c1", "pause", "x", T0 + 30)
    # a connected call re-asserted by its node takes its agent back
    call = mk_call("x")
    call.state, call.agent_id = CallState.CONNECTED, "c1"
    assert await store.restore_call(call, T0 + 1)
    a = await store.get_agent("c1")
    assert a.state == "talking" and a.call_id == "x"
    waiting = mk_call("w", t=T0 - 100)
    assert await store.restore_call(waiting, T0 + 1)
    assert await store.position("w") == (1, "changchun")


async def test_restore_agent_only_if_missing(store, cfg):
    a = Agent(id="new", dial="PJSIP/new", queues=["changchun"], skills={"zh": 3}, state="available", idle_since=T0)
    assert await store.restore_agent(a)
    b = Agent(id="new", dial="PJSIP/new", queues=["changchun"], skills={"zh": 3}, state="paused", reason="x")
    assert not await store.restore_agent(b)
    assert (await store.get_agent("new")).state == "available"
    assert await store.snapshot(5) == ([], [])      # nobody waits: nothing to read (an idle node's round)
    await store.enqueue(mk_call("x"))
    agents, _ = await store.snapshot(5)
    assert [x.id for x in agents] == ["new"]


async def test_sync_agents_keeps_state_and_updates_dial(store, cfg):
    await ready(store, cfg, "c1")
    changed = [Agent.from_dict({**a.to_dict(), "dial": "PJSIP/x" + a.id}) for a in cfg.agents]
    await store.sync_agents(changed, T0 + 5)
    a = await store.get_agent("c1")
    assert a.state == "available" and a.dial == "PJSIP/xc1"
    assert len(await store.agents()) == len(cfg.agents)


async def test_epoch_is_stable(store):
    e1 = await store.ensure_epoch("n1", T0)
    e2 = await store.ensure_epoch("n2", T0 + 1)
    assert e1 == e2 and e1.startswith("n1@")


async def test_finished_calls_do_not_pile_up(store, cfg):
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("x"))
    await store.claim([("x", "c1", 10, 5)], T0 + 1)
    await store.ring_result("x", "c1", "ANSWER", T0 + 2, 2)
    await store.call_ended("x", "c1", 5, T0 + 7, 0)
    if hasattr(store, "_pool"):
        ttl = await store._pool.ttl(store.key("call", "x"))
        assert 0 < ttl <= 86400                 # Redis expires it
        assert await store._pool.hexists(store.key("route"), "x") is False
    else:
        await store.release_wrapups(T0 + 7 + 86400 + 1)
        assert await store.get_call("x") is None


async def test_call_nobody_owns_is_dropped_after_repeated_reaps(store, cfg):
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("ghost"))
    t = T0
    for i in range(3):
        t += 1
        assert len(await store.claim([("ghost", "c1", 10, 5)], t)) == 1
        t += 16
        assert await store.reap_offers(t, 3) == ["ghost"]
    call = await store.get_call("ghost")
    assert (call.state, call.outcome, call.reaped) == ("abandoned", "lost", 3)
    assert await store.waiting() == {}
    assert (await store.get_agent("c1")).state == "available"
    assert await store.claim([("ghost", "c1", 10, 5)], t + 1) == []


async def test_a_late_answer_stands_after_the_offer_was_taken_back(store, cfg):
    """During an outage the reaper may take an offer back before the owner's ANSWER lands."""
    await ready(store, cfg, "c1", "c2")
    await store.enqueue(mk_call("x"))
    await store.claim([("x", "c1", 10, 5)], T0 + 1)
    assert await store.reap_offers(T0 + 17) == ["x"]                      # back in line, c1 free
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 18, 2) == "connected"
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 18, 2) == "connected"   # a repeat is harmless
    a = await store.get_agent("c1")
    assert (a.state, a.call_id) == ("talking", "x") and await store.waiting() == {}
    assert await store.call_ended("x", "c1", 30, T0 + 48, 0)
    # taken back and offered to c2 meanwhile: c1 answered, so c2 is freed without a miss
    await store.enqueue(mk_call("y", t=T0 + 50))
    await store.claim([("y", "c1", 10, 5)], T0 + 51)
    await store.reap_offers(T0 + 67)
    await store.claim([("y", "c2", 10, 5)], T0 + 68)
    assert await store.ring_result("y", "c1", "ANSWER", T0 + 69, 2) == "connected"
    c2 = await store.get_agent("c2")
    assert (c2.state, c2.misses, c2.call_id) == ("available", 0, "")
    assert (await store.get_call("y")).agent_id == "c1"
    figures = await collect_stats(store, cfg, T0 + 70)
    q = next(r for r in figures["queues"] if r["queue"] == "changchun")
    assert q["answered"] == 2                                              # counted once each
    # an agent on another call cannot have answered this one
    await store.enqueue(mk_call("z", t=T0 + 71))
    await store.claim([("z", "c2", 10, 5)], T0 + 72)
    assert await store.ring_result("z", "c1", "ANSWER", T0 + 73, 2) == "stale"


async def test_a_late_answer_takes_back_the_offer_ringing_that_agent_meanwhile(store, cfg):
    """Seen in the chaos benchmark: x's offer to c1 reaped on a starved PBX, c1 offered y, then
    x's ANSWER lands: c1 talks to x, so y goes back to the head instead of booking c1 twice."""
    await ready(store, cfg, "c1", "c2")
    await store.enqueue(mk_call("x", t=T0))
    await store.enqueue(mk_call("y", t=T0 + 1))
    await store.claim([("x", "c1", 10, 5)], T0 + 2)
    assert await store.reap_offers(T0 + 18) == ["x"]
    await store.claim([("y", "c1", 10, 5)], T0 + 19)
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 20, 2) == "connected"
    a = await store.get_agent("c1")
    assert (a.state, a.call_id, a.misses) == ("talking", "x", 0)
    y = await store.get_call("y")
    assert (y.state, y.agent_id) == (CallState.WAITING, "")
    assert (await store.position("y"))[0] == 1
    # y's own late ANSWER from c1 is refused: c1 is on x
    assert await store.ring_result("y", "c1", "ANSWER", T0 + 21, 2) == "stale"
    assert (await store.get_agent("c1")).call_id == "x"
    offers = await store.claim([("y", "c2", 10, 5)], T0 + 22)
    assert [(o.call_id, o.agent_id) for o in offers] == [("y", "c2")]


async def test_a_late_answer_stands_even_when_the_agent_was_paused_meanwhile(store, cfg):
    """Seen in the chaos benchmark: a frozen PBX delayed DialEnd past the offer's end, the agent
    was paused for the 'miss', and the answer was refused while agent and caller talked."""
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("x"))
    await store.claim([("x", "c1", 10, 5)], T0 + 1)
    assert await store.reap_offers(T0 + 17) == ["x"]
    await store.agent_action("c1", "pause", "no answer", T0 + 18)
    assert await store.ring_result("x", "c1", "ANSWER", T0 + 19, 2) == "connected"
    a = await store.get_agent("c1")
    assert (a.state, a.call_id) == ("talking", "x")
    assert await store.call_ended("x", "c1", 30, T0 + 49, 0)


async def test_callback_refused_by_the_pbx_backs_off_and_never_costs_the_agent(store, cfg):
    await ready(store, cfg, "c1")
    await store.enqueue(mk_call("x", caller="13912345678"))
    assert await store.abandon("x", T0 + 1, {"priority": -1, "delay_s": 0}) == "cb:x"
    t = T0 + 2
    for attempt, backoff in ((1, 60), (2, 120)):
        assert len(await store.claim([("cb:x", "c1", 10, 20)], t)) == 1
        assert await store.ring_result("cb:x", "c1", "CHANUNAVAIL", t + 1, 2, "pbx", 60, 3, "Originate refused") == "retry"
        task = await store.get_call("cb:x")
        assert (task.state, task.attempts, task.reason) == ("waiting", attempt, "Originate refused")
        assert task.due_at == pytest.approx(t + 1 + backoff)
        a = await store.get_agent("c1")
        assert (a.state, a.misses) == ("available", 0)
        t = task.due_at
    await store.claim([("cb:x", "c1", 10, 20)], t)
    assert await store.ring_result("cb:x", "c1", "CHANUNAVAIL", t + 1, 2, "pbx", 60, 3, "still refused") == "failed"
    task = await store.get_call("cb:x")
    assert (task.state, task.attempts, task.outcome, task.reason) == ("failed", 3, "CHANUNAVAIL", "still refused")
    # an undialable number fails at once
    await store.enqueue(mk_call("y", caller="13912345679"))
    await store.abandon("y", t + 2, {"priority": -1, "delay_s": 0})
    await store.claim([("cb:y", "c1", 10, 20)], t + 3)
    assert await store.ring_result("cb:y", "c1", "INVALID", t + 4, 2, "invalid", 60, 3, "bad number") == "failed"
    assert (await store.get_agent("c1")).misses == 0


async def test_abandon_of_an_unusable_number_makes_no_callback(store, cfg):
    await ready(store, cfg)
    await store.enqueue(mk_call("x", caller="anonymous"))
    assert await store.abandon("x", T0 + 1, {"priority": -1, "delay_s": 0}) == ""
    assert await store.get_call("cb:x") is None
