"""The in-memory store: all state in this process (the demo, a single node, and the reference
semantics the Redis scripts follow; the same suite runs against both, tests/acd/test_acd_store.py).

Every method is one atomic step because nothing in it awaits.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
from collections import deque
from typing import Iterable

from acd.leases import MemoryLeases
from acd.model import ANSWERED, AcdError, Agent, AgentState, Call, CallKind, CallState, Offer
from acd.stats import ABANDONED, ANSWERED as OUT_ANSWERED, DAY_S
from acd.store import (
    MISS_STATUSES, Handler, Store, _callback_for, enter, snapshot_depth, spy_refusal, transfer_refusal,
)


def _writes(method):
    """Counts the writes (see :meth:`MemoryStore.changes`); a write that changed nothing still
    counts: the count only ever says "maybe changed" or "certainly not"."""

    @functools.wraps(method)
    async def counted(self, *args, **kwargs):
        self._changes += 1
        return await method(self, *args, **kwargs)

    return counted


class MemoryStore(Store):
    """All state in this process: the demo, a single node, and the reference for Redis."""

    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, Call] = {}
        self._wait: dict[str, list[tuple[float, str]]] = {}   # queue -> sorted (score, call_id)
        self._offers: dict[str, float] = {}              # call_id -> deadline
        self._wrap: dict[str, float] = {}                # agent_id -> wrap_until
        self._cbready: deque[str] = deque()
        self._outcomes: dict[str, deque] = {}
        self._records: dict[str, tuple[float, float, dict]] = {}   # id -> (ts, expires, record)
        self._avail: dict[str, Agent] = {}               # available agents, for snapshots
        self._finished: deque[tuple[float, str]] = deque()  # (ended at, call id): dropped after a day
        self._handlers: list[Handler] = []
        self._epoch = ""
        self._nodes: dict[str, tuple[float, str]] = {}
        self.leases = MemoryLeases()
        self._changes = 0
        self.stats_payload = ""

    def _enter(self, agent: Agent, state: str, now: float) -> None:
        enter(agent, state, now)
        if state == AgentState.AVAILABLE:
            self._avail[agent.id] = agent
        else:
            self._avail.pop(agent.id, None)

    # -- notifications ----------------------------------------------------------------------
    async def listen(self, handler: Handler) -> None:
        """Deliver this store's events to ``handler`` until cancelled (see Store.listen)."""
        self._handlers.append(handler)
        try:
            handler("resubscribed", "")
            await asyncio.Event().wait()
        finally:
            self._handlers.remove(handler)

    def _notify(self, kind: str, payload: str = "") -> None:
        if not self._handlers:
            return
        loop = asyncio.get_running_loop()
        for h in self._handlers:
            loop.call_soon(h, kind, payload)

    async def changes(self) -> int:
        return self._changes

    async def ensure_epoch(self, node: str, now: float) -> str:
        if not self._epoch:
            self._epoch = f"{node}@{now!r}"
        return self._epoch

    # -- agents -----------------------------------------------------------------------------
    @_writes
    async def sync_agents(self, agents: Iterable[Agent], now: float) -> None:
        for a in agents:
            cur = self._agents.get(a.id)
            if cur is None:
                fresh = Agent.from_dict(a.to_dict())
                fresh.state, fresh.since = AgentState.LOGGED_OUT, now
                self._agents[a.id] = fresh
            else:
                cur.dial, cur.name, cur.center = a.dial, a.name, a.center
                cur.queues, cur.skills = list(a.queues), dict(a.skills)

    def _agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise AcdError(f"unknown agent {agent_id!r}")
        return agent

    def _make_available(self, agent: Agent, now: float) -> None:
        """End of a call, wrap-up or pause: apply a pending logout/pause, else wait for calls."""
        agent.call_id = ""
        pending, agent.pending = agent.pending, ""
        if pending == "logout":
            self._enter(agent, AgentState.LOGGED_OUT, now)
        elif pending.startswith("pause:"):
            self._enter(agent, AgentState.PAUSED, now)
            agent.reason = pending[6:]
        else:
            self._enter(agent, AgentState.AVAILABLE, now)
            agent.idle_since = now
            self._notify("kick")

    @_writes
    async def agent_action(self, agent_id: str, action: str, reason: str, now: float) -> Agent:
        agent = self._agent(agent_id)
        st = agent.state
        busy = st in (AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP)
        if action == "login":
            if st == AgentState.LOGGED_OUT:
                agent.times = {}
                agent.misses = 0
                agent.reason = ""
                self._enter(agent, AgentState.AVAILABLE, now)
                agent.idle_since = now
                self._notify("kick")
            elif agent.pending == "logout":
                agent.pending = ""
        elif action == "logout":
            if busy:
                agent.pending = "logout"
            elif st != AgentState.LOGGED_OUT:
                self._enter(agent, AgentState.LOGGED_OUT, now)
                agent.reason = ""
        elif action == "pause":
            reason = reason or "break"
            if st == AgentState.LOGGED_OUT:
                raise AcdError(f"agent {agent_id!r} is logged out")
            if busy:
                agent.pending = "pause:" + reason
            else:
                if st != AgentState.PAUSED:
                    self._enter(agent, AgentState.PAUSED, now)
                agent.reason = reason
        elif action == "resume":
            if st == AgentState.LOGGED_OUT:
                raise AcdError(f"agent {agent_id!r} is logged out")
            if busy:
                if agent.pending.startswith("pause:"):
                    agent.pending = ""
            elif st == AgentState.PAUSED:
                agent.reason = ""
                agent.misses = 0
                self._enter(agent, AgentState.AVAILABLE, now)
                agent.idle_since = now
                self._notify("kick")
        else:
            raise AcdError(f"unknown agent action {action!r}")
        return Agent.from_dict(agent.to_dict())

    async def agents(self) -> list[Agent]:
        return [Agent.from_dict(a.to_dict()) for a in self._agents.values()]

    async def get_agent(self, agent_id: str) -> Agent | None:
        a = self._agents.get(agent_id)
        return Agent.from_dict(a.to_dict()) if a else None

    @_writes
    async def restore_agent(self, agent: Agent) -> bool:
        if agent.id in self._agents:
            return False
        stored = self._agents[agent.id] = Agent.from_dict(agent.to_dict())
        if stored.state == AgentState.AVAILABLE:
            self._avail[stored.id] = stored
        if agent.state == AgentState.WRAPUP:
            self._wrap[agent.id] = agent.wrap_until
        return True

    # -- calls ------------------------------------------------------------------------------
    def _wait_add(self, call: Call) -> None:
        bisect.insort(self._wait.setdefault(call.queue, []), (call.score, call.call_id))

    def _wait_remove(self, call: Call) -> None:
        lst = self._wait.get(call.queue)
        if lst:
            key = (call.score, call.call_id)
            i = bisect.bisect_left(lst, key)
            if i < len(lst) and lst[i] == key:
                del lst[i]

    def _rank(self, call: Call) -> int:
        if call.state != CallState.WAITING:
            return 0
        lst = self._wait.get(call.queue, [])
        key = (call.score, call.call_id)
        i = bisect.bisect_left(lst, key)
        return i + 1 if i < len(lst) and lst[i] == key else 0

    @_writes
    async def enqueue(self, call: Call) -> int:
        cur = self._calls.get(call.call_id)
        if cur is not None and cur.state in (CallState.WAITING, CallState.OFFERED, CallState.CONNECTED):
            return self._rank(cur)
        stored = Call.from_dict(call.to_dict())
        stored.state = CallState.WAITING
        self._calls[call.call_id] = stored
        self._wait_add(stored)
        self._notify("kick")
        return self._rank(stored)

    async def get_call(self, call_id: str) -> Call | None:
        c = self._calls.get(call_id)
        return Call.from_dict(c.to_dict()) if c else None

    async def get_calls(self, call_ids: list[str]) -> list[Call | None]:
        return [await self.get_call(cid) for cid in call_ids]

    async def snapshot(self, limit: int) -> tuple[list[Agent], list[Call]]:
        calls: list[Call] = []
        if not self._avail or not any(self._wait.values()):
            return [], calls          # nothing to decide: an idle node's round reads no agents
        agents = list(self._avail.values())
        per_queue = snapshot_depth(limit, len(agents))
        for lst in self._wait.values():
            calls.extend(self._calls[cid] for _, cid in lst[:per_queue])
        return agents, calls

    @_writes
    async def claim(self, pairs, now):
        offers = []
        for call_id, agent_id, ring_timeout, grace in pairs:
            call = self._calls.get(call_id)
            agent = self._agents.get(agent_id)
            if call is None or agent is None or call.state != CallState.WAITING or agent.state != AgentState.AVAILABLE:
                continue
            call.state, call.agent_id = CallState.OFFERED, agent_id
            call.offer_until = now + ring_timeout + grace
            call.rings += 1
            call.ring_s = ring_timeout
            self._enter(agent, AgentState.RINGING, now)
            agent.call_id = call_id
            self._wait_remove(call)
            self._offers[call_id] = call.offer_until
            offer = Offer(call_id, agent_id, agent.dial, ring_timeout, call.kind, call.caller, call.queue, call.rings)
            if call.kind == CallKind.CALLBACK:
                self._cbready.append(call_id)
                self._notify("callback", call_id)
            else:
                self._notify("offer", call_id)
            offers.append(offer)
        return offers

    def _requeue(self, call: Call) -> None:
        call.state, call.agent_id, call.offer_until = CallState.WAITING, "", 0.0
        self._offers.pop(call.call_id, None)
        self._wait_add(call)
        self._notify("kick")

    def _log(self, call: Call, outcome: str, wait: float, now: float) -> None:
        if call.kind != CallKind.CALL:
            return
        log = self._outcomes.setdefault(call.queue, deque())
        log.append((now, outcome, wait))
        while log and log[0][0] < now - DAY_S:
            log.popleft()

    @_writes
    async def ring_result(self, call_id, agent_id, status, now, max_misses, party="agent", retry_s=0.0,
                          max_attempts=1, reason=""):
        call = self._calls.get(call_id)
        if call is None:
            return "stale"
        agent = self._agents.get(agent_id)
        if status == ANSWERED:
            return self._answered(call, agent, agent_id, now)
        if call.state != CallState.OFFERED or call.agent_id != agent_id:
            return "stale"
        if party != "agent":
            return self._callback_failed(call, agent, status, now, party, retry_s, max_attempts, reason)
        self._requeue(call)
        if agent is not None and agent.call_id == call_id:
            if status in MISS_STATUSES:
                agent.misses += 1
            if agent.misses >= max_misses:
                agent.call_id = ""
                self._enter(agent, AgentState.PAUSED, now)
                agent.reason = "no answer"
                agent.pending = "logout" if agent.pending == "logout" else ""
            else:
                self._make_available(agent, now)
        return "requeued"

    def _answered(self, call: Call, agent: Agent | None, agent_id: str, now: float) -> str:
        """An ANSWER applies only to the call it names, never binds an agent talking on another
        call, and stands even when late: only the call's owner dials for it (see lua.RING_RESULT)."""
        if call.state == CallState.CONNECTED and call.agent_id == agent_id:
            return "connected"
        if call.state not in (CallState.OFFERED, CallState.WAITING):
            return "stale"
        if agent is None or (agent.state == AgentState.TALKING and agent.call_id != call.call_id):
            if call.state == CallState.OFFERED and call.agent_id == agent_id:
                self._requeue(call)
            return "stale"
        ringing = self._calls.get(agent.call_id) if agent.state == AgentState.RINGING else None
        if ringing is not None and ringing is not call and ringing.state == CallState.OFFERED \
                and ringing.agent_id == agent_id:
            self._requeue(ringing)   # re-offered meanwhile: one call at a time
        other = self._agents.get(call.agent_id) if call.state == CallState.OFFERED and call.agent_id != agent_id else None
        if other is not None and other.call_id == call.call_id and other.state == AgentState.RINGING:
            self._make_available(other, now)
        if call.state == CallState.WAITING:
            self._wait_remove(call)
        call.state, call.answered_at, call.agent_id = CallState.CONNECTED, now, agent_id
        self._offers.pop(call.call_id, None)
        self._enter(agent, AgentState.TALKING, now)
        agent.misses = 0
        agent.call_id = call.call_id
        self._log(call, OUT_ANSWERED, now - call.enqueued_at, now)
        return "connected"

    def _callback_failed(self, call, agent, status, now, party, retry_s, max_attempts, reason) -> str:
        """The callback's own failure (caller did not answer, PBX refused, undialable): no agent's miss."""
        if agent is not None and agent.call_id == call.call_id:
            self._make_available(agent, now)
        self._offers.pop(call.call_id, None)
        call.attempts += 1
        call.reason = reason or status
        if party == "invalid" or call.attempts >= max_attempts:
            call.state, call.outcome, call.ended_at, call.agent_id = CallState.FAILED, status, now, ""
            self._finish(call, now)
            return "failed"
        call.due_at = now + (retry_s * 2 ** (call.attempts - 1) if party == "pbx" else retry_s)
        self._requeue(call)
        return "retry"

    @_writes
    async def call_ended(self, call_id, agent_id, talk_s, now, wrapup_s):
        call = self._calls.get(call_id)
        if call is None or call.state != CallState.CONNECTED or call.agent_id != agent_id:
            return False
        call.state, call.ended_at = CallState.ENDED, now
        self._finish(call, now)
        agent = self._agents.get(agent_id)
        if agent is not None and agent.call_id == call_id:
            agent.calls += 1
            agent.talk_s += talk_s
            if wrapup_s > 0:
                self._enter(agent, AgentState.WRAPUP, now)
                agent.wrap_until = now + wrapup_s
                self._wrap[agent_id] = agent.wrap_until
            else:
                self._make_available(agent, now)
        return True

    def _finish(self, call: Call, now: float) -> None:
        self._finished.append((now, call.call_id))

    def _purge(self, now: float) -> None:
        """Finished calls go after a day, as their Redis keys expire."""
        fin = self._finished
        while fin and fin[0][0] < now - DAY_S:
            _, cid = fin.popleft()
            call = self._calls.get(cid)
            if call is not None and call.state in (CallState.ENDED, CallState.ABANDONED, CallState.FAILED):
                del self._calls[cid]

    @_writes
    async def release_wrapups(self, now):
        self._purge(now)
        done = [aid for aid, until in self._wrap.items() if until <= now]
        released = []
        for aid in done:
            del self._wrap[aid]
            agent = self._agents.get(aid)
            if agent is not None and agent.state == AgentState.WRAPUP:
                self._make_available(agent, now)
                released.append(aid)
        return released

    @_writes
    async def reap_offers(self, now, max_reaps=3):
        # Deadline order, ties by call id: the order Redis's ZRANGEBYSCORE gives, so both stores requeue alike.
        expired = [cid for until, cid in sorted((u, c) for c, u in self._offers.items()) if until <= now]
        for cid in expired:
            call = self._calls[cid]
            agent = self._agents.get(call.agent_id)
            if agent is not None and agent.call_id == cid and agent.state == AgentState.RINGING:
                self._make_available(agent, now)
            call.reaped += 1
            if call.reaped >= max_reaps:
                self._offers.pop(cid, None)
                call.state, call.outcome, call.ended_at, call.agent_id = CallState.ABANDONED, "lost", now, ""
                self._log(call, ABANDONED, now - call.enqueued_at, now)
                self._finish(call, now)
            else:
                self._requeue(call)
        return expired

    @_writes
    async def abandon(self, call_id, now, callback):
        call = self._calls.get(call_id)
        if call is None or call.kind != CallKind.CALL or call.state not in (CallState.WAITING, CallState.OFFERED):
            return ""
        if call.state == CallState.OFFERED:
            agent = self._agents.get(call.agent_id)
            if agent is not None and agent.call_id == call_id and agent.state == AgentState.RINGING:
                self._make_available(agent, now)
            self._offers.pop(call_id, None)
        if call.state == CallState.WAITING:
            self._wait_remove(call)
        call.state, call.ended_at, call.agent_id = CallState.ABANDONED, now, ""
        self._finish(call, now)
        self._log(call, ABANDONED, now - call.enqueued_at, now)
        cb = _callback_for(call, now, callback) if callback else None
        if cb is None or cb.call_id in self._calls:
            return ""
        self._calls[cb.call_id] = cb
        self._wait_add(cb)
        return cb.call_id

    @_writes
    async def request_callback(self, call_id, now, number=""):
        call = self._calls.get(call_id)
        if call is None or call.kind != CallKind.CALL or call.state != CallState.WAITING or not number:
            return False
        call.kind, call.caller = CallKind.CALLBACK, number
        return True

    async def pop_callback(self):
        while self._cbready:
            cid = self._cbready.popleft()
            call = self._calls.get(cid)
            if call is not None and call.state == CallState.OFFERED and call.kind == CallKind.CALLBACK:
                agent = self._agents[call.agent_id]
                return Offer(cid, agent.id, agent.dial, call.ring_s, call.kind, call.caller, call.queue, call.rings)
        return None

    async def position(self, call_id):
        call = self._calls.get(call_id)
        if call is None:
            return 0, ""
        return self._rank(call), call.queue

    async def waiting(self):
        return {q: [(cid, s) for s, cid in lst] for q, lst in self._wait.items() if lst}

    async def outcomes(self, queue, since):
        return [o for o in self._outcomes.get(queue, ()) if o[0] >= since]

    async def queues_seen(self):
        return sorted(set(self._wait) | set(self._outcomes))

    @_writes
    async def restore_call(self, call, now):
        """See lua.RESTORE_CALL: never binds an agent another call already holds."""
        cur = self._calls.get(call.call_id)
        if cur is not None and cur.state not in (CallState.WAITING, CallState.OFFERED, CallState.CONNECTED):
            return False
        if cur is not None and cur.state == CallState.WAITING:
            self._wait_remove(cur)
        stored = Call.from_dict(call.to_dict())
        self._calls[call.call_id] = stored
        if stored.state == CallState.WAITING:
            self._wait_add(stored)
            self._notify("kick")
            return True
        agent = self._agents.get(stored.agent_id)
        taken = agent is not None and agent.call_id not in ("", stored.call_id) \
            and agent.state in (AgentState.RINGING, AgentState.TALKING)
        if stored.state == CallState.OFFERED and (taken or agent is None):
            self._requeue(stored)
            return False
        if taken:
            stored.agent_id = ""
            return False
        if stored.state == CallState.OFFERED:
            self._offers[stored.call_id] = stored.offer_until
        if agent is not None:
            self._wrap.pop(agent.id, None)
            want = AgentState.RINGING if stored.state == CallState.OFFERED else AgentState.TALKING
            if agent.state != want:
                self._enter(agent, want, now)
            agent.call_id = stored.call_id
        return True

    # -- transfers (acd/transfers.py; lua_transfer.py says the same for Redis) ---------------------
    @_writes
    async def request_transfer(self, call_id, agent_id, request_json, now):
        call = self._calls.get(call_id)
        refusal = transfer_refusal(call, call_id, agent_id)
        if refusal:
            return refusal
        call.transfer = request_json
        self._notify("transfer", call_id)
        return ""

    @_writes
    async def request_spy(self, call_id, spy_json, now):
        call = self._calls.get(call_id)
        spy = json.loads(spy_json)
        refusal = spy_refusal(call, call_id, spy)
        if refusal:
            return refusal
        call.spies = json.dumps((json.loads(call.spies) if call.spies else []) + [spy], ensure_ascii=False)
        self._notify("spy", call_id)
        return ""

    @_writes
    async def recall_agent(self, call_id, agent_id, ring_s, grace_s, now):
        """See lua_transfer.RECALL_AGENT."""
        call, agent = self._calls.get(call_id), self._agents.get(agent_id)
        if call is None or agent is None or call.state != CallState.ENDED or call.agent_id != agent_id:
            return None
        if not (agent.state == AgentState.AVAILABLE or (agent.state == AgentState.WRAPUP and agent.call_id == call_id)):
            return None
        self._wrap.pop(agent_id, None)
        call.state, call.agent_id, call.transfer = CallState.OFFERED, agent_id, ""
        call.offer_until = now + ring_s + grace_s
        call.rings += 1
        call.ring_s = ring_s
        self._enter(agent, AgentState.RINGING, now)
        agent.call_id = call_id
        self._offers[call_id] = call.offer_until
        return Offer(call_id, agent_id, agent.dial, ring_s, call.kind, call.caller, call.queue, call.rings)

    # -- records, stats, nodes ----------------------------------------------------------------
    async def put_record(self, record, now, retention_s):
        self._records[record["call_id"]] = (record.get("ts", now), now + retention_s, dict(record))
        for rid in [k for k, v in self._records.items() if v[1] <= now]:
            del self._records[rid]

    async def records(self, since, until=None):
        rows = [(ts, r) for ts, _, r in self._records.values() if ts >= since and (until is None or ts <= until)]
        return [dict(r) for _, r in sorted(rows, key=lambda x: x[0])]

    async def publish_stats(self, payload):
        self.stats_payload = payload

    async def heartbeat(self, node, now, status):
        self._nodes[node] = (now, status)

    async def nodes(self):
        return dict(self._nodes)

    # -- wrap-up (acd/wrapup.py; lua.WRAPUP_EXTEND and lua.WRAPUP_DONE say the same for Redis) ----
    @_writes
    async def wrapup_extend(self, agent_id: str, seconds: float, max_s: float, now: float) -> Agent:
        """More time for an agent in wrap-up, at most ``max_s`` from its start; AcdError otherwise."""
        agent = self._agent(agent_id)
        if agent.state != AgentState.WRAPUP:
            raise AcdError(f"agent {agent_id!r} is not in wrap-up ({agent.state})")
        start = max(agent.wrap_until, now)
        new = min(start + seconds, agent.since + max_s)   # since: when the wrap-up began
        if new <= start:
            raise AcdError(f"agent {agent_id!r}: wrap-up is already at its maximum of {max_s:g} s")
        agent.wrap_until = new
        self._wrap[agent_id] = new
        return Agent.from_dict(agent.to_dict())

    @_writes
    async def wrapup_done(self, agent_id: str, call_id: str, now: float) -> tuple[Agent, bool]:
        """End the agent's wrap-up for ``call_id`` now; (agent, False) when not in wrap-up for it."""
        agent = self._agent(agent_id)
        if agent.state != AgentState.WRAPUP or agent.call_id != call_id:
            return Agent.from_dict(agent.to_dict()), False
        self._wrap.pop(agent_id, None)
        self._make_available(agent, now)
        return Agent.from_dict(agent.to_dict()), True
