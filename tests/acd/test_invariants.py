"""The ACD's rules, checked after every step of random interleavings of three engine nodes.

Hypothesis drives the store through the operations nodes send it (enqueue, claim, ring
results right and wrong, answers late or for another agent, hang-ups, wrap-ups, pauses,
logins, node deaths, the store losing its data and the nodes re-asserting what they hold)
and after each step checks the invariants of docs/acd.md ("Invariants"):

1. an agent has at most one live call, and its state says which (ringing: an offered call
   naming it; talking: a connected call naming it);
2. a live call has at most one agent, and that agent is on it;
3. a waiting call is in its queue's line once, a call in any other state is in no line;
4. exactly the available agents are offered to routing (none when nobody waits);
5. results and ends apply only to the call they name (a wrong one changes nothing: 1–4 hold);
6. restore never binds an agent that is already bound.

The same machine runs on the in-memory store alone, and on the memory and Redis stores in
lockstep, where every answer and the whole state must also agree between the two.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from acd import config as config_mod
from acd import recovery
from acd.model import Agent, AgentState, Call, CallState
from acd.store import MemoryStore

from acd_fixtures import REDIS_HOST, REDIS_PORT, unique_prefix

CONFIG = config_mod.parse("""
offer_grace_s: 2
defaults: {ring_timeout_s: 10, max_misses: 2, wrapup_s: 5}
queues:
  - id: north
  - id: south
agents:
  - {id: a1, center: changchun, queues: [north], dial: PJSIP/a1, skills: {zh: 3}}
  - {id: a2, center: changchun, queues: [north, south], dial: PJSIP/a2, skills: {zh: 3}}
  - {id: a3, center: changchun, queues: [south], dial: PJSIP/a3, skills: {zh: 3}}
  - {id: a4, center: changchun, queues: [north, south], dial: PJSIP/a4, skills: {zh: 3}}
""", "invariants.yaml")
AGENTS = [a.id for a in CONFIG.agents]
NODES = ("n1", "n2", "n3")
QUEUES = ("north", "south")
LIVE = (CallState.OFFERED, CallState.CONNECTED)
RING_S, GRACE_S, WRAP_S, MAX_MISSES = 10.0, 2.0, 5.0, 2
MAX_WRAP_S = 12.0        # wrap-up extension's bound (a queue's max_wrapup_s)

#: One loop for every example: the Redis client's connections belong to the loop that made them.
LOOP = asyncio.new_event_loop()


def run(coro):
    return LOOP.run_until_complete(coro)


async def _redis_store(clock):
    from acd.redis_store import RedisStore

    return await RedisStore.connect(REDIS_HOST, REDIS_PORT, prefix=unique_prefix("inv"), server_clock=clock)


class Stores(RuleBasedStateMachine):
    """The nodes' view is kept here; the stores' view is read back after every step."""

    with_redis = False

    def __init__(self):
        super().__init__()
        self.now = 1_790_000_000.0
        self.stores = []
        self.calls: list[str] = []                      # every call id ever enqueued
        self.held: dict[str, dict[str, Call]] = {n: {} for n in NODES}   # node -> its callers, as it knows them
        self.seen: dict[str, Agent] = {}                # agents as the nodes last saw them
        self.serial = 0

    @initialize()
    def open_stores(self):
        self.stores = [MemoryStore()]
        if self.with_redis:
            self.stores.append(run(_redis_store(lambda: self.now)))
        self._all(lambda s: s.sync_agents(CONFIG.agents, self.now))
        for agent in AGENTS[:3]:       # a center at work; the rules log in, pause and log out the rest
            self._all(lambda s: s.agent_action(agent, "login", "", self.now))

    def teardown(self):
        for store in self.stores:
            if isinstance(store, MemoryStore):
                continue
            run(store.delete_all())
            run(store.close())

    # -- plumbing ---------------------------------------------------------------------------------
    def _all(self, op):
        """Run ``op`` on every store; they must answer alike."""
        answers = [run(op(store)) for store in self.stores]
        for other in answers[1:]:
            assert _plain(other) == _plain(answers[0]), (answers[0], other)
        return answers[0]

    def _owner(self, call_id: str) -> str | None:
        return next((n for n, calls in self.held.items() if call_id in calls), None)

    def _learn(self, call_id: str) -> None:
        """The owner learns where its caller stands after an operation it made itself."""
        node = self._owner(call_id)
        if node is None:
            return
        call = run(self.stores[0].get_call(call_id))
        if call is None or call.state not in (CallState.WAITING, *LIVE):
            del self.held[node][call_id]
        else:
            self.held[node][call_id] = call

    # -- agents -----------------------------------------------------------------------------------
    @rule(agent=st.sampled_from(AGENTS), action=st.sampled_from(["login", "logout", "pause", "resume"]))
    def agent_action(self, agent, action):
        async def op(store):
            try:
                got = await store.agent_action(agent, action, "break", self.now)
            except Exception as exc:     # the refusals (paused while logged out...) must agree too
                return f"refused: {exc}"
            return (got.state, got.pending, got.reason)
        self._all(op)

    # -- calls ------------------------------------------------------------------------------------
    @rule(node=st.sampled_from(NODES), queue=st.sampled_from(QUEUES), priority=st.integers(0, 1))
    def enqueue(self, node, queue, priority):
        self.serial += 1
        call = Call(call_id=f"c{self.serial}", queue=queue, skills=["zh"], priority=priority, caller="13800000000",
                    enqueued_at=self.now)
        self._all(lambda s: s.enqueue(Call.from_dict(call.to_dict())))
        self.calls.append(call.call_id)
        self.held[node][call.call_id] = call
        self._learn(call.call_id)

    def _pick(self, data):
        """Mostly one of the latest calls (those still live), now and then any call ever made."""
        recent = st.sampled_from(self.calls[-4:])
        return data.draw(st.one_of(recent, recent, recent, st.sampled_from(self.calls)))

    @rule(data=st.data())
    def dispatch(self, data):
        """A routing round as a node runs it: a waiting caller to a free agent of its queue (which
        pair is the routing policy's business, not the store's: any pair may come up)."""
        free, heads = run(self.stores[0].snapshot(100))
        pairs = [(c.call_id, a.id) for c in heads for a in free if c.queue in a.queues]
        if pairs:
            call_id, agent_id = data.draw(st.sampled_from(pairs))
            self._all(lambda s: s.claim([(call_id, agent_id, RING_S, GRACE_S)], self.now))
            self._learn(call_id)

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def claim(self, data):
        call_id = self._pick(data)
        agent = data.draw(st.sampled_from(AGENTS))
        offers = self._all(lambda s: s.claim([(call_id, agent, RING_S, GRACE_S)], self.now))
        if offers:
            self._learn(call_id)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), status=st.sampled_from(["ANSWER", "ANSWER", "NOANSWER", "BUSY", "CHANUNAVAIL"]),
          right_agent=st.booleans())
    def ring_result(self, data, status, right_agent):
        """Mostly from the agent the call was offered to; sometimes from any agent (a late or
        misdirected report), which must change nothing it does not name."""
        call_id = self._pick(data)
        call = run(self.stores[0].get_call(call_id))
        agent = call.agent_id if right_agent and call is not None and call.agent_id else data.draw(st.sampled_from(AGENTS))
        self._all(lambda s: s.ring_result(call_id, agent, status, self.now, MAX_MISSES))
        self._learn(call_id)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), right_agent=st.booleans(), wrap=st.sampled_from([0.0, WRAP_S]))
    def call_ended(self, data, right_agent, wrap):
        call_id = self._pick(data)
        call = run(self.stores[0].get_call(call_id))
        agent = call.agent_id if right_agent and call is not None and call.agent_id else data.draw(st.sampled_from(AGENTS))
        self._all(lambda s: s.call_ended(call_id, agent, 30.0, self.now, wrap))
        self._learn(call_id)

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def abandon(self, data):
        call_id = self._pick(data)
        self._all(lambda s: s.abandon(call_id, self.now, None))
        self._learn(call_id)

    @rule(agent=st.sampled_from(AGENTS), seconds=st.sampled_from([1.0, 4.0, 30.0]))
    def wrapup_extend(self, agent, seconds):
        """An agent asks for more wrap-up (refused unless in wrap-up, or at the maximum): both stores
        answer alike, and the released sets in ``time_passes`` must agree afterwards too."""
        async def op(store):
            try:
                got = await store.wrapup_extend(agent, seconds, MAX_WRAP_S, self.now)
            except Exception as exc:
                return f"refused: {exc}"
            return (got.state, got.wrap_until)
        self._all(op)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), agent=st.sampled_from(AGENTS))
    def wrapup_done(self, data, agent):
        """The agent's disposition said --done: a wrap-up for that call (and only that call) ends."""
        call_id = self._pick(data)
        self._all(lambda s: s.wrapup_done(agent, call_id, self.now))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), right_agent=st.booleans())
    def request_transfer(self, data, right_agent):
        """An agent asks to hand a caller on: refused unless connected to that agent with no other
        transfer running; the refusals' words agree too."""
        call_id = self._pick(data)
        call = run(self.stores[0].get_call(call_id))
        agent = call.agent_id if right_agent and call is not None and call.agent_id else data.draw(st.sampled_from(AGENTS))
        self.serial += 1
        self._all(lambda s: s.request_transfer(call_id, agent, f'{{"id": "x{self.serial}"}}', self.now))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), supervisor=st.sampled_from(["s1", "s2"]), mode=st.sampled_from(["listen", "barge"]))
    def request_spy(self, data, supervisor, mode):
        """A supervisor asks onto a call: refused unless connected, and once per supervisor and mode."""
        call_id = self._pick(data)
        self.serial += 1
        spy = json.dumps({"id": f"s{self.serial}", "supervisor": supervisor, "mode": mode})
        self._all(lambda s: s.request_spy(call_id, spy, self.now))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), right_agent=st.booleans())
    def recall_agent(self, data, right_agent):
        """A transfer failed: the agent who ended the call is rung again, if free or in its wrap-up."""
        call_id = self._pick(data)
        call = run(self.stores[0].get_call(call_id))
        agent = call.agent_id if right_agent and call is not None and call.agent_id else data.draw(st.sampled_from(AGENTS))
        offer = self._all(lambda s: s.recall_agent(call_id, agent, RING_S, GRACE_S, self.now))
        if offer is not None:
            node = data.draw(st.sampled_from(NODES))         # the caller's owner, again
            for calls in self.held.values():
                calls.pop(call_id, None)
            self.held[node][call_id] = run(self.stores[0].get_call(call_id))

    # -- time -------------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1.0, 6.0, 13.0]))
    def time_passes(self, seconds):
        self.now += seconds
        self._all(lambda s: s.release_wrapups(self.now))
        self._all(lambda s: s.reap_offers(self.now))

    # -- faults -----------------------------------------------------------------------------------
    @rule(node=st.sampled_from(NODES))
    def node_dies(self, node):
        """Its callers' channels are gone with it: their offers are reaped, nobody reports for them."""
        self.held[node] = {}

    @rule()
    def nodes_look_at_agents(self):
        self.seen = {a.id: a for a in run(self.stores[0].agents())}

    @rule()
    def store_loses_its_data(self):
        """Redis restarted empty: each node re-asserts what it holds (acd/recovery.py), one after another."""
        fresh = []
        for store in self.stores:
            if isinstance(store, MemoryStore):
                fresh.append(MemoryStore())
            else:
                run(store.delete_all())
                fresh.append(store)
        self.stores = fresh
        for node in NODES:
            calls = [Call.from_dict(c.to_dict()) for c in self.held[node].values()]
            self._all(lambda s: recovery.restore(s, CONFIG, self.seen.values(), [Call.from_dict(c.to_dict()) for c in calls],
                                                 self.now))
        for node in NODES:
            for call_id in list(self.held[node]):
                self._learn(call_id)

    # -- the rules --------------------------------------------------------------------------------
    @invariant()
    def wrapup_within_its_maximum(self):
        """No extension takes a wrap-up past MAX_WRAP_S after the call's end, and an agent in
        wrap-up is one the maintenance pass will release (its end is in the wrap-up set).  A
        recovery hold (acd/recovery.py: no call, RECOVERY_HOLD_S from the restore) has no call end."""
        for store in self.stores:
            for a in run(store.agents()):
                if a.state == AgentState.WRAPUP:
                    if a.call_id:
                        assert a.since < a.wrap_until <= a.since + max(MAX_WRAP_S, WRAP_S), (a.id, a.since,
                                                                                              a.wrap_until)
                    assert _wrap_end(store, a.id) == a.wrap_until, (a.id, a.wrap_until)

    @invariant()
    def invariants_hold(self):
        if not self.stores:
            return
        views = [_view(store, self.calls) for store in self.stores]
        for view in views:
            _check(*view)
        for other in views[1:]:
            assert other == views[0], "the stores disagree"


def _wrap_end(store, agent_id):
    """When the store's wrap-up set says this agent's wrap-up ends (what release_wrapups reads)."""
    if isinstance(store, MemoryStore):
        return store._wrap.get(agent_id)
    return run(store.redis.zscore(store.key("wrap"), agent_id))


def _view(store, call_ids):
    agents = {a.id: a for a in run(store.agents())}
    calls = {c.call_id: c for c in run(store.get_calls(list(call_ids))) if c is not None}
    waiting = run(store.waiting())
    free, _ = run(store.snapshot(1000))
    return (
        {a.id: (a.state, a.call_id, a.pending, a.reason) for a in agents.values()},
        {c.call_id: (c.state, c.agent_id, c.queue, bool(c.transfer),
                     tuple((s["supervisor"], s["mode"]) for s in json.loads(c.spies or "[]"))) for c in calls.values()},
        {q: [cid for cid, _ in line] for q, line in waiting.items() if line},
        sorted(a.id for a in free),
    )


def _check(agents, calls, lines, free):
    for agent_id, (state, call_id, _, _) in agents.items():
        if state == AgentState.RINGING:
            assert calls.get(call_id, (None, None))[:2] == (CallState.OFFERED, agent_id), (agent_id, state, call_id, calls.get(call_id))
        if state == AgentState.TALKING:
            assert calls.get(call_id, (None, None))[:2] == (CallState.CONNECTED, agent_id), (agent_id, state, call_id, calls.get(call_id))
    for call_id, (state, agent_id, queue, *_) in calls.items():
        if state == CallState.OFFERED:
            assert agents[agent_id][:2] == (AgentState.RINGING, call_id), (call_id, agent_id, agents.get(agent_id))
        if state == CallState.CONNECTED and agent_id:
            assert agents[agent_id][:2] == (AgentState.TALKING, call_id), (call_id, agent_id, agents.get(agent_id))
    bound = [agent_id for state, agent_id, *_ in calls.values() if agent_id and state in LIVE]
    assert len(bound) == len(set(bound)), f"an agent on two live calls: {bound}"
    in_lines = [cid for line in lines.values() for cid in line]
    assert len(in_lines) == len(set(in_lines)), f"a call twice in line: {in_lines}"
    assert sorted(in_lines) == sorted(c for c, (state, *_) in calls.items() if state == CallState.WAITING)
    for queue, line in lines.items():
        assert all(calls[cid][2] == queue for cid in line), (queue, line)
    available = sorted(a for a, (state, _, _, _) in agents.items() if state == AgentState.AVAILABLE)
    assert free == (available if in_lines else []), (free, available, in_lines)


def _plain(value):
    """Answers compared between stores: offers and agents by their fields."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__slots__"):
        return tuple(getattr(value, f) for f in value.__slots__)
    return value


class MemoryOnly(Stores):
    with_redis = False


class MemoryAndRedis(Stores):
    with_redis = True


_SETTINGS = dict(stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TestMemoryStore = MemoryOnly.TestCase
TestMemoryStore.settings = settings(max_examples=400, **_SETTINGS)

TestBothStoresAgree = MemoryAndRedis.TestCase
TestBothStoresAgree.settings = settings(max_examples=100, **_SETTINGS)
TestBothStoresAgree = pytest.mark.slow(TestBothStoresAgree)


# -- the two holes the machine was written for, as fixed sequences on both stores ------------------

@pytest.fixture(params=["memory", "redis"])
def machine(request):
    m = MemoryOnly() if request.param == "memory" else _RedisOnly()
    m.open_stores()
    yield m
    m.teardown()


class _RedisOnly(Stores):
    """The Redis store alone (the lockstep machine keeps the memory store as reference)."""

    with_redis = True

    def open_stores(self):
        super().open_stores()
        self.stores = self.stores[1:]


def test_restore_never_binds_an_agent_another_call_holds(machine):
    """n1 still believes its caller rings a1 (its offer went back meanwhile); n2's caller now rings
    a1.  Redis loses its data and both re-assert: a1 rings for one of them, the other waits again."""
    m = machine
    m.enqueue("n1", "north", 0)
    m._all(lambda s: s.claim([("c1", "a1", RING_S, GRACE_S)], m.now))
    m._learn("c1")
    m.time_passes(RING_S + GRACE_S + 1)                 # reaped; n1 was too busy to hear
    assert m.held["n1"]["c1"].state == CallState.OFFERED
    m.enqueue("n2", "north", 0)
    assert m._all(lambda s: s.claim([("c2", "a1", RING_S, GRACE_S)], m.now))
    m._learn("c2")
    m.store_loses_its_data()
    m.invariants_hold()
    states = {c.call_id: c.state for c in run(m.stores[0].get_calls(["c1", "c2"]))}
    assert sorted(states.values()) == sorted([CallState.WAITING, CallState.OFFERED]), states


def test_an_answer_never_binds_an_agent_talking_on_another_call(machine):
    m = machine
    m.enqueue("n1", "north", 0)
    m.enqueue("n2", "north", 0)
    m._all(lambda s: s.claim([("c1", "a1", RING_S, GRACE_S)], m.now))
    assert m._all(lambda s: s.ring_result("c1", "a1", "ANSWER", m.now, MAX_MISSES)) == "connected"
    # c2 offered to a1 as well (a store that lost track; restored from a stale view)
    stale = Call.from_dict(run(m.stores[0].get_call("c2")).to_dict())
    stale.state, stale.agent_id, stale.offer_until = CallState.OFFERED, "a1", m.now + RING_S
    assert m._all(lambda s: s.restore_call(Call.from_dict(stale.to_dict()), m.now)) is False
    assert m._all(lambda s: s.ring_result("c2", "a1", "ANSWER", m.now, MAX_MISSES)) == "stale"
    m.invariants_hold()
    a1 = run(m.stores[0].get_agent("a1"))
    assert (a1.state, a1.call_id) == (AgentState.TALKING, "c1")


async def test_ring_deadlines_are_on_the_servers_clock_whatever_the_nodes_say():
    """Node b's clock runs a minute ahead: it used to reap a's ring at once (offer_until was on
    a's clock, compared with b's).  On Redis's TIME the ring stands until its own deadline."""
    import time

    from acd.redis_store import RedisStore

    store = await RedisStore.connect(REDIS_HOST, REDIS_PORT, prefix=unique_prefix("skew"))
    try:
        a_now, b_now = time.time(), time.time() + 60
        await store.sync_agents(CONFIG.agents, a_now)
        await store.agent_action("a1", "login", "", a_now)
        await store.enqueue(Call(call_id="k", queue="north", skills=["zh"], caller="13800000000", enqueued_at=a_now))
        assert await store.claim([("k", "a1", RING_S, GRACE_S)], a_now)
        assert await store.reap_offers(b_now) == []                  # b's minute ahead changes nothing
        call = await store.get_call("k")
        assert call.state == CallState.OFFERED
        assert time.time() < call.offer_until <= time.time() + RING_S + GRACE_S
        # a node whose clock is half a minute behind re-asserts the ring after a data loss: the
        # time it had left moves to the server's clock
        behind = time.time() - 30
        call.offer_until = behind + RING_S
        await store.delete_all()
        await store.sync_agents(CONFIG.agents, behind)
        assert await store.restore_call(call, behind)
        restored = await store.get_call("k")
        assert abs(restored.offer_until - (time.time() + RING_S)) < 2.0
        assert await store.reap_offers(behind + 3600) == []          # nobody's clock but the server's counts
    finally:
        await store.delete_all()
        await store.close()
