"""The ACD as the engine sees it: one :class:`Acd` per engine node, all sharing one store.

Each live call's owner task (in the engine) calls :meth:`Acd.enqueue`, then
:meth:`Acd.wait_offer` while the caller hears hold music, dials the offered
agent, and reports :meth:`Acd.ring_result` and :meth:`Acd.call_ended`.  Which node
made the offer does not matter: offers are found through the store (pub/sub
plus a slow poll), so a caller adopted by another node after its first node
died is served just the same.

Every node runs the same background loops: dispatch (match waiting calls to
free agents and claim the pairs), maintenance (wrap-ups that ended, offers
nobody settled, Redis epoch), statistics.  Store outages are retried with
backoff; see :meth:`_retry`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from acd import routing, stats as stats_mod
from acd.config import AcdConfig, QueueConfig
from acd.model import (
    AcdError, Agent, AgentState, Call, CallKind, CallRequest, CallState, EnqueueResult, Offer,
    StoreUnavailable,
)
from acd.records import CallRecord
from acd.store import Store
from ivr import log

T = TypeVar("T")

#: Agents whose call was in flight when Redis lost its data are kept out of routing
#: this long, so the node holding that call can re-assert it first.
RECOVERY_HOLD_S = 30.0

#: After Redis came back empty, no node that noticed dispatches for this long from the
#: moment the data set was re-created, so every node can re-assert its callers first.
RECOVERY_WINDOW_S = 5.0


@dataclass(slots=True)
class _Local:
    """What this node knows of a caller it holds, to rebuild Redis if it comes back empty."""

    call: Call


class Acd:
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
        self.log = log.get("acd", node=node_id)
        self._waiters: dict[str, asyncio.Future] = {}
        self._seq: dict[str, int] = {}          # call -> number of the last offer handed to its owner
        self._local: dict[str, _Local] = {}
        self._agents_seen: dict[str, Agent] = {}
        self._kick = asyncio.Event()
        self._callback_ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._epoch: str | None = None
        self._hold_until = 0.0                  # no dispatching before (recovery window)
        self._maint_passes = 0
        self._store_down_since: float | None = None
        self._recover_lock = asyncio.Lock()
        self._running = False
        self.dispatched = 0          # offers this node made (status, benchmarks)
        self.claim_conflicts = 0     # pairs another node won first
        self.store_errors = 0

    # -- life cycle -------------------------------------------------------------------------
    async def start(self, *, loops: bool = True) -> None:
        """Register the configured agents and subscribe; ``loops=False`` leaves dispatching to :meth:`tick`."""
        now = self.clock()
        self._epoch = await self.store.ensure_epoch(self.node_id, now)
        await self.store.sync_agents(self.config.agents, now)
        await self.store.subscribe(self._on_event)
        self._agents_seen = {a.id: a for a in await self.store.agents()}
        self._running = True
        if loops:
            self._tasks = [
                asyncio.create_task(self._dispatch_loop(), name=f"acd-dispatch-{self.node_id}"),
                asyncio.create_task(self._maintenance_loop(), name=f"acd-maint-{self.node_id}"),
                asyncio.create_task(self._stats_loop(), name=f"acd-stats-{self.node_id}"),
            ]
        self.log.info("acd.started", store=self.store.address, agents=len(self.config.agents))

    async def stop(self) -> None:
        """Stop this node's loops.  Callers it held stay in the store for other nodes."""
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        for fut in self._waiters.values():
            if not fut.done():
                fut.cancel()
        await self.store.close()
        self.log.info("acd.stopped")

    @property
    def status(self) -> dict:
        down = self._store_down_since
        return {
            "node": self.node_id,
            "store": self.store.address,
            "store_ok": down is None,
            "store_down_since": down,
            "waiting_here": sum(1 for l in self._local.values() if l.call.state == CallState.WAITING),
            "dispatched": self.dispatched,
            "claim_conflicts": self.claim_conflicts,
        }

    # -- retry around the store -------------------------------------------------------------
    async def _retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a store operation until it succeeds.

        Each operation is one atomic script that either ran or did not, so running
        it again after a lost connection is safe; a claim whose reply was lost is
        taken back by the offer reaper.  Before retrying after an outage the node
        checks whether Redis came back empty and, if so, re-asserts its callers.
        """
        delay = 0.05
        while True:
            try:
                if self._store_down_since is not None:
                    await self._check_epoch()
                result = await op()
            except StoreUnavailable as exc:
                self.store_errors += 1
                if self._store_down_since is None:
                    self._store_down_since = self.clock()
                    self.log.warning("acd.store_unreachable", store=self.store.address, during=what, error=str(exc))
                if not self._running and what.startswith("loop:"):
                    raise
                await asyncio.sleep(delay)
                delay = min(self.backoff_max_s, delay * 2)
                continue
            if self._store_down_since is not None:
                self.log.warning("acd.store_back", store=self.store.address,
                                 down_s=round(self.clock() - self._store_down_since, 3))
                self._store_down_since = None
            return result

    async def _check_epoch(self) -> None:
        async with self._recover_lock:
            now = self.clock()
            epoch = await self.store.ensure_epoch(self.node_id, now)
            if self._epoch is None or epoch == self._epoch:
                self._epoch = epoch
                return
            self.log.warning("acd.store_lost_state", store=self.store.address, calls_here=len(self._local))
            # Agents first (only where nobody restored them yet), then the config adds the rest
            # as logged out: the other order would leave every agent logged out.
            for agent in self._agents_seen.values():
                restored = Agent.from_dict(agent.to_dict())
                if restored.state in (AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP):
                    restored.state, restored.call_id = AgentState.WRAPUP, ""
                    restored.wrap_until = now + RECOVERY_HOLD_S
                await self.store.restore_agent(restored)
            await self.store.sync_agents(self.config.agents, now)
            for local in list(self._local.values()):
                call = local.call
                if call.state == CallState.OFFERED:
                    # the ring is still in progress here: give it a fresh deadline
                    cfg = self.config.queues.get(call.queue)
                    ring = cfg.ring_timeout_s if cfg else 15.0
                    call.offer_until = max(call.offer_until, now + ring + self.config.offer_grace_s)
                await self.store.restore_call(call, now)
            self._epoch = epoch
            created = epoch.rpartition("@")[2]
            try:
                self._hold_until = float(created) + self.recovery_window_s
            except ValueError:
                self._hold_until = now + self.recovery_window_s
            self._kick.set()

    # -- notifications ----------------------------------------------------------------------
    def _on_event(self, kind: str, payload: str) -> None:
        if kind == "offer":
            if payload in self._waiters:
                asyncio.get_running_loop().create_task(self._check_offer(payload))
        elif kind == "kick":
            self._kick.set()
        elif kind == "callback":
            self._callback_ready.set()
        elif kind == "resubscribed":
            # Messages may have been lost while the subscription was down.
            self._kick.set()
            self._callback_ready.set()
            for call_id in list(self._waiters):
                asyncio.get_running_loop().create_task(self._check_offer(call_id))

    def _deliver(self, offer: Offer) -> None:
        """Hand an offer to the caller waiting here, unless it already had this one or a newer one.

        Notices race with the caller's own reports (a check started before a NOANSWER
        can finish after it), so each offer carries the call's offer number.
        """
        fut = self._waiters.get(offer.call_id)
        if fut is None or fut.done() or offer.seq <= self._seq.get(offer.call_id, 0):
            return
        self._seq[offer.call_id] = offer.seq
        fut.set_result(offer)

    async def _check_offer(self, call_id: str) -> None:
        try:
            call = await self.store.get_call(call_id)
            if call is None or call.state != CallState.OFFERED or call.kind != CallKind.CALL:
                return
            agent = await self.store.get_agent(call.agent_id)
        except StoreUnavailable:
            return
        if agent is not None:
            self._deliver(Offer(call_id, agent.id, agent.dial, call.ring_s, call.kind, call.caller, call.queue, call.rings))

    # -- the engine's API: callers ----------------------------------------------------------
    def _queue(self, queue_id: str) -> QueueConfig:
        try:
            return self.config.queues[queue_id]
        except KeyError:
            raise AcdError(f"unknown queue {queue_id!r}") from None

    async def enqueue(self, request: CallRequest) -> EnqueueResult:
        """Put a caller in line (idempotent: re-enqueueing a known caller keeps its place)."""
        cfg = self._queue(request.queue)
        call = Call.from_request(request, self.clock(), self.node_id)
        position = await self._retry(lambda: self.store.enqueue(call), "enqueue")
        self._local[call.call_id] = _Local(call)
        self._kick.set()
        ewt = await self._expected_wait(cfg, position)
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
            call = await self._retry(lambda: self.store.get_call(call_id), "wait_offer")
            if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
                raise AcdError(f"call {call_id!r} is not waiting (state: {call.state if call else 'unknown'})")
            # the stored copy is the truth (an adopted or re-enqueued caller keeps its first arrival time)
            self._local[call_id] = _Local(call)
            if call.state == CallState.OFFERED:
                await self._check_offer(call_id)
            offer = await fut
            local = self._local.get(call_id)
            if local is not None:
                local.call.state, local.call.agent_id = CallState.OFFERED, offer.agent_id
                local.call.offer_until = self.clock() + offer.ring_timeout_s + self.config.offer_grace_s
            log.get("acd", call_id=call_id, node=self.node_id).info("acd.offer", agent=offer.agent_id)
            return offer
        finally:
            self._waiters.pop(call_id, None)

    async def ring_result(self, call_id: str, agent_id: str, status: str) -> str:
        """The agent's phone rang: ANSWER connects; anything else puts the caller back at the head.

        Returns connected | requeued | stale (the offer had already been taken back).
        """
        cfg = await self._call_queue(call_id)
        result = await self._retry(lambda: self.store.ring_result(
            call_id, agent_id, status, self.clock(), cfg.max_misses), "ring_result")
        self._seen_state(agent_id, AgentState.TALKING if result == "connected" else AgentState.AVAILABLE)
        local = self._local.get(call_id)
        if local is not None:
            if result == "connected":
                local.call.state, local.call.agent_id = CallState.CONNECTED, agent_id
            elif result == "requeued":
                local.call.state, local.call.agent_id = CallState.WAITING, ""
        self._kick.set()
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.ring_result", agent=agent_id, status=status, result=result)
        return result

    async def _call_queue(self, call_id: str) -> QueueConfig:
        local = self._local.get(call_id)
        queue = local.call.queue if local else None
        if queue is None:
            call = await self._retry(lambda: self.store.get_call(call_id), "get_call")
            queue = call.queue if call else None
        return self.config.queues.get(queue) or next(iter(self.config.queues.values()))

    async def call_ended(self, call_id: str, agent_id: str, talk_s: float) -> bool:
        """The bridge ended: the agent starts wrap-up (queue's ``wrapup_s``)."""
        cfg = await self._call_queue(call_id)
        ok = await self._retry(lambda: self.store.call_ended(
            call_id, agent_id, float(talk_s), self.clock(), cfg.wrapup_s), "call_ended")
        self._local.pop(call_id, None)
        self._seq.pop(call_id, None)
        self._seen_state(agent_id, AgentState.WRAPUP)
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.call_ended", agent=agent_id, talk_s=round(talk_s, 1))
        return ok

    async def abandoned(self, call_id: str) -> str:
        """The caller hung up before an agent answered; returns the callback task's id ('' if none)."""
        cb = self.config.callbacks
        params = {"priority": cb.priority, "delay_s": cb.delay_s} if cb.enabled else None
        cb_id = await self._retry(lambda: self.store.abandon(call_id, self.clock(), params), "abandon")
        self._local.pop(call_id, None)
        self._seq.pop(call_id, None)
        fut = self._waiters.get(call_id)
        if fut is not None and not fut.done():
            fut.cancel()
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.abandoned", callback=cb_id)
        if cb_id:
            self._kick.set()
        return cb_id

    async def request_callback(self, call_id: str) -> bool:
        """The caller accepted a callback: they keep their place, the engine may hang up."""
        ok = await self._retry(lambda: self.store.request_callback(call_id, self.clock()), "request_callback")
        self._local.pop(call_id, None)
        return ok

    async def position(self, call_id: str) -> tuple[int, float]:
        """(place in line, expected wait in seconds) for the periodic announcement; (0, 0) if not waiting."""
        pos, queue = await self._retry(lambda: self.store.position(call_id), "position")
        if pos <= 0 or queue not in self.config.queues:
            return 0, 0.0
        return pos, await self._expected_wait(self.config.queues[queue], pos)

    def _seen_state(self, agent_id: str, state: str) -> None:
        """Keep the local view of agents (for expected waits) current between stats refreshes."""
        agent = self._agents_seen.get(agent_id)
        if agent is not None:
            agent.state = state

    async def _expected_wait(self, cfg: QueueConfig, position: int) -> float:
        mine = [a for a in self._agents_seen.values() if cfg.id in a.queues]
        staffed = sum(1 for a in mine if a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED))
        available = sum(1 for a in mine if a.state == AgentState.AVAILABLE)
        return routing.expected_wait(position, staffed, cfg.aht_s, available)

    # -- callbacks ----------------------------------------------------------------------------
    async def next_callback(self, timeout_s: float | None = None) -> Offer | None:
        """A callback whose agent is claimed, for this node to Originate; None on timeout.

        Exactly one node gets each; if it never reports, the offer reaper returns the
        task to the line after ring timeout + ``callbacks.originate_grace_s``.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self._callback_ready.clear()
            offer = await self._retry(self.store.pop_callback, "pop_callback")
            if offer is not None:
                log.get("acd", call_id=offer.call_id, node=self.node_id).info("acd.callback_offer", agent=offer.agent_id)
                return offer
            wait = self.maintenance_interval_s * 2
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            try:
                await asyncio.wait_for(self._callback_ready.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def callback_result(self, call_id: str, agent_id: str, status: str, party: str = "caller") -> str:
        """Outcome of an originated callback: ANSWER connects (then :meth:`call_ended`).

        ``party="agent"``: the agent did not answer (counts as a miss, task back at the head);
        ``party="caller"``: the caller did not answer; retried after ``retry_s`` until
        ``max_attempts``.  Returns connected | requeued | retry | failed | stale.
        """
        cb = self.config.callbacks
        cfg = await self._call_queue(call_id)
        return await self._retry(lambda: self.store.ring_result(
            call_id, agent_id, status, self.clock(), cfg.max_misses, party, cb.retry_s, cb.max_attempts),
            "callback_result")

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
        agent = await self._retry(lambda: self.store.agent_action(agent_id, action, reason, self.clock()), action)
        self._agents_seen[agent.id] = agent
        self.log.info("acd.agent", agent=agent_id, action=action, state=agent.state, reason=agent.reason, pending=agent.pending)
        self._kick.set()
        return agent

    # -- dispatch -------------------------------------------------------------------------------
    async def dispatch_once(self) -> list[Offer]:
        """One routing round: snapshot, decide (plain functions), claim atomically."""
        now = self.clock()
        if now < self._hold_until:
            return []
        agents, calls = await self.store.snapshot(self.snapshot_limit)
        pairs = routing.match(calls, agents, self.config.queues, now)
        if not pairs:
            return []
        grace = self.config.offer_grace_s
        claims = []
        for call, agent in pairs:
            cfg = self.config.queues.get(call.queue)
            ring = cfg.ring_timeout_s if cfg else 15.0
            extra = self.config.callbacks.originate_grace_s if call.kind == CallKind.CALLBACK else grace
            claims.append((call.call_id, agent.id, ring, extra))
        offers = await self.store.claim(claims, now)
        self.dispatched += len(offers)
        self.claim_conflicts += len(claims) - len(offers)
        for offer in offers:
            self._seen_state(offer.agent_id, AgentState.RINGING)
            if offer.kind == CallKind.CALL:
                self._deliver(offer)
            else:
                self._callback_ready.set()
        return offers

    async def maintain(self) -> None:
        """Wrap-ups that are over, offers nobody settled, and the Redis epoch."""
        now = self.clock()
        released = await self.store.release_wrapups(now)
        reaped = await self.store.reap_offers(now, self.max_reaps)
        if reaped:
            self.log.warning("acd.offers_reaped", calls=reaped)
        if released or reaped:
            self._kick.set()
        await self._check_epoch()
        # Slow poll (every 4th pass): an offer whose notification was lost still reaches its caller.
        self._maint_passes += 1
        ids = list(self._waiters) if self._maint_passes % 4 == 0 else []
        if ids:
            for call_id, call in zip(ids, await self.store.get_calls(ids)):
                if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
                    # dropped (e.g. its offers kept going unsettled): tell the owner instead of waiting forever
                    fut = self._waiters.get(call_id)
                    if fut is not None and not fut.done():
                        fut.set_exception(AcdError(
                            f"call {call_id!r} is no longer waiting (state: {call.state if call else 'unknown'})"))
                    continue
                if call.state == CallState.OFFERED and call.kind == CallKind.CALL:
                    agent = await self.store.get_agent(call.agent_id)
                    if agent is not None:
                        self._deliver(Offer(call.call_id, agent.id, agent.dial, call.ring_s, call.kind, call.caller, call.queue, call.rings))

    async def tick(self) -> list[Offer]:
        """Maintenance then dispatch until nothing more can be placed (tests with a fake clock use this)."""
        await self.maintain()
        offers: list[Offer] = []
        for _ in range(50):
            made = await self.dispatch_once()
            offers += made
            if not made:
                break
        return offers

    async def _dispatch_loop(self) -> None:
        while self._running:
            try:
                await asyncio.wait_for(self._kick.wait(), self.dispatch_interval_s)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                for _ in range(50):
                    made = await self._retry(self.dispatch_once, "loop:dispatch")
                    if not made:
                        break
            except StoreUnavailable:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("acd.dispatch_failed")
                await asyncio.sleep(self.dispatch_interval_s)

    async def _maintenance_loop(self) -> None:
        while self._running:
            try:
                await self._retry(self.maintain, "loop:maintain")
            except StoreUnavailable:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("acd.maintenance_failed")
            await asyncio.sleep(self.maintenance_interval_s)

    async def _stats_loop(self) -> None:
        while self._running:
            try:
                figures = await self._retry(self.stats, "loop:stats")
                now = self.clock()
                await self._retry(lambda: self.store.heartbeat(self.node_id, now, "ok"), "loop:heartbeat")
                await self._retry(lambda: self.store.publish_stats(json.dumps(figures, ensure_ascii=False)), "loop:publish")
            except StoreUnavailable:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("acd.stats_failed")
            await asyncio.sleep(self.stats_interval_s)

    # -- statistics and records -------------------------------------------------------------
    async def stats(self) -> dict:
        """Live figures per queue and per agent, plus this node's status (what `acd status` prints)."""
        agents = await self.store.agents()
        self._agents_seen = {a.id: a for a in agents}
        figures = await collect_stats(self.store, self.config, self.clock(), agents)
        figures["node"] = self.status
        return figures

    async def call_record(self, call_id: str, **extra) -> CallRecord:
        """Build and keep the record of a finished call from the ACD's view plus ``extra``
        (flow_path, survey_score, talk_s, outcome...); returns it."""
        from acd.records import from_call

        call = await self._retry(lambda: self.store.get_call(call_id), "call_record")
        if call is None:
            raise AcdError(f"no call {call_id!r} in the ACD (finished calls are kept 24 h)")
        rec = from_call(call, **extra)
        await self.record(rec)
        return rec

    async def record(self, record: CallRecord | dict) -> None:
        """Keep one call's record for ``retention_days`` (export with `acd export`)."""
        data = record.to_dict() if isinstance(record, CallRecord) else dict(record)
        if "call_id" not in data:
            raise AcdError("a call record needs a call_id")
        if not data.get("ts"):
            data["ts"] = self.clock()
        if not data.get("node"):
            data["node"] = self.node_id
        keep = self.config.retention_days * 86400.0
        await self._retry(lambda: self.store.put_record(data, self.clock(), keep), "record")


async def collect_stats(store: Store, config: AcdConfig, now: float, agents: list[Agent] | None = None) -> dict:
    """The figures from the store alone, so the CLI and every node agree."""
    from acd.store import enqueued_from_score

    if agents is None:
        agents = await store.agents()
    waiting = await store.waiting()
    queue_ids = list(config.queues)
    for q in await store.queues_seen():
        if q not in queue_ids:
            queue_ids.append(q)
    rows = []
    for q in queue_ids:
        since = [enqueued_from_score(score, now) for _, score in waiting.get(q, [])]
        outcomes = await store.outcomes(q, now - stats_mod.DAY_S)
        rows.append(stats_mod.queue_stats(q, outcomes, since, agents, now, config.service_level_s))
    total = stats_mod.total(rows, config.service_level_s)
    total.agents = {s.value: 0 for s in AgentState}
    for a in agents:
        total.agents[a.state] = total.agents.get(a.state, 0) + 1
    return {
        "at": now,
        "service_level_s": config.service_level_s,
        "queues": [r.to_dict() for r in rows],
        "total": total.to_dict(),
        "agents": [a.to_dict() for a in stats_mod.agent_stats(agents)],
    }
