"""What a flow's ``enqueue`` and ``transfer`` do on a live call: the ACD on one side, AGI on the other.

The caller hears hold music while the ACD looks for an agent; the offer (made
by this node or another) cuts the music short with a Redirect, the agent's
phone is dialled, and the ACD hears of the answer the moment it happens, of the
end of the conversation (wrap-up starts), or of a ring timeout (the caller goes
back to the head of the line).  A caller who hangs up while waiting or ringing
becomes a callback task.  Periodic announcements tell the caller their place and
expected wait, and a callback that keeps the place is offered (ivr/engine/waiting.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from acd.api import AcdApi
from acd.model import AcdError, CallRequest, CallState, StoreScriptError
from acd.phone import BadDialString, check_dial_string, check_exten, local_channel
from acd.transfers import TransferRequest
from hotline import log as logmod
from ivr.agi.interface import CallControl, CallerHungUp, DialResult
from ivr.engine import transfer, waiting
from ivr.engine.recording import RecordingDesk, RecordingPlace
from ivr.engine.supervision import SpyWatch
from ivr.engine.agent_keys import DEFAULT_STARTS, AgentKeys
from ivr.engine.hold import hold_until
from ivr.engine.records import CallRecord
from ivr.flows.model import placeholder_sound
from ivr.flows.runner import FlowResult, QueueResult, dial_out

#: The project's own prompt between chunks of hold music (made by ``ivr prompts``; a stock
#: Asterisk sound such as queue-periodic-announce may not be installed, and a missing file
#: would end the caller's AGI session on a real Asterisk).
ANNOUNCE_PROMPT_ID = "queue_wait"
#: How long the ACD may take to place a caller before the caller hears hold music meanwhile.
PLACE_QUIETLY_S = 0.5
#: How long a caller who joined the line with an agent free waits in silence for the offer
#: before hold music starts: the Dial is then the next AGI command (see hold.hold_until).
OFFER_AT_ONCE_S = 0.05


class AcdServices(RecordingDesk):
    """``FlowServices`` for the engine: queue through the ACD, transfer by Dial, keep the record."""

    def __init__(self, acd: AcdApi, *, records: Callable[[str], CallRecord | None],
                 transfer_template: str = "Local/{number}@hotline-out", transfer_timeout_s: float = 30.0,
                 transfer_context: str | None = "hotline-out",
                 announce_every_s: float | None = None, max_offers: int = 20, speed: float = 1.0,
                 announce_sound: Callable[[str], str] | None = None,
                 sound: Callable[[str, str], str] | None = None,
                 agent_keys: Mapping[str, str] | None = None, agent_keys_end: str = "#",
                 recordings: RecordingPlace | None = None):
        self.acd = acd
        #: Where conversations are recorded (ivr/engine/recording.py); None: never recorded.
        self.recordings = recordings
        #: Feature codes agents key during the conversation (start keys -> transfer kind; end key):
        #: config/engine.yaml engine.agent_keys; none: agents transfer from the console only.
        self.agent_keys = dict(agent_keys) if agent_keys is not None else dict(DEFAULT_STARTS)
        self.agent_keys_end = agent_keys_end
        #: (prompt id, language) -> sound file of the engine's own prompts (config/prompts.yaml:
        #: queue_wait, the place-in-line words and numbers, the callback offer).
        self.sound = sound or (lambda pid, lang: placeholder_sound(pid, lang if lang in ("zh", "ko") else "zh"))
        if announce_sound is not None:     # the generic announcement from elsewhere (older callers)
            shared = self.sound
            self.sound = lambda pid, lang: announce_sound(lang) if pid == ANNOUNCE_PROMPT_ID else shared(pid, lang)
        self.records = records
        self.transfer_template = transfer_template
        #: Outside lines: transfers dial Local/<number>@<this context> (built from checked parts).
        self.transfer_context = transfer_context
        self.transfer_timeout_s = transfer_timeout_s
        self.announce_every_s = announce_every_s
        self.max_offers = max_offers
        self.speed = speed          # the PBX's (and the ACD clock's) time factor, for wall-clock figures
        #: When this node last saw each agent's conversation end (wrap-up then follows),
        #: and the delay from an agent becoming free to the Dial of the next call: the
        #: figure that says whether callers wait on the engine instead of on agents.
        self.freed_at: dict[str, float] = {}
        self.free_to_dial_s: deque[float] = deque(maxlen=100_000)
        self.offer_to_dial_s: deque[float] = deque(maxlen=100_000)   # the engine's share of it
        self._offered_at: dict[str, float] = {}

    async def enqueue(self, call: CallControl, queue: str, skills: Sequence[str], priority: int,
                      context: Mapping[str, str]) -> QueueResult:
        log = logmod.get("ivr.acd", call_id=call.call_id, queue=queue)
        record = self.records(call.call_id)
        queued_at = time.time()
        if record is not None:
            record.queue = queue
            record.queued = record.queued or queued_at
        request = CallRequest(call_id=call.call_id, queue=queue, skills=list(skills), priority=priority,
                              caller=call.caller, dialled=call.dialled, center=context.get("center", queue),
                              language=context.get("lang", call.language or "zh") or "zh",
                              channel=call.channel, flow_path=[s for s in context.get("path", "").split(",") if s])
        call.phase = "queue"
        try:
            placed = await self._place(call, request)
        except CallerHungUp:
            await self.acd.abandoned(call.call_id)
            raise
        except StoreScriptError as exc:
            # A bug in the store, not an outage: the flow's no-agent path (a callback offer)
            # serves the caller better than a hang-up.
            log.error("acd.enqueue_failed", error=str(exc))
            call.phase = "ivr"
            return QueueResult(talked=False, reason=f"the ACD could not queue the call: {exc}")
        log.info("acd.enqueued", position=placed.position, expected_wait_s=round(placed.expected_wait_s, 1)
                 if placed.expected_wait_s != float("inf") else None, skills=list(skills))
        lang = context.get("language") or request.language
        try:
            await self._recording_notice(call, queue, lang, record)
        except CallerHungUp:
            await self.acd.abandoned(call.call_id)
            raise
        plan = waiting.plan_for(self.acd, call, queue, announce_every_s=self.announce_every_s, speed=self.speed)
        plan.started = queued_at
        if placed.full or placed.offer_callback:
            plan.offer_now()
        first = placed.full or placed.offer_callback or 0 < placed.expected_wait_s
        offer = None          # an agent rung again after a failed transfer: no wait
        moved: dict | None = None   # the leg of a transfer to this queue, settled by what follows
        for _ in range(self.max_offers):
            if offer is None:
                try:
                    offer = await self._wait_offer(call, plan, lang, log, first=first)
                except CallerHungUp:
                    await self.acd.abandoned(call.call_id)
                    _settle(moved, "ABANDONED")
                    log.info("acd.abandoned", waited_s=round(time.time() - queued_at, 2))
                    raise
                except waiting.CallbackAccepted:
                    _settle(moved, "CALLBACK")
                    return await self._called_back(call, lang, record, queued_at)
                except AcdError as exc:
                    if not await self._dropped(call, exc, log):
                        raise
                    await self._place(call, request)     # the caller is still here: back in line
                    continue
            first = False
            talk = await self._talk(call, offer, queue, queued_at, record, log)
            offer = None
            if talk is None:
                continue
            _settle(moved, "ANSWER")
            if talk.transfer is None:
                call.phase = "ivr"
                return QueueResult(talked=True, agent=talk.agent, waited_s=talk.answered_at - queued_at)
            nxt = await transfer.carry_out(self, call, talk.transfer, request, record)
            if nxt.talked_to:
                call.phase = "ivr"
                return QueueResult(talked=True, agent=talk.agent, waited_s=talk.answered_at - queued_at)
            if nxt.offer is not None:
                offer = nxt.offer
                continue
            moved = record.dial_attempts[-1] if record is not None and nxt.request.queue != request.queue else None
            request, queue = nxt.request, nxt.request.queue
            log = logmod.get("ivr.acd", call_id=call.call_id, queue=queue)
            if record is not None:
                record.queue = queue
            plan = waiting.plan_for(self.acd, call, queue, announce_every_s=self.announce_every_s, speed=self.speed)
            plan.started = queued_at = time.time()
            try:
                await self._place(call, request)
            except CallerHungUp:
                await self.acd.abandoned(call.call_id)
                _settle(moved, "ABANDONED")
                raise
        await self.acd.abandoned(call.call_id)
        _settle(moved, "NOT_ANSWERED")
        call.phase = "ivr"
        return QueueResult(talked=False, reason="too many unanswered offers", waited_s=time.time() - queued_at)

    async def _talk(self, call: CallControl, offer, queue: str, queued_at: float, record: CallRecord | None,
                    log) -> "_Talked | None":
        """Ring the offered agent and let them talk; None when the caller must wait for another.

        The ACD hears of the answer when it happens and of the end when it comes; a
        transfer the agent asks for meanwhile cuts the agent's leg (ivr/engine/transfer.py).
        """
        answered_at: list[float] = []
        watch = transfer.TransferWatch(self.acd, call, log, agent=offer.agent_id,
                                       keys=AgentKeys(self.agent_keys, self.agent_keys_end) if self.agent_keys else None)
        spies = SpyWatch(self.acd, call, log, agent=offer.agent_id)

        async def report_answer() -> bool:
            """False when the ACD has the agent on another call: the answer is refused."""
            verdict = await self.acd.ring_result(call.call_id, offer.agent_id, "ANSWER")
            if verdict == "stale":
                return False
            answered_at.append(time.time())
            watch.start()
            spies.start()
            return True

        self.offer_to_dial_s.append(time.time() - self._offered_at.pop(call.call_id, time.time()))
        freed = self.freed_at.pop(offer.agent_id, None)
        if freed is not None:
            # From the moment this pairing became possible: the agent free (after wrap-up)
            # with this caller already waiting, to the Dial going out.
            possible = max(freed + self._wrapup_s(queue), queued_at)
            self.free_to_dial_s.append(max(0.0, time.time() - possible))
        try:
            dial_string = check_dial_string(offer.dial_string)
        except BadDialString as exc:   # config/acd.yaml is checked at load; a stored offer may be older
            log.error("acd.bad_dial_string", agent=offer.agent_id, error=str(exc))
            await self.acd.ring_result(call.call_id, offer.agent_id, "CHANUNAVAIL")
            return None
        try:
            await self._start_recording(call, queue, record)      # once per call, before its first Dial
            result = await call.dial(dial_string, timeout_s=offer.ring_timeout_s, on_answer=report_answer)
        except CallerHungUp:
            await watch.stop()
            if answered_at:   # the caller ended the conversation (or the PBX died during it)
                await self._ended(call, offer.agent_id, _talk_s(call, answered_at[0]), queue, record, answered_at[0])
                if watch.request is not None:     # raced the caller's hang-up: the record says so
                    transfer.leg(record, watch.request, "CALLER_GONE")
            else:             # gone while the agent's phone rang
                await self.acd.abandoned(call.call_id)
            raise
        finally:
            await watch.stop()
            await spies.stop()
            call.phase = "queue"
        if result.refused:   # the caller waits on, at the head of the line
            log.warning("acd.answer_refused", agent=offer.agent_id)
            if record is not None:
                record.dial_attempts.append({"agent": offer.agent_id, "status": "REFUSED"})
            return None
        if answered_at or result.status == "ANSWER":
            if not answered_at:  # DialEnd was not seen: report now, then the end
                await self.acd.ring_result(call.call_id, offer.agent_id, "ANSWER")
            talk_s = result.answered_s or (_talk_s(call, answered_at[0]) if answered_at else 0.0)
            when = answered_at[0] if answered_at else time.time()
            await self._ended(call, offer.agent_id, talk_s, queue, record, when)
            log.info("acd.talked", agent=offer.agent_id, talk_s=round(talk_s, 2),
                     transfer=watch.request.id if watch.request else None)
            return _Talked(offer.agent_id, when, watch.request)
        verdict = await self.acd.ring_result(call.call_id, offer.agent_id, result.status)
        if record is not None:
            record.dial_attempts.append({"agent": offer.agent_id, "status": result.status})
        log.info("acd.ring_failed", agent=offer.agent_id, status=result.status, verdict=verdict)
        return None

    async def _ended(self, call: CallControl, agent: str, talk_s: float, queue: str, record: CallRecord | None,
                     answered_at: float) -> None:
        """The agent's conversation is over (wrap-up starts): the ACD and the record hear of it."""
        self.freed_at[agent] = time.time()
        await self.acd.call_ended(call.call_id, agent, talk_s)
        if record is not None:
            record.agent, record.talk_s = agent, round(record.talk_s + talk_s, 3) if record.agent else round(talk_s, 3)
            if record.recording_path:
                record.recording_s = round(record.recording_s + talk_s, 3)
            record.wrapup_s = self._queue_wrapup_s(queue)
            record.agent_answered = record.agent_answered or answered_at

    async def _place(self, call: CallControl, request: CallRequest):
        """Put the caller in line; if the ACD is slow (its store is down), on hold music meanwhile.

        The caller is never hung up because the store failed: the ACD retries until the
        write lands, and the caller hears music instead of silence while it does.
        """
        placing = asyncio.ensure_future(self.acd.enqueue(request))
        try:
            await asyncio.wait({placing}, timeout=PLACE_QUIETLY_S)
            if placing.done():
                return placing.result()
            logmod.get("ivr.acd", call_id=call.call_id).warning("acd.slow_to_place", waited_s=PLACE_QUIETLY_S)
            return await hold_until(call, placing, chunk_s=30.0)
        finally:
            if not placing.done():
                placing.cancel()

    async def _wait_offer(self, call: CallControl, plan: waiting.WaitPlan, lang: str, log, *, first: bool = False):
        """Hold music until the next announcement is due; between chunks, the caller's place and
        expected wait and, when due, a callback offer (which may end the wait: CallbackAccepted)."""
        sound = lambda pid: self.sound(pid, lang)   # noqa: E731

        async def announce():
            place, wait_s = await self.acd.position(call.call_id)
            log.info("acd.announce", place=place, expected_wait_s=None if wait_s == float("inf") else round(wait_s))
            await call.play([sound(pid) for pid in waiting.announcement(place, wait_s, lang)])
            if plan.offer_due() and place > 0:
                plan.offered()
                await waiting.offer_callback(call, self.acd, sound, log)

        async def offered():
            offer = await self.acd.wait_offer(call.call_id)
            self._offered_at[call.call_id] = time.time()
            return offer

        return await hold_until(call, offered(), chunk_s=plan.chunk_s, between=announce, between_first=first,
                                ready_within_s=OFFER_AT_ONCE_S)

    async def _dropped(self, call: CallControl, exc: AcdError, log) -> bool:
        """True when the ACD let go of a caller who is still on the line.

        An offer nobody settled in time is taken back, and after a few times the call is
        dropped as lost: a node starved of CPU for longer than its offers' grace looks
        dead to the others.  The caller has not hung up, so they are put back in line
        rather than failed.
        """
        if getattr(call, "hung_up", False):
            return False
        state = await self.acd.get_call(call.call_id)
        if state is not None and state.state in (CallState.WAITING, CallState.OFFERED):
            return False
        log.warning("acd.requeued", reason=str(exc), state=state.state if state else None)
        return True

    async def _called_back(self, call: CallControl, lang: str, record: CallRecord | None, queued_at: float) -> QueueResult:
        """The ACD keeps the caller's place as a callback task: confirm, and let the flow end the call.

        Never ``abandoned`` from here on: the task is the caller's place, and a hang-up during
        the confirmation changes nothing about it.
        """
        if record is not None:
            record.reason = "callback requested while waiting: place kept"
        try:
            await call.play([self.sound(waiting.KEPT, lang)])
        except CallerHungUp:
            pass
        call.phase = "ivr"
        return QueueResult(talked=False, reason="callback requested", waited_s=time.time() - queued_at,
                           callback=True)

    def _queue_wrapup_s(self, queue: str) -> float:
        """The queue's wrap-up as configured (the agent's wrap-up after each call: the record's)."""
        try:
            return self.acd.queue_terms(queue).wrapup_s
        except Exception:
            return 0.0

    def _wrapup_s(self, queue: str) -> float:
        """Wrap-up in wall-clock seconds (the ACD's clock may run faster than real time)."""
        return self._queue_wrapup_s(queue) / self.speed

    async def transfer(self, call: CallControl, target: str, mode: str) -> DialResult:
        record = self.records(call.call_id)
        try:
            number = check_exten(target)
        except BadDialString as exc:   # the flows' checker refuses such a target; never dial it
            logmod.get("ivr.acd", call_id=call.call_id).error("acd.bad_transfer_target", error=str(exc))
            return DialResult(status="INVALIDARGS")
        if self.transfer_context:
            result = await call.dial(local_channel(number, self.transfer_context), timeout_s=self.transfer_timeout_s)
        else:
            result = await dial_out(call, number, template=self.transfer_template, timeout_s=self.transfer_timeout_s)
        if record is not None:
            record.dial_attempts.append({"transfer": target, "status": result.status})
            if result.status == "ANSWER":
                record.outcome = "transferred"
        return result

    async def record(self, call: CallControl, result: FlowResult) -> None:
        rec = self.records(call.call_id)
        outcome = dict(result.outcome)
        if rec is not None and rec.agent_answered is not None and outcome.get("kind") == "queue":
            # A person answered, whatever cut the call short afterwards (a hang-up mid-talk, the PBX
            # dying): the flow's provisional "not talked" must not reach the record.
            outcome.update(talked=True, agent=rec.agent or outcome.get("agent", ""))
        data = {
            "call_id": call.call_id, "caller": call.caller, "dialled": call.dialled,
            "flow": result.flow, "version": result.version, "center": result.center,
            "path": [f"{p.flow}:{p.node}" for p in result.path], "keys": result.keys,
            "outcome": outcome, "survey": result.survey, "to_queue_s": result.to_queue_s,
        }
        if rec is not None:
            data.update({"queue": rec.queue, "agent": rec.agent, "queued": rec.queued,
                         "agent_answered": rec.agent_answered, "talk_s": rec.talk_s})
        try:
            await self.acd.record(data)   # queued in the ACD's outbox: it lands after an outage
        except Exception as exc:  # the record must never break the call
            logmod.get("ivr.acd", call_id=call.call_id).warning("acd.record_failed", error=repr(exc))


@dataclass(slots=True)
class _Talked:
    agent: str
    answered_at: float
    transfer: TransferRequest | None = None     # the agent asked for it: the engine carries it out


def _settle(leg: dict | None, status: str) -> None:
    """A transfer to a queue is over when that queue's caller is answered, leaves or gives up."""
    if leg is not None and leg.get("status") == "QUEUED":
        leg["status"], leg["settled"] = status, time.time()


def _talk_s(call: CallControl, answered_at: float) -> float:
    """Talk time by the engine's clock: from DialEnd ANSWER to the end the channel saw."""
    measured = getattr(call, "talk_s", None)
    return measured() if callable(measured) and measured() > 0 else max(0.0, time.time() - answered_at)
