"""A node's life cycle and the store's notices (part of :class:`acd.service.Acd`).

Everything the node runs in the background lives in its scope of the supervision tree
(hotline/supervise.py): the store's event feed (``Store.listen``), the dispatch,
maintenance and statistics loops (restarted with backoff if one fails), and the
one-shot check each offer notice starts.  Nothing is fire-and-forget: the runtime
stops the loops before the calls (:meth:`Lifecycle.stop_loops`) and the store after
them (:meth:`Lifecycle.stop`), and each step awaits what it cancelled.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from acd import recovery
from acd.model import Call, CallKind, CallState, Offer, StoreError
from acd.outbox import call_key
from hotline import log

#: How long :meth:`Lifecycle.start` waits for the store's event feed before starting without it
#: (the slow poll finds offers meanwhile).
LISTEN_WAIT_S = 5.0
#: At most this many calls let go of are remembered (for :func:`recovery.reconcile`).
LEFT_KEEP_MAX = 20_000


class Lifecycle:
    """Mixed into Acd; uses its store, config, tree, waiters and log."""

    # -- life cycle -------------------------------------------------------------------------
    async def start(self, *, loops: bool = True) -> None:
        """Register the configured agents and listen to the store; ``loops=False`` leaves
        dispatching to :meth:`tick`.  Returns once the store's events reach this node."""
        now = self.clock()
        self._epoch = await self.store.ensure_epoch(self.node_id, now)
        self._server = await self._server_id()
        await self.store.sync_agents(self.config.agents, now)
        self._running = True
        self._listening.clear()
        self.tasks.keep_running(lambda: self.store.listen(self._on_event), name=f"acd-listen {self.node_id}",
                                max_s=self.backoff_max_s)
        self._agents_seen = {a.id: a for a in await self.store.agents()}
        if loops:
            for name, loop in (("dispatch", self._dispatch_loop), ("maint", self._maintenance_loop),
                               ("stats", self._stats_loop)):
                self.tasks.keep_running(loop, name=f"acd-{name} {self.node_id}",
                                        initial_s=min(self.dispatch_interval_s, 0.1), max_s=self.backoff_max_s)
        try:
            await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT_S)
        except asyncio.TimeoutError:
            self.log.warning("acd.not_listening_yet", store=self.store.address, waited_s=LISTEN_WAIT_S)
        self.log.info("acd.started", store=self.store.address, agents=len(self.config.agents))

    async def stop_loops(self) -> None:
        """Stop dispatching, maintenance, statistics and listening (first step of a node's stop):
        the calls still ending keep their writes landing through the outbox until :meth:`stop`."""
        self._running = False
        if self._hold_kick is not None:
            self._hold_kick.cancel()
        await self.tasks.cancel_all()

    async def stop(self, flush_s: float = 5.0) -> None:
        """Stop this node's loops, let queued writes land for up to ``flush_s``, close the store.
        Callers it held stay in the store for other nodes."""
        await self.stop_loops()
        for fut in self._waiters.values():
            if not fut.done():
                fut.cancel()
        await self.outbox.stop(flush_s)
        await self.store.close()
        if self._own_tree:
            await self.tree.cancel_all()
        self.log.info("acd.stopped")

    def attach_records(self, sink: Callable[[str, dict], None] | None,
                       health: Callable[[], str] | None = None) -> None:
        """Agent history and callbacks go to ``sink`` (the records writer); ``health`` is its word
        in `acd status`."""
        self.records_sink, self.health = sink, health

    @property
    def status(self) -> dict:
        down = self._store_down_since
        return {
            "node": self.node_id,
            "store": self.store.address,
            "store_ok": down is None,
            "store_down_since": down,
            "store_errors": self.store_errors,
            "waiting_here": sum(1 for lc in self._local.values() if lc.call.state == CallState.WAITING),
            "dispatched": self.dispatched,
            "claim_conflicts": self.claim_conflicts,
            "calls_reconciled": self.reconciled,
            **self.outbox.status,
        }

    # -- Redis came back empty, or another server answers ------------------------------------
    async def _check_epoch(self) -> None:
        """Whether the store lost its state (checked after every outage and each maintenance pass).

        The data set's ``epoch`` changed: Redis came back empty, every node restores what it
        holds (:func:`recovery.restore`).  The same data set on another server (a Sentinel
        failover, a restart from AOF or RDB: checked after an outage or a lost subscription,
        which every change of server brings): its last writes may be lost, so the node holds its
        dispatching for ``recovery_window_s`` and, until then, on every pass, tells again what
        the store is missing of the calls it holds and let go of lately (:func:`recovery.reconcile`).
        """
        async with self._recover_lock:
            now = self.clock()
            epoch = await self.store.ensure_epoch(self.node_id, now)
            if self._epoch is not None and epoch != self._epoch:
                self.log.warning("acd.store_lost_state", store=self.store.address, calls_here=len(self._local))
                await recovery.restore(self.store, self.config, self._agents_seen.values(), self._held(), now)
                self._epoch = epoch
                self._hold(recovery.hold_until(epoch, now, self.recovery_window_s), now)
                self._server, self._recheck_server = await self._server_id(), False
                self._kick.set()
                return
            self._epoch = epoch
            if self._recheck_server or self._store_down_since is not None:
                server = await self._server_id()
                if server and self._server and server != self._server:
                    self.log.warning("acd.store_changed_server", store=self.store.address,
                                     calls_here=len(self._local), left_lately=len(self._left))
                    self._hold(now + self.recovery_window_s, now)
                    self._reconcile_until = self._hold_until
                self._server = server or self._server
                self._recheck_server = False
            if now < self._reconcile_until:
                await self._reconcile(now)

    def _hold(self, until: float, now: float) -> None:
        """No dispatching before ``until``; then a round at once (an idle dispatch loop would
        otherwise wait for its next timed round, up to dispatch.IDLE_ROUND_S)."""
        self._hold_until = max(self._hold_until, until)
        if self._hold_kick is not None:
            self._hold_kick.cancel()
        self._hold_kick = asyncio.get_running_loop().call_later(max(0.0, self._hold_until - now), self._kick.set)

    def _held(self) -> list[Call]:
        """The calls this node holds, as it last knew them, each with the number of the last
        offer it accepted (the stored copy it took may be older)."""
        held = []
        for call_id, local in self._local.items():
            call = Call.from_dict(local.call.to_dict())
            call.rings = max(call.rings, self._seq.get(call_id, 0))
            held.append(call)
        return held

    async def _reconcile(self, now: float) -> None:
        cutoff = now - recovery.LEFT_KEEP_S
        while self._left and next(iter(self._left.values())).at < cutoff:
            self._left.pop(next(iter(self._left)))
        told = await recovery.reconcile(
            self.store, self.config, self._held(), list(self._left.values()), now,
            pending=lambda call_id: bool(self.outbox.pending(call_key(call_id))),
            callback_for=self._callback_params)
        if told:
            self.reconciled += len(told)
            by: dict[str, list[str]] = {}
            for call_id, what in told.items():
                by.setdefault(what, []).append(call_id)
            self.log.warning("acd.calls_reconciled", store=self.store.address, **by)
            self._kick.set()

    async def _server_id(self) -> str:
        """Which server answers ('' for a store that cannot tell: then no failover is noticed)."""
        ask = getattr(self.store, "server_id", None)
        return str(await ask()) if ask is not None else ""

    def _left_here(self, call_id: str, agent_id: str = "", talk_s: float | None = None) -> None:
        """Remember a call this node let go of (for :func:`recovery.reconcile`)."""
        if call_id not in self._left or talk_s is not None:
            self._left.pop(call_id, None)
            local = self._local.get(call_id)
            self._left[call_id] = recovery.Left(call_id, self.clock(), agent_id, talk_s,
                                                Call.from_dict(local.call.to_dict()) if local else None)
        while len(self._left) > LEFT_KEEP_MAX:
            self._left.pop(next(iter(self._left)))

    # -- notifications ----------------------------------------------------------------------
    def _on_event(self, kind: str, payload: str) -> None:
        if kind == "offer":
            if payload in self._waiters:
                self._spawn_check(payload)
        elif kind == "kick":
            self._kick.set()
        elif kind == "callback":
            self._callback_ready.set()
        elif kind == "transfer":
            self._transfer_notice(payload)
        elif kind == "spy":
            self._spy_notice(payload)
        elif kind == "resubscribed":
            # Messages may have been lost while the subscription was down, and the server
            # may be another one (a failover): the next maintenance pass checks.
            self._recheck_server = True
            self._listening.set()
            self._kick.set()
            self._callback_ready.set()
            for call_id in list(self._waiters):
                self._spawn_check(call_id)
            for call_id in list(self._transfer_waiters):
                self._transfer_notice(call_id)
            for call_id in list(self._spy_waiters):
                self._spy_notice(call_id)

    def _spawn_check(self, call_id: str) -> None:
        if self._running:
            self.tasks.spawn(self._check_offer(call_id), name=f"acd-check-offer {call_id}",
                             log=log.get("acd", call_id=call_id, node=self.node_id))

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
        self._accepted(offer)

    def _accepted(self, offer: Offer) -> None:
        """The node's view of its caller moves with the offer it accepts (recovery.reconcile)."""
        local = self._local.get(offer.call_id)
        if local is not None:
            call = local.call
            call.state, call.agent_id, call.rings = CallState.OFFERED, offer.agent_id, offer.seq
            call.offer_until = self.clock() + offer.ring_timeout_s + self.config.offer_grace_s

    async def _check_offer(self, call_id: str) -> None:
        try:
            call = await self.store.get_call(call_id)
            if call is None or call.state != CallState.OFFERED or call.kind != CallKind.CALL:
                return
            agent = await self.store.get_agent(call.agent_id)
        except StoreError:
            return            # a notice only: the slow poll looks again
        if agent is not None:
            self._deliver(Offer(call_id, agent.id, agent.dial, call.ring_s, call.kind, call.caller, call.queue, call.rings))
