"""Callbacks as the ACD keeps them (part of :class:`acd.service.Acd`).

A caller who hangs up while waiting, or who accepts a callback, becomes a task
``cb:<call>`` routed like a call, but only when their number can be rung back
(acd/phone.py: a person's mobile or fixed line, never ``anonymous``, a service
number or garbage); the refusal is logged with the number masked.  The task's
outcomes keep apart whose failure it was: the agent's (a miss), the citizen's
(retried), the PBX's (retried with backoff, never the agent's miss) or the
number's (failed at once), with the reason kept on the task.
"""

from __future__ import annotations

import asyncio
import time

from acd import phone
from acd.model import ANSWERED, AcdError, AgentState, CallKind, CallState, Offer, StoreError
from acd.outbox import agent_key, call_key
from hotline import log


class Callbacks:
    """Mixed into Acd; uses its store, config, outbox, local calls and log."""

    async def abandoned(self, call_id: str) -> str:
        """The caller hung up before an agent answered; returns the callback task's id ('' if none,
        or provisionally while the store is away).  No task for a number that cannot be rung back."""
        now = self.clock()
        local = self._local.get(call_id)
        keys = (call_key(call_id),)
        if local is not None and local.call.state == CallState.OFFERED and local.call.agent_id:
            keys += (agent_key(local.call.agent_id),)

        async def op():
            cb_id = await self.store.abandon(call_id, now, await self._callback_params(call_id))
            if cb_id:
                await self._keep_callback(cb_id, now)
            return cb_id

        fut = self._write("abandon", keys, op, on_landed=lambda _: self._forget(call_id))
        waiter = self._waiters.get(call_id)
        if waiter is not None and not waiter.done():
            waiter.cancel()
        cb_id = await self._landed(fut, "abandon", call_id, "")
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.abandoned", callback=cb_id)
        if cb_id:
            self._kick.set()
        return cb_id

    async def _keep_callback(self, callback_id: str, now: float, *, ended: bool = False, outcome: str = "") -> None:
        """The callbacks table's row, from the task as the store has it (inside the write)."""
        if self.records_sink is None:
            return
        task = await self.store.get_call(callback_id)
        if task is None:
            return
        created = task.enqueued_at or now
        self._keep("callback", {
            "callback_id": callback_id, "missed_call_id": task.origin or "", "caller": task.caller,
            "queue": task.queue, "created_at": created, "deadline_at": created + self.config.callbacks.deadline_s,
            "attempts": task.attempts, "outcome": outcome, "ended_at": now if ended else None})

    async def _callback_params(self, call_id: str) -> dict | None:
        """The callback to create for an abandoned call, or None (disabled, or no usable number)."""
        cb = self.config.callbacks
        if not cb.enabled:
            return None
        local = self._local.get(call_id)
        call = local.call if local is not None else await self.store.get_call(call_id)
        if call is None or call.kind != CallKind.CALL:
            return None
        number = self._callback_number(call_id, call.caller)
        return {"priority": cb.priority, "delay_s": cb.delay_s, "number": number} if number else None

    def _callback_number(self, call_id: str, raw: str) -> str:
        try:
            return phone.callback_number(raw)
        except phone.BadNumber as exc:
            log.get("acd", call_id=call_id, node=self.node_id).info(
                "acd.callback_refused", number=log.mask(raw), reason=str(exc))
            return ""

    async def request_callback(self, call_id: str) -> bool:
        """The caller accepted a callback: they keep their place, the engine may hang up.

        False when their number cannot be rung back (keep them on the line then).
        Provisionally True while the store is away.
        """
        local = self._local.get(call_id)
        number = self._callback_number(call_id, local.call.caller) if local is not None else None
        if number == "":
            return False

        async def op():
            nonlocal number
            if number is None:
                call = await self.store.get_call(call_id)
                number = self._callback_number(call_id, call.caller) if call is not None else ""
            return bool(number) and await self.store.request_callback(call_id, self.clock(), number)

        fut = self._write("request_callback", (call_key(call_id),), op,
                          on_landed=lambda ok: self._forget(call_id) if ok else None)
        return await self._landed(fut, "request_callback", call_id, True)

    async def next_callback(self, timeout_s: float | None = None) -> Offer | None:
        """A callback whose agent is claimed, for this node to Originate; None on timeout
        (also while the store is away).

        Exactly one node gets each; if it never reports, the offer reaper returns the
        task to the line after ring timeout + ``callbacks.originate_grace_s``.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self._callback_ready.clear()
            try:
                offer = await self._attempt(self.store.pop_callback, "pop_callback")
            except StoreError:
                offer = None
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

    async def callback_result(self, call_id: str, agent_id: str, status: str, party: str = "caller",
                              reason: str = "") -> str:
        """Outcome of an originated callback: ANSWER connects (then :meth:`call_ended`).

        ``party``: ``agent`` the agent did not answer (their miss, task back at the head);
        ``caller`` the citizen did not answer (retried after ``retry_s``); ``pbx`` the PBX
        refused the Originate or the Dial (the callback's failure, never the agent's:
        retried after ``retry_s`` x 2^(attempts-1)); ``invalid`` the number cannot be
        dialled (failed now).  ``reason`` is kept on the task.  Returns connected |
        requeued | retry | failed | stale (provisional while the store is away).
        """
        if party not in ("agent", "caller", "pbx", "invalid"):
            raise AcdError(f"unknown callback party {party!r}")
        cb = self.config.callbacks
        now = self.clock()

        async def op():
            cfg = await self._call_queue(call_id)
            verdict = await self.store.ring_result(call_id, agent_id, status, now, cfg.max_misses, party,
                                                   cb.retry_s, cb.max_attempts, reason)
            if verdict == "connected":
                self._history(agent_id, AgentState.TALKING, now, call_id=call_id)
            if verdict in ("connected", "failed", "retry"):
                await self._keep_callback(call_id, now, ended=verdict != "retry",
                                          outcome={"connected": "answered", "failed": "failed"}.get(verdict, ""))
            return verdict

        keys = (call_key(call_id), agent_key(agent_id))
        fut = self._write("callback_result", keys, op)
        provisional = ("connected" if status == ANSWERED else "requeued" if party == "agent"
                       else "failed" if party == "invalid" else "retry")
        result = await self._landed(fut, "callback_result", call_id, provisional)
        clog = log.get("acd", call_id=call_id, node=self.node_id)
        if party in ("pbx", "invalid"):
            clog.warning("acd.callback_failed", agent=agent_id, party=party, status=status, reason=reason, result=result)
        else:
            clog.info("acd.callback_result", agent=agent_id, party=party, status=status, result=result)
        self._kick.set()
        return result
