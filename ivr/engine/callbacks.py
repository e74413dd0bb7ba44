"""Ringing back the callers who gave up (national guidance: 12345 calls back missed calls).

The ACD routes a callback task like a call; when it claims an agent for one,
exactly one node gets it from ``next_callback``.  That node rings the agent first
(Originate into ``[hotline-callback]`` with the caller's number as the extension),
so no citizen picks up to silence; once the agent answers, the agent's channel
enters AsyncAGI and this module's program dials the caller.

Whose failure it is decides what happens next (``Acd.callback_result``):
- the agent's phone rang and was not answered (OriginateResponse reason 1, 3, 5):
  the agent's miss, the task back at the head of the line, as for a live call;
- the PBX refused (Originate ``Response: Error``, OriginateResponse reason 0 or 8:
  the channel could not be created, the link was down so nothing was sent): the
  callback's failure, retried after a backoff, the agent freed with no miss;
- the number cannot be dialled (acd.phone refuses it): the task fails at once;
- the citizen does not answer: retried after ``retry_s`` until ``max_attempts``.

Nothing raw reaches a dial string: the Originate's Channel is the agent's checked
dial string, its Exten the checked number, the caller's Dial is built by
``acd.phone.local_channel``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from typing import Any

from acd import phone
from acd.api import AcdApi
from hotline import log as logmod
from hotline.supervise import Supervisor
from ivr.agi.interface import CallerHungUp
from ivr.ami.errors import AmiActionError, AmiConnectionLost, AmiTimeout
from ivr.engine.records import CallRecord

CONTEXT = "hotline-callback"

#: OriginateResponse ``Reason`` (Asterisk's AST_CONTROL_* outcome of the agent's leg) that
#: mean the agent's phone was reached and not answered: 1 hung up (rejected), 3 rang out,
#: 5 busy.  0 is "the channel could not be created" and 8 congestion: the PBX's refusal.
AGENT_REASONS = {"1": "NOANSWER", "3": "NOANSWER", "5": "BUSY"}


def originate_failure(reason: str | None) -> tuple[str, str, str]:
    """(party, dial status, reason text) for an OriginateResponse ``Failure`` (see AGENT_REASONS)."""
    code = (reason or "").strip()
    if code in AGENT_REASONS:
        return "agent", AGENT_REASONS[code], f"agent's phone not answered (reason {code})"
    status = "CONGESTION" if code == "8" else "CHANUNAVAIL"
    return "pbx", status, f"PBX could not set up the agent's call (OriginateResponse reason {code or 'none'})"


class CallbackDialer:
    def __init__(self, link: Any, acd: AcdApi, *, context: str = CONTEXT, caller_id: str = "12345",
                 caller_context: str = "hotline-out", caller_ring_s: float = 30.0,
                 tree: Supervisor | None = None):
        self.link = link
        self.acd = acd
        self.context = phone.check_context(context)
        self.caller_id = phone.check_exten(caller_id)
        self.caller_context = phone.check_context(caller_context)
        self.caller_ring_s = caller_ring_s
        self.log = logmod.get("ivr.callback")
        #: The dialer's loop and each callback's tasks: the runtime's tree (its own in tests).
        self.supervisor = tree.scope("callbacks", log=self.log) if tree is not None else Supervisor("callbacks", log=self.log)
        self._timers: set[asyncio.TimerHandle] = set()   # each offer's expiry (cancelled at stop)
        self._ringing: dict[str, deque] = defaultdict(deque)   # number -> offers whose agent rings
        self._answered: dict[str, deque] = defaultdict(deque)  # number -> offers whose agent answered
        self._by_action: dict[str, tuple[str, Any]] = {}       # Originate ActionID -> (number, offer)
        self._early: dict[str, Any] = {}                       # OriginateResponse before its Response
        self._loop: asyncio.Task | None = None
        self.originated = 0
        self.connected = 0
        self.refused = 0

    async def start(self) -> None:
        # Kept running by the tree: a failure is logged and the loop restarted with backoff,
        # never the dialer's end (every callback waiting would wait for ever).
        self._loop = self.supervisor.keep_running(self._run, name="callback-dialer", initial_s=0.2, max_s=5.0)

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self.supervisor.cancel_all()

    async def _run(self) -> None:
        """Ask the ACD for the next callback whose agent is claimed, and ring that agent."""
        while True:
            offer = await self.acd.next_callback(timeout_s=1.0)
            if offer is not None:
                self.supervisor.spawn(self._ring_agent(offer), name=f"callback {offer.call_id}",
                                      log=self.log.bind(call_id=offer.call_id))

    async def _ring_agent(self, offer) -> None:
        log = self.log.bind(call_id=offer.call_id, agent=offer.agent_id)
        try:
            number = phone.callback_number(offer.caller)
        except phone.BadNumber as exc:
            log.warning("callback.bad_number", number=logmod.mask(offer.caller), reason=str(exc))
            await self._failed(offer, "invalid", "INVALID", f"callback number refused: {exc}")
            return
        try:
            channel = phone.check_dial_string(offer.dial_string)
        except phone.BadDialString as exc:
            log.error("callback.bad_agent_dial", reason=str(exc))
            await self._failed(offer, "pbx", "CHANUNAVAIL", f"agent's dial string refused: {exc}")
            return
        self._ringing[number].append(offer)
        self.originated += 1
        log.info("callback.ring_agent", dial=channel, number=logmod.mask(number))
        # whatever happens, nothing is kept past the ACD's own deadline for this offer
        self._expire_later(offer.ring_timeout_s + self._originate_grace_s(), number, offer)
        try:
            reply = await self.link.action("Originate", [
                ("Channel", channel), ("Context", self.context), ("Exten", number),
                ("Priority", "1"), ("CallerID", f"12345 callback <{self.caller_id}>"),
                ("Timeout", str(int(offer.ring_timeout_s * 1000))), ("Async", "true"),
            ])
        except AmiActionError as exc:
            self._drop(self._ringing, number, offer)
            await self._failed(offer, "pbx", "CHANUNAVAIL", f"Originate refused: {exc}")
            return
        except (AmiConnectionLost, AmiTimeout) as exc:
            if isinstance(exc, AmiConnectionLost) and getattr(exc, "sent", True) is False:
                self._drop(self._ringing, number, offer)
                await self._failed(offer, "pbx", "CHANUNAVAIL", f"Originate not sent: {exc}")
                return
            # it may be ringing: an OriginateResponse may still come (matched by number); if not,
            # the ACD's offer reaper frees the agent (no miss) after ring timeout + originate_grace_s
            log.warning("callback.originate_unknown", error=str(exc))
            return
        except Exception as exc:
            self._drop(self._ringing, number, offer)
            log.exception("callback.originate_failed")
            await self._failed(offer, "pbx", "CHANUNAVAIL", f"Originate failed: {type(exc).__name__}: {exc}")
            return
        action_id = getattr(reply, "action_id", None)
        if action_id:
            self._by_action[action_id] = (number, offer)
            early = self._early.pop(action_id, None)
            if early is not None:
                self.on_originate_response(early)

    def _expire_later(self, delay_s: float, number: str, offer) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._expire(number, offer)

        timer = asyncio.get_running_loop().call_later(delay_s, fire)
        self._timers.add(timer)

    def _expire(self, number: str, offer) -> None:
        self._drop(self._ringing, number, offer)
        self._drop(self._answered, number, offer)
        for aid, (_, kept) in list(self._by_action.items()):
            if kept is offer:
                del self._by_action[aid]

    def _originate_grace_s(self) -> float:
        try:
            return self.acd.callback_terms().originate_grace_s
        except AttributeError:     # a stand-in ACD of a test
            return 45.0

    async def _failed(self, offer, party: str, status: str, reason: str) -> None:
        """The callback's own failure (never the agent's miss): attempts, backoff, reason on the task."""
        self.refused += 1
        await self.acd.callback_result(offer.call_id, offer.agent_id, status, party=party, reason=reason)

    def on_originate_response(self, event) -> None:
        """Called by the engine for every ``OriginateResponse``: did the agent answer?

        Matched by the Originate's ActionID (the event can come before the action's own
        Response: it is kept until then), else by our context and the number as Exten.
        """
        action_id = getattr(event, "action_id", None) or event.get("ActionID")
        entry = self._by_action.pop(action_id, None) if action_id else None
        if entry is not None:
            number, offer = entry
        elif event.get("Context") == self.context and self._ringing.get(event.get("Exten", "")):
            number = event.get("Exten", "")
            offer = self._ringing[number][0]
        else:
            if action_id and self._ringing:
                self._early[action_id] = event
                while len(self._early) > 100:
                    self._early.pop(next(iter(self._early)))
            return
        self._drop(self._ringing, number, offer)
        if event.get("Response") == "Success":
            self._answered[number].append(offer)
            return
        party, status, why = originate_failure(event.get("Reason"))
        log = self.log.bind(call_id=offer.call_id, agent=offer.agent_id)
        if party == "agent":
            log.info("callback.agent_no_answer", reason=event.get("Reason"), status=status)
            self.supervisor.spawn(self.acd.callback_result(offer.call_id, offer.agent_id, status, party="agent"),
                                  name=f"callback result {offer.call_id}", log=log)
        else:
            log.warning("callback.refused_by_pbx", reason=why)
            self.supervisor.spawn(self._failed(offer, party, status, why), name=f"callback result {offer.call_id}",
                                  log=log)

    async def program(self, call, record: CallRecord) -> None:
        """Runs on the agent's channel once the agent answered: ring the caller."""
        try:
            number = phone.callback_number(call.dialled)
        except phone.BadNumber as exc:
            record.outcome, record.reason = "failed", f"callback number refused: {exc}"
            self.log.warning("callback.bad_number", call_id=call.call_id, number=logmod.mask(call.dialled),
                             reason=str(exc))
            return
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
            result = await call.dial(phone.local_channel(number, self.caller_context),
                                     timeout_s=self.caller_ring_s, on_answer=caller_answered)
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
        elif result.status in ("CHANUNAVAIL", "CONGESTION"):
            # the trunk could not place the call: the PBX's refusal, retried with backoff
            await self._failed(offer, "pbx", result.status, f"caller's line could not be dialled: {result.status}")
            record.outcome, record.reason = "failed", f"caller's line could not be dialled: {result.status}"
        else:
            await self.acd.callback_result(offer.call_id, offer.agent_id, result.status, party="caller")
            record.outcome, record.reason = "failed", f"caller did not answer: {result.status}"

    @staticmethod
    def _drop(table, number, offer) -> None:
        q = table.get(number)
        if q and offer in q:
            q.remove(offer)
            if not q:
                del table[number]
