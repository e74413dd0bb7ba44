"""Where the ACD's state lives: the contract (the in-memory store is acd/memory_store.py).

Every method is one atomic step: in memory because nothing in it awaits, in
Redis because each is one Lua script (acd/lua.py).  The dispatcher may decide
on a stale snapshot; :meth:`Store.claim` re-checks both sides and commits only a
free agent to a waiting call, which is why no agent ever gets two calls.
The same test suite runs against both stores (tests/acd/test_acd_store.py).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Callable, Iterable

from acd import phone
from acd.model import (
    Agent, AgentState, Call, CallKind, CallState, Offer, queue_score,
)

Handler = Callable[[str, str], None]   # (kind, payload): ("offer" | "callback" | "transfer" | "spy", call_id) | ("kick", "")

#: Dial statuses that count against the agent (they were rung and did not take it).
MISS_STATUSES = ("NOANSWER", "BUSY", "CHANUNAVAIL", "CONGESTION")


class Store(ABC):
    """The operations the ACD needs; see MemoryStore for the reference semantics.

    Abstract: a store that leaves one out cannot be instantiated.
    """

    address = "memory"

    async def close(self) -> None: ...
    @abstractmethod
    async def listen(self, handler: Handler) -> None:
        """Deliver the store's events to ``handler`` until cancelled, ("resubscribed", "") each time
        the feed (re)starts: events may have been missed before it.  Runs as one long-lived task of
        the node's supervision tree; it reconnects on its own and raises only for a bug."""
    @abstractmethod
    async def changes(self) -> int:
        """A number that grows with every write of an agent or a call: equal twice means nothing
        changed in between (an idle node skips recomputing its figures; lua ``changes``)."""
    @abstractmethod
    async def ensure_epoch(self, node: str, now: float) -> str: ...
    @abstractmethod
    async def sync_agents(self, agents: Iterable[Agent], now: float) -> None: ...
    @abstractmethod
    async def agent_action(self, agent_id: str, action: str, reason: str, now: float) -> Agent: ...
    @abstractmethod
    async def agents(self) -> list[Agent]: ...
    @abstractmethod
    async def get_agent(self, agent_id: str) -> Agent | None: ...
    @abstractmethod
    async def enqueue(self, call: Call) -> int: ...
    @abstractmethod
    async def get_call(self, call_id: str) -> Call | None: ...
    @abstractmethod
    async def get_calls(self, call_ids: list[str]) -> list[Call | None]: ...
    @abstractmethod
    async def snapshot(self, limit: int) -> tuple[list[Agent], list[Call]]:
        """Free agents and queue heads, with the fields routing reads (id, queues, skills,
        idle_since; call id, queue, skills, priority, times, kind) and no more."""
    @abstractmethod
    async def claim(self, pairs: list[tuple[str, str, float, float]], now: float) -> list[Offer]: ...
    @abstractmethod
    async def ring_result(self, call_id: str, agent_id: str, status: str, now: float, max_misses: int,
                          party: str = "agent", retry_s: float = 0.0, max_attempts: int = 1,
                          reason: str = "") -> str: ...
    @abstractmethod
    async def call_ended(self, call_id: str, agent_id: str, talk_s: float, now: float, wrapup_s: float) -> bool: ...
    @abstractmethod
    async def release_wrapups(self, now: float) -> list[str]: ...
    @abstractmethod
    async def reap_offers(self, now: float, max_reaps: int = 3) -> list[str]: ...
    @abstractmethod
    async def abandon(self, call_id: str, now: float, callback: dict | None) -> str: ...
    @abstractmethod
    async def request_callback(self, call_id: str, now: float, number: str = "") -> bool:
        """Turn a waiting call into a callback task to ``number`` (checked by acd.phone; '' refuses)."""
    @abstractmethod
    async def pop_callback(self) -> Offer | None: ...
    @abstractmethod
    async def position(self, call_id: str) -> tuple[int, str]: ...
    @abstractmethod
    async def waiting(self) -> dict[str, list[tuple[str, float]]]: ...
    @abstractmethod
    async def outcomes(self, queue: str, since: float) -> list[tuple[float, str, float]]: ...
    @abstractmethod
    async def queues_seen(self) -> list[str]: ...
    @abstractmethod
    async def put_record(self, record: dict, now: float, retention_s: float) -> None: ...
    @abstractmethod
    async def records(self, since: float, until: float | None = None) -> list[dict]: ...
    @abstractmethod
    async def restore_agent(self, agent: Agent) -> bool: ...
    @abstractmethod
    async def restore_call(self, call: Call, now: float) -> bool: ...
    @abstractmethod
    async def publish_stats(self, payload: str) -> None: ...
    @abstractmethod
    async def heartbeat(self, node: str, now: float, status: str) -> None: ...
    @abstractmethod
    async def nodes(self) -> dict[str, tuple[float, str]]: ...
    @abstractmethod
    async def request_transfer(self, call_id: str, agent_id: str, request_json: str, now: float) -> str:
        """Keep a transfer request on a connected call for its owner ('' done, else the refusal:
        :func:`transfer_refusal`) and publish ``transfer:<call id>``."""
    @abstractmethod
    async def request_spy(self, call_id: str, spy_json: str, now: float) -> str:
        """Add a supervisor's request to a connected call ('' done, else :func:`spy_refusal`'s words)
        and publish ``spy:<call id>``."""
    @abstractmethod
    async def recall_agent(self, call_id: str, agent_id: str, ring_s: float, grace_s: float, now: float) -> Offer | None:
        """Ring again the agent who ended ``call_id`` (a transfer failed), if still free or in that
        call's wrap-up: the call offered to them alone.  None: the caller must queue instead."""


def not_connected(call: Call | None, call_id: str) -> str:
    """'' when the call talks to an agent, else why not (lua_transfer.CONNECTED says the same)."""
    if call is None:
        return f"unknown call {call_id!r}"
    if call.state != CallState.CONNECTED:
        return f"call {call_id} is not talking to an agent (state: {call.state})"
    return ""


def transfer_refusal(call: Call | None, call_id: str, agent_id: str) -> str:
    """Why a transfer request cannot be written ('' when it can): the words both stores give."""
    refusal = not_connected(call, call_id)
    if refusal:
        return refusal
    if call.agent_id != agent_id:
        return f"agent {agent_id} is not on call {call_id}"
    if call.transfer:
        return f"another transfer of call {call_id} is running"
    return ""


def spy_refusal(call: Call | None, call_id: str, spy: dict) -> str:
    """Why a supervisor cannot be put on a call ('' when they can): both stores' words."""
    refusal = not_connected(call, call_id)
    if refusal:
        return refusal
    for other in json.loads(call.spies) if call.spies else []:
        if other.get("supervisor") == spy.get("supervisor") and other.get("mode") == spy.get("mode"):
            return f"supervisor {spy.get('supervisor')} already asked to {spy.get('mode')} on call {call_id}"
    return ""


def snapshot_depth(limit: int, available: int) -> int:
    """How many calls from the head of each queue a routing round looks at.

    Enough to skip past calls that need a skill no free agent has (4 per free
    agent, at least 8), never more than ``limit``: with one agent free and 5,000
    callers waiting, reading them all would make every decision cost a scan.
    """
    return min(limit, max(8, 4 * available))


def enqueued_from_score(score: float, now: float) -> float:
    """Recover the arrival time from a queue score (priorities are whole numbers)."""
    priority = round((now - score) / 1e10)
    return score + priority * 1e10


def enter(agent: Agent, state: str, now: float) -> None:
    """Change state and book the time spent in the old one (occupancy comes from these)."""
    if agent.state != AgentState.LOGGED_OUT and agent.since:
        agent.times[agent.state] = agent.times.get(agent.state, 0.0) + max(0.0, now - agent.since)
    agent.state = state
    agent.since = now


def _callback_for(call: Call, now: float, cb: dict) -> Call | None:
    """The task that rings back a caller who hung up while waiting; None when their number
    cannot be rung back (anonymous, a service number, garbage: see acd.phone)."""
    try:
        number = phone.callback_number(cb.get("number") or call.caller)
    except phone.BadNumber:
        return None
    return Call(
        call_id="cb:" + call.call_id, queue=call.queue, skills=list(call.skills),
        priority=int(cb.get("priority", -1)), caller=number, dialled=call.dialled,
        center=call.center, language=call.language, flow_path=list(call.flow_path),
        kind=CallKind.CALLBACK, enqueued_at=now, due_at=now + float(cb.get("delay_s", 0.0)),
        origin=call.call_id,
    )


from acd.memory_store import MemoryStore  # noqa: E402  (re-exported: it needs Store defined first)

__all__ = ["Store", "MemoryStore", "enter", "enqueued_from_score", "MISS_STATUSES", "queue_score"]
