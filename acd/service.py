"""The ACD as the engine sees it: one :class:`Acd` per engine node, all sharing one store.

Each live call's owner task (in the engine) calls :meth:`Acd.enqueue`, then
:meth:`Acd.wait_offer` while the caller hears hold music, dials the offered
agent, and reports :meth:`Acd.ring_result` and :meth:`Acd.call_ended`.  Which node
made the offer does not matter: offers are found through the store (pub/sub
plus a slow poll), so a caller adopted by another node after its first node
died is served just the same.

The store failing must never cost a caller.  Reads the caller waits on anyway
(enqueue, wait_offer) retry until the store answers; the writes that must not be
lost (ring results, call ended, abandon, callback outcomes, records) go through an
ordered outbox (acd/outbox.py) and the caller's task waits for them at most
``redis.write_wait_s`` before carrying on with a provisional answer.  What each
method does during an outage is listed in docs/acd.md ("During a store outage").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from acd import recovery, routing
from acd.api import CallbackTerms, QueueTerms
from acd.callbacks import Callbacks
from acd.config import AcdConfig, QueueConfig
from acd.dispatch import Loops, collect_stats  # noqa: F401  (collect_stats: re-exported for the CLI)
from acd.lifecycle import Lifecycle
from acd.model import (
    ANSWERED, AcdError, Agent, AgentState, Call, CallRequest, CallState, EnqueueResult, Offer,
    StoreError,
)
from acd.outbox import Outbox, agent_key, call_key
from acd.records import CallRecord
from acd.store import Store
from acd.store_access import StoreAccess
from acd.supervision import SpyDesk
from acd.transfers import TransferDesk
from acd.wrapup import WrapupDesk
from hotline import log
from hotline.supervise import Supervisor

RECOVERY_HOLD_S = recovery.RECOVERY_HOLD_S

#: After Redis came back empty, no node that noticed dispatches for this long from the
#: moment the data set was re-created, so every node can re-assert its callers first.
RECOVERY_WINDOW_S = 5.0


@dataclass(slots=True)
class _Local:
    """What this node knows of a caller it holds, to rebuild Redis if it comes back empty."""

    call: Call


class Acd(Lifecycle, StoreAccess, Callbacks, Loops, TransferDesk, SpyDesk, WrapupDesk):
    """Implements :class:`acd.api.AcdApi`, the engine's one way in."""

    def __init__(
        self,
        store: Store,
        config: AcdConfig,
        node_id: str,
        *,
        clock: Callable[[], float] = time.time,
        dispatch_interval_s: float = 0.25,
        maintenance_interval_s: float = 0.5,
        stats_interval_s: float = 2.0,
        snapshot_limit: int = 200,
        backoff_max_s: float = 2.0,
        recovery_window_s: float = RECOVERY_WINDOW_S,
        max_reaps: int = 3,
        write_wait_s: float | None = None,
        tree: Supervisor | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.node_id = node_id
        self.clock = clock
        self.dispatch_interval_s = dispatch_interval_s
        self.maintenance_interval_s = maintenance_interval_s
        self.stats_interval_s = stats_interval_s
        self.snapshot_limit = snapshot_limit
        self.backoff_max_s = backoff_max_s
        self.recovery_window_s = recovery_window_s
        self.max_reaps = max_reaps
        self.write_wait_s = config.redis.write_wait_s if write_wait_s is None else write_wait_s
        self.log = log.get("acd", node=node_id)
        self._waiters: dict[str, asyncio.Future] = {}
        self._transfer_waiters: dict[str, asyncio.Event] = {}   # call -> its owner waits for a transfer
        self._spy_waiters: dict[str, asyncio.Event] = {}        # ... and for supervisors
        self._seq: dict[str, int] = {}          # call -> number of the last offer handed to its owner
        self._local: dict[str, _Local] = {}
        self._places: dict[str, tuple[int, float]] = {}   # call -> last known (place, expected wait)
        self._agents_seen: dict[str, Agent] = {}
        self._kick = asyncio.Event()
        self._callback_ready = asyncio.Event()
        self._epoch: str | None = None
        self._server: str | None = None         # which server answered (a failover changes it)
        self._recheck_server = False            # the subscription was lost: is it another server?
        self._reconcile_until = 0.0             # after a failover: reconcile on every pass until then
        self._left: dict[str, recovery.Left] = {}   # calls let go of lately, oldest first
        self._hold_until = 0.0                  # no dispatching before (recovery window)
        self._hold_kick: asyncio.TimerHandle | None = None   # the round when the hold ends
        self._maint_passes = 0
        self._store_down_since: float | None = None
        self._down_reasons: set[str] = set()    # reasons logged during this outage
        self._down_last = ""                      # the latest one
        self._recover_lock = asyncio.Lock()
        self._running = False
        #: This node's share of the runtime's supervision tree; an ACD run without the engine
        #: (`acd` commands, tests, benchmarks) has a tree of its own, stopped with it.
        self.tree = tree if tree is not None else Supervisor(f"acd {node_id}", log=self.log)
        self._own_tree = tree is None
        self.tasks = self.tree.scope("acd", log=self.log)      # loops, listening, offer checks
        self._listening = asyncio.Event()
        self.outbox = Outbox(self._attempt, self.log, backoff_max_s=backoff_max_s,
                             tree=self.tree.scope("acd-writes", log=self.log))
        #: Told (kind, row) of every agent state change and callback this node makes: the
        #: records writer's agent history and callbacks tables (acd.db.writer).
        self.records_sink: Callable[[str, dict], None] | None = None
        #: The node's one-word health for `acd status` (the records backlog when it grows).
        self.health: Callable[[], str] | None = None
        self.dispatched = 0          # offers this node made (status, benchmarks)
        self.claim_conflicts = 0     # pairs another node won first
        self.store_errors = 0
        self.reconciled = 0          # calls told again after a failover lost their last writes

    # -- the engine's API: terms --------------------------------------------------------------
    def queue_ids(self) -> list[str]:
        return list(self.config.queues)

    def queue_terms(self, queue_id: str) -> QueueTerms:
        cfg = self._queue(queue_id)
        return QueueTerms(cfg.id, float(cfg.wrapup_s), float(cfg.announce_every_s), float(cfg.callback_offer_after_s),
                          bool(cfg.record))

    def callback_terms(self) -> CallbackTerms:
        cb = self.config.callbacks
        return CallbackTerms(bool(cb.enabled), float(cb.originate_grace_s))

    # -- the engine's API: callers ----------------------------------------------------------
    def _queue(self, queue_id: str) -> QueueConfig:
        try:
            return self.config.queues[queue_id]
        except KeyError:
            raise AcdError(f"unknown queue {queue_id!r}") from None

    async def enqueue(self, request: CallRequest) -> EnqueueResult:
        """Put a caller in line (idempotent: re-enqueueing a known caller keeps its place).

        Blocks while the store is away (the engine plays hold music meanwhile); if the
        wait is cancelled the write still lands, so an ``abandoned`` after it finds the call.
        """
        cfg = self._queue(request.queue)
        call = Call.from_request(request, self.clock(), self.node_id)
        self._local[call.call_id] = _Local(call)
        fut = self._write("enqueue", (call_key(call.call_id),), lambda: self.store.enqueue(call))
        position = await asyncio.shield(fut)
        self._kick.set()
        ewt = await self._expected_wait(cfg, position)
        self._places[call.call_id] = (position, ewt)
        full, offer_cb = routing.should_offer_callback(position, ewt, cfg)
        log.get("acd", call_id=call.call_id, node=self.node_id).info(
            "acd.enqueued", queue=call.queue, skills=call.skills, priority=call.priority, position=position)
        return EnqueueResult(position, ewt, full, offer_cb)

    async def wait_offer(self, call_id: str) -> Offer:
        """Wait until an agent is claimed for this caller (by any node).  Cancellable.

        A node adopting a caller whose node died calls this too; the offer reaper
        puts back any offer the dead node never settled.
        """
        if call_id in self._waiters:
            raise AcdError(f"call {call_id!r} is already waiting for an offer on this node")
        fut = asyncio.get_running_loop().create_future()
        self._waiters[call_id] = fut
        try:
            call = await self.get_call(call_id)
            if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
                raise AcdError(f"call {call_id!r} is not waiting (state: {call.state if call else 'unknown'})")
            # the stored copy is the truth (an adopted or re-enqueued caller keeps its first arrival time)
            self._local[call_id] = _Local(call)
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._accepted(fut.result())      # delivered while the copy was on its way
            elif call.state == CallState.OFFERED:
                await self._check_offer(call_id)
            offer = await fut      # the local view moved with it (Lifecycle._deliver)
            log.get("acd", call_id=call_id, node=self.node_id).info("acd.offer", agent=offer.agent_id)
            return offer
        finally:
            self._waiters.pop(call_id, None)

    async def get_call(self, call_id: str) -> Call | None:
        """The store's view of a call, after this node's own writes about it have landed.
        Blocks while the store is away."""
        await self.outbox.settled(call_key(call_id))
        return await self._retry(lambda: self.store.get_call(call_id), "get_call")

    async def ring_result(self, call_id: str, agent_id: str, status: str) -> str:
        """The agent's phone rang: ANSWER connects; anything else puts the caller back at the head.

        Returns connected | requeued | stale (the offer had already been taken back).  If
        the store does not take it within ``write_wait_s`` the answer is provisional
        (connected for ANSWER, else requeued) and the write lands when the store is back.
        """
        now = self.clock()
        local = self._local.get(call_id)
        if local is not None:
            if status == ANSWERED:
                local.call.state, local.call.agent_id = CallState.CONNECTED, agent_id
            else:
                local.call.state, local.call.agent_id = CallState.WAITING, ""

        async def op():
            cfg = await self._call_queue(call_id)
            verdict = await self.store.ring_result(call_id, agent_id, status, now, cfg.max_misses)
            if verdict == "connected":
                self._history(agent_id, AgentState.TALKING, now, call_id=call_id)
            elif verdict != "stale":
                agent = await self.store.get_agent(agent_id)
                if agent is not None:
                    self._history(agent_id, agent.state, now, reason=agent.reason or status.lower(), call_id=call_id)
            return verdict

        fut = self._write("ring_result", (call_key(call_id), agent_key(agent_id)), op)
        result = await self._landed(fut, "ring_result", call_id, "connected" if status == ANSWERED else "requeued")
        if result == "stale" and local is not None and status == ANSWERED:
            # the agent is on another call: this caller is still waiting (see lua.RING_RESULT)
            local.call.state, local.call.agent_id = CallState.WAITING, ""
        elif result != "stale":
            self._seen_state(agent_id, AgentState.TALKING if result == "connected" else AgentState.AVAILABLE)
        self._kick.set()
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.ring_result", agent=agent_id, status=status, result=result)
        return result

    async def _call_queue(self, call_id: str) -> QueueConfig:
        """The call's queue settings (inside a write: may read the store, never retries)."""
        local = self._local.get(call_id)
        queue = local.call.queue if local else None
        if queue is None:
            call = await self.store.get_call(call_id)
            queue = call.queue if call else None
        return self.config.queues.get(queue) or next(iter(self.config.queues.values()))

    async def call_ended(self, call_id: str, agent_id: str, talk_s: float) -> bool:
        """The bridge ended: the agent starts wrap-up (queue's ``wrapup_s``), counted from now
        even if the write lands later.  Provisional answer: True."""
        now = self.clock()
        self._left_here(call_id, agent_id, float(talk_s))

        async def op():
            cfg = await self._call_queue(call_id)
            ended = await self.store.call_ended(call_id, agent_id, float(talk_s), now, cfg.wrapup_s)
            if ended:
                self._history(agent_id, AgentState.WRAPUP if cfg.wrapup_s > 0 else AgentState.AVAILABLE, now,
                              call_id=call_id)
            return ended

        fut = self._write("call_ended", (call_key(call_id), agent_key(agent_id)), op,
                          on_landed=lambda _: self._forget(call_id))
        ok = await self._landed(fut, "call_ended", call_id, True)
        self._seen_state(agent_id, AgentState.WRAPUP)
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.call_ended", agent=agent_id, talk_s=round(talk_s, 1))
        return ok

    def _forget(self, call_id: str) -> None:
        """The call left this node (ended, abandoned, a callback now); remembered a while as let
        go of, in case a failover loses that (recovery.reconcile)."""
        self._left_here(call_id)
        self._local.pop(call_id, None)
        self._seq.pop(call_id, None)
        self._places.pop(call_id, None)

    async def position(self, call_id: str) -> tuple[int, float]:
        """(place in line, expected wait in seconds) for the periodic announcement; (0, 0) if not waiting.

        Never blocks longer than ``write_wait_s``: while the store is away it answers the
        last place it knew (or (0, 0), which tells the engine to skip the announcement).
        """
        fallback = self._places.get(call_id, (0, 0.0))
        if self._store_down_since is not None:
            return fallback

        async def ask():
            try:
                return await self._attempt(lambda: self.store.position(call_id), "position")
            except StoreError:
                return None          # logged by _attempt: the caller hears the last place known

        # Shielded: the answer, even late, updates the place kept for the next announcement.
        asked = self.tasks.spawn(ask(), name=f"acd-position {call_id}",
                                 log=log.get("acd", call_id=call_id, node=self.node_id))
        try:
            got = await asyncio.wait_for(asyncio.shield(asked), self.write_wait_s)
        except asyncio.TimeoutError:
            return fallback
        if got is None:
            return fallback
        pos, queue = got
        if pos <= 0 or queue not in self.config.queues:
            return 0, 0.0
        place = (pos, await self._expected_wait(self.config.queues[queue], pos))
        self._places[call_id] = place
        return place

    def _seen_state(self, agent_id: str, state: str) -> None:
        """Keep the local view of agents (for expected waits) current between stats refreshes."""
        agent = self._agents_seen.get(agent_id)
        if agent is not None:
            agent.state = state

    def _history(self, agent_id: str, state: str, at: float, *, reason: str = "", call_id: str = "") -> None:
        """One line of agent state history."""
        self._keep("agent_state", {"event_id": uuid.uuid4().hex, "agent_id": agent_id, "state": str(state),
                                   "reason": reason, "call_id": call_id, "at": at, "node": self.node_id})

    def _keep(self, kind: str, row: dict) -> None:
        """Hand a row to the records writer; history must never cost a caller, so a failing
        sink is logged and ignored."""
        if self.records_sink is None:
            return
        try:
            self.records_sink(kind, row)
        except Exception as exc:
            self.log.error("acd.records_sink_failed", kind=kind, error=repr(exc))

    async def _expected_wait(self, cfg: QueueConfig, position: int) -> float:
        mine = [a for a in self._agents_seen.values() if cfg.id in a.queues]
        staffed = sum(1 for a in mine if a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED))
        available = sum(1 for a in mine if a.state == AgentState.AVAILABLE)
        handle_s = routing.handle_time(sum(a.calls for a in mine), sum(a.talk_s for a in mine), cfg.wrapup_s, cfg.aht_s)
        return routing.expected_wait(position, staffed, handle_s, available)

    # -- agents ---------------------------------------------------------------------------------
    async def login(self, agent_id: str) -> Agent:
        return await self._agent_action(agent_id, "login")

    async def logout(self, agent_id: str) -> Agent:
        return await self._agent_action(agent_id, "logout")

    async def pause(self, agent_id: str, reason: str = "break") -> Agent:
        return await self._agent_action(agent_id, "pause", reason)

    async def resume(self, agent_id: str) -> Agent:
        return await self._agent_action(agent_id, "resume")

    async def _agent_action(self, agent_id: str, action: str, reason: str = "") -> Agent:
        """Blocks while the store is away (an operator's request, not a caller's)."""
        await self.outbox.settled(agent_key(agent_id))
        agent = await self._retry(lambda: self.store.agent_action(agent_id, action, reason, self.clock()), action)
        self._agents_seen[agent.id] = agent
        self._history(agent.id, agent.state, self.clock(), reason=agent.reason)
        self.log.info("acd.agent", agent=agent_id, action=action, state=agent.state, reason=agent.reason, pending=agent.pending)
        self._kick.set()
        return agent

    # -- records ------------------------------------------------------------------------------
    async def call_record(self, call_id: str, **extra) -> CallRecord:
        """Build and keep the record of a finished call from the ACD's view plus ``extra``
        (flow_path, survey_score, talk_s, outcome...); returns it.  Blocks while the store is away."""
        from acd.records import from_call

        call = await self.get_call(call_id)
        if call is None:
            raise AcdError(f"no call {call_id!r} in the ACD (finished calls are kept 24 h)")
        rec = from_call(call, **extra)
        await self.record(rec)
        return rec

    async def record(self, record: CallRecord | dict) -> None:
        """Keep one call's record for ``retention_days`` (export with `acd export`).  Waits at most
        ``write_wait_s``; the record lands later if the store is away."""
        data = record.to_dict() if isinstance(record, CallRecord) else dict(record)
        if "call_id" not in data:
            raise AcdError("a call record needs a call_id")
        if not data.get("ts"):
            data["ts"] = self.clock()
        if not data.get("node"):
            data["node"] = self.node_id
        keep = self.config.retention_days * 86400.0
        now = self.clock()
        fut = self._write("record", (call_key(str(data["call_id"])),),
                          lambda: self.store.put_record(data, now, keep))
        await self._landed(fut, "record", str(data["call_id"]), None)
