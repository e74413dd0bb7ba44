"""Ringing back the callers who gave up (national guidance: 12345 calls back missed calls).

The ACD routes a callback task like a call; when it claims an agent for one,
exactly one node gets it from ``next_callback``.  That node rings the agent first
(Originate into ``[hotline-callback]`` with the caller's number as the extension),
so no citizen picks up to silence; once the agent answers, the agent's channel
enters AsyncAGI and this module's program dials the caller.  Outcomes go back to
the ACD: the agent not answering puts the task back at the head of the line, the
caller not answering retries it later, as ``config/acd.yaml`` says.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from typing import Any

from ivr import log as logmod
from ivr.agi.interface import CallerHungUp
from ivr.engine.records import CallRecord
from ivr.engine.supervise import Supervisor

CONTEXT = "hotline-callback"


class CallbackDialer:
    def __init__(self, link: Any, acd: Any, *, context: str = CONTEXT, caller_id: str = "12345",
                 caller_template: str = "Local/{number}@hotline-out", caller_ring_s: float = 30.0):
        self.link = link
        self.acd = acd
        self.context = context
        self.caller_id = caller_id
        self.caller_template = caller_template
        self.caller_ring_s = caller_ring_s
        self.log = logmod.get("ivr.callback")
        self.supervisor = Supervisor(self.log)
        self._ringing: dict[str, deque] = defaultdict(deque)   # caller number -> offers whose agent rings
        self._answered: dict[str, deque] = defaultdict(deque)  # caller number -> offers whose agent answered
        self._loop: asyncio.Task | None = None
        self.originated = 0
        self.connected = 0

    async def start(self) -> None:
        self._loop = self.supervisor.spawn(self._run(), name="callback-dialer")

    async def stop(self) -> None:
        await self.supervisor.cancel_all()

    async def _run(self) -> None:
        while True:
            offer = await self.acd.next_callback(timeout_s=1.0)
            if offer is not None:
                self.supervisor.spawn(self._ring_agent(offer), name=f"callback {offer.call_id}",
                                      log=self.log.bind(call_id=offer.call_id))

    async def _ring_agent(self, offer) -> None:
        log = self.log.bind(call_id=offer.call_id, agent=offer.agent_id)
        self._ringing[offer.caller].append(offer)
        self.originated += 1
        log.info("callback.ring_agent", dial=offer.dial_string)
        try:
            await self.link.action("Originate", [
                ("Channel", offer.dial_string), ("Context", self.context), ("Exten", offer.caller),
                ("Priority", "1"), ("CallerID", f"12345 callback <{self.caller_id}>"),
                ("Timeout", str(int(offer.ring_timeout_s * 1000))), ("Async", "true"),
            ])
        except Exception as exc:
            self._drop(self._ringing, offer)
            log.warning("callback.originate_failed", error=str(exc))
            await self.acd.callback_result(offer.call_id, offer.agent_id, "CHANUNAVAIL", party="agent")

    def on_originate_response(self, event) -> None:
        """Called by the engine for ``OriginateResponse`` of our context: did the agent answer?"""
        if event.get("Context") != self.context:
            return
        number = event.get("Exten", "")
        queue = self._ringing.get(number)
        if not queue:
            return
        offer = queue.popleft()
        if event.get("Response") == "Success":
            self._answered[number].append(offer)
            return
        self.log.info("callback.agent_no_answer", call_id=offer.call_id, agent=offer.agent_id,
                      reason=event.get("Reason"))
        self.supervisor.spawn(self.acd.callback_result(offer.call_id, offer.agent_id, "NOANSWER", party="agent"),
                              name=f"callback result {offer.call_id}")

    async def program(self, call, record: CallRecord) -> None:
        """Runs on the agent's channel once the agent answered: ring the caller."""
        number = call.dialled
        queue = self._answered.get(number) or self._ringing.get(number)
        if not queue:
            record.outcome, record.reason = "failed", "no callback task for this channel"
            return
        offer = queue.popleft()
        record.kind = "callback"
        record.queue, record.agent, record.caller = offer.queue, offer.agent_id, number
        answered: list[float] = []

        async def caller_answered():
            answered.append(time.time())
            record.agent_answered = answered[0]
            await self.acd.callback_result(offer.call_id, offer.agent_id, "ANSWER", party="caller")

        try:
            result = await call.dial(self.caller_template.format(number=number), timeout_s=self.caller_ring_s,
                                     on_answer=caller_answered)
        except CallerHungUp:  # the agent hung up
            if answered:
                await self.acd.call_ended(offer.call_id, offer.agent_id, time.time() - answered[0])
            else:
                await self.acd.callback_result(offer.call_id, offer.agent_id, "CANCEL", party="agent")
            raise
        if answered or result.status == "ANSWER":
            if not answered:
                await self.acd.callback_result(offer.call_id, offer.agent_id, "ANSWER", party="caller")
            await self.acd.call_ended(offer.call_id, offer.agent_id, result.answered_s)
            self.connected += 1
            record.outcome = "answered"
        else:
            await self.acd.callback_result(offer.call_id, offer.agent_id, result.status, party="caller")
            record.outcome, record.reason = "failed", f"caller did not answer: {result.status}"

    @staticmethod
    def _drop(table, offer) -> None:
        q = table.get(offer.caller)
        if q and offer in q:
            q.remove(offer)
