"""The loops every node runs: dispatch, maintenance, statistics (part of :class:`acd.service.Acd`).

Dispatch matches waiting calls to free agents (plain functions in acd/routing.py)
and claims the pairs atomically; maintenance frees agents whose wrap-up is over,
takes back offers nobody settled, notices a Redis that lost its data, and polls
for offers whose notice was lost; statistics publish the live figures.  Each
loop retries the store with backoff (``Acd._retry``); a loop that fails for any other reason
is logged and restarted by the node's supervision tree (hotline/supervise.py).
"""

from __future__ import annotations

import asyncio
import json
import time

from acd import routing, stats as stats_mod
from acd.config import AcdConfig
from acd.model import AcdError, Agent, AgentState, CallKind, CallState, Offer, StoreError, StoreUnavailable
from acd.store import Store


#: An idle node's dispatch round when no kick came (a lost notice still gets served).
IDLE_ROUND_S = 5.0
#: An idle node recomputes its figures at least this often even when nothing changed.
QUIET_STATS_S = 30.0


class Loops:
    """Mixed into Acd; uses its store, config, clock, waiters and retry."""

    async def dispatch_once(self) -> list[Offer]:
        """One routing round: snapshot, decide (plain functions), claim atomically."""
        now = self.clock()
        if now < self._hold_until:
            return []
        agents, calls = await self.store.snapshot(self.snapshot_limit)
        # callers and free agents both there: a round may pair them later (escalation, overflow)
        self._pairable = bool(agents and calls)
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
            self._history(offer.agent_id, AgentState.RINGING, now, call_id=offer.call_id)
            if offer.kind == CallKind.CALL:
                self._deliver(offer)
            else:
                self._callback_ready.set()
        return offers

    async def maintain(self) -> None:
        """Wrap-ups that are over, offers nobody settled, and the Redis epoch."""
        now = self.clock()
        released = await self.store.release_wrapups(now)
        if self.records_sink is not None:
            for agent_id in released or ():
                agent = await self.store.get_agent(agent_id)   # a pending pause or logout applies now
                self._history(agent_id, agent.state if agent else AgentState.AVAILABLE, now,
                              reason=(agent.reason if agent else "") or "wrap-up over")
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
        """Rounds on every kick (a caller joined, an agent came free: the store publishes it);
        timed rounds only while callers and free agents are both there, for escalation and
        overflow to pair them.  Otherwise a round every :data:`IDLE_ROUND_S`, in case a kick
        was lost: an idle node costs next to nothing."""
        while self._running:
            try:
                wait = self.dispatch_interval_s if getattr(self, "_pairable", True) else IDLE_ROUND_S
                await asyncio.wait_for(self._kick.wait(), wait)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                for _ in range(50):
                    made = await self._retry(self.dispatch_once, "loop:dispatch")
                    if not made:
                        break
            except StoreUnavailable:
                return        # stopping while the store is away (see Acd._retry); other failures: the tree restarts us

    async def _maintenance_loop(self) -> None:
        while self._running:
            try:
                await self._retry(self.maintain, "loop:maintain")
            except StoreUnavailable:
                return
            await asyncio.sleep(self.maintenance_interval_s)

    async def _stats_loop(self) -> None:
        """Figures every ``stats_interval_s`` while anything is live; when no caller waits, no
        agent is on a call and the store saw no write, only the heartbeat, and the figures at
        most every :data:`QUIET_STATS_S` (they would come out the same)."""
        last_changes, last_full, live = None, float("-inf"), True
        while self._running:
            try:
                changes = await self._retry(self.store.changes, "loop:changes")
                quiet = not live and changes == last_changes and time.monotonic() - last_full < QUIET_STATS_S
                if not quiet:
                    figures = await self._retry(self.stats, "loop:stats")
                    last_changes, last_full, live = changes, time.monotonic(), _live(figures)
                now = self.clock()
                health = self.health() if self.health is not None else "ok"
                await self._retry(lambda: self.store.heartbeat(self.node_id, now, health), "loop:heartbeat")
                if not quiet:
                    await self._retry(lambda: self.store.publish_stats(json.dumps(figures, ensure_ascii=False)),
                                      "loop:publish")
            except StoreUnavailable:
                return
            except StoreError:
                pass          # a script error, logged with its reason by _retry: the figures come next time
            await asyncio.sleep(self.stats_interval_s)

    async def stats(self) -> dict:
        """Live figures per queue and per agent, plus this node's status (what `acd status` prints)."""
        agents = await self.store.agents()
        self._agents_seen = {a.id: a for a in agents}
        figures = await collect_stats(self.store, self.config, self.clock(), agents)
        figures["node"] = self.status
        return figures


def _live(figures: dict) -> bool:
    """Whether the figures change with time alone (waits and talk times grow)."""
    agents = figures["total"].get("agents", {})
    busy = sum(agents.get(s, 0) for s in (AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP))
    return busy > 0 or any(q.get("waiting") for q in figures["queues"])


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
