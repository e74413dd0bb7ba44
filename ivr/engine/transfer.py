"""Carrying out a transfer an agent asked for, on the caller's own channel (acd/transfers.py).

Mechanism (../shared/ami-captures/transfers.md, c): the engine hangs up the agent's
leg of the running Dial; ``EXEC Dial`` answers ``result=-1`` with DIALSTATUS still
ANSWER and the caller's AGI stays open, so the caller never leaves the engine's
hands.  Then, on the same channel: a queue target puts the caller back in line
(ahead of everyone waiting there), a number is dialled from AGI (the caller hears
ringing within one AGI poll, ~0.1 s).  Asterisk's own BlindTransfer of the agent
channel would end AsyncAGI and lose the caller (capture a1), so it is not used.

A number that does not answer (busy, no answer, congestion) brings the caller back
to the agent who sent them, if that agent is still free or in this call's wrap-up,
else to the head of the queue they came from: never silence.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from acd.model import AcdError, CallRequest, Offer
from acd.phone import BadDialString, check_exten, local_channel
from acd.transfers import TRANSFER_PRIORITY, TransferRequest
from hotline import log as logmod
from ivr.agi.interface import CallControl, CallerHungUp
from ivr.engine.agent_keys import AgentCode, AgentKeys
from ivr.engine.records import CallRecord


@dataclass(slots=True)
class Next:
    """What the caller's owner does after a transfer: exactly one field is set."""

    talked_to: str = ""              # the number answered: the call goes on there, then the flow ends it
    offer: Offer | None = None       # the agent is rung again
    request: CallRequest | None = None   # the caller queues (the target queue, or back where they were)


class TransferWatch:
    """While the caller talks to an agent: wait for a transfer request, then cut the agent's leg.

    Started by the answer, stopped when the Dial ends.  Lives inside the call's owner task.
    """

    def __init__(self, acd, call: CallControl, log, *, agent: str = "", keys: AgentKeys | None = None):
        self.acd, self.call, self.log, self.agent = acd, call, log, agent
        self.request: TransferRequest | None = None
        self._task: asyncio.Task | None = None
        self._keys = keys
        self._asking: asyncio.Task | None = None      # a request keyed on the agent's phone, on its way

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._watch())
            if self._keys is not None and hasattr(self.call, "on_peer_key"):
                self.call.on_peer_key = self._key

    def _key(self, digit: str) -> None:
        code = self._keys.feed(digit)
        if code is None:
            return
        if self._asking is not None and not self._asking.done():
            self.log.warning("transfer.keyed_while_asking", target=code.target)
            return
        self._asking = asyncio.ensure_future(self._ask(code))

    async def _ask(self, code: AgentCode) -> None:
        """The agent keyed a code: ask the ACD, as the console would; a refusal is logged."""
        try:
            await self.acd.request_transfer(self.call.call_id, code.target, kind=code.kind, agent_id=self.agent)
        except AcdError as exc:
            self.log.warning("transfer.keyed_refused", target=code.target, reason=str(exc))

    async def _watch(self) -> None:
        req = await self.acd.wait_transfer(self.call.call_id)
        self.request = req
        self.log.info("transfer.started", agent=req.agent_id, kind=req.kind, queue=req.queue or None,
                      number=req.number or None)
        await self.call.leave_dial()

    async def stop(self) -> None:
        if hasattr(self.call, "on_peer_key"):
            self.call.on_peer_key = None
        tasks = [t for t in (self._task, self._asking) if t is not None]
        self._task = self._asking = None
        await stop_watching(tasks, self.log, "transfer")


#: How long the end of a conversation waits for its watchers to stop (they only poll the store).
STOP_WAIT_S = 2.0


async def stop_watching(tasks: list[asyncio.Task], log, what: str) -> None:
    """Cancel a conversation's watchers; never wait on them past STOP_WAIT_S: the caller's
    flow goes on (a watcher still running then is cancelled again at its next poll)."""
    for task in tasks:
        if not task.done():
            task.cancel()
    if not tasks:
        return
    done, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
    for task in stuck:
        log.warning(f"{what}.watch_slow_to_stop", task=task.get_name())
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning(f"{what}.watch_failed", error=repr(task.exception()))


def leg(record: CallRecord | None, req: TransferRequest, status: str) -> dict | None:
    """The transfer's entry among the call's legs (kept up to date as it goes)."""
    if record is None:
        return None
    entry = {"transfer": req.queue or req.number, "kind": req.kind, "by": req.agent_id,
             "requested": req.at, "at": time.time(), "status": status}
    record.dial_attempts.append(entry)
    return entry


async def carry_out(services, call: CallControl, req: TransferRequest, came_from: CallRequest,
                    record: CallRecord | None) -> Next:
    """The agent has left the call (wrap-up started); take the caller where the agent asked."""
    log = logmod.get("ivr.transfer", call_id=call.call_id, agent=req.agent_id)
    entry = leg(record, req, "QUEUED" if req.queue else "DIALLING")
    if req.queue:
        log.info("transfer.to_queue", queue=req.queue, skills=req.skills)
        return Next(request=_requeued(came_from, req.queue, req.skills, entry))
    try:
        target = local_channel(check_exten(req.number), services.transfer_context or "hotline-out")
    except BadDialString as exc:   # acd.transfers checks the digits; a request from elsewhere may not
        log.error("transfer.bad_number", error=str(exc))
        status = "INVALIDARGS"
    else:
        try:
            result = await call.dial(target, timeout_s=services.transfer_timeout_s)
        except CallerHungUp:
            _final(entry, "CALLER_GONE" if call.talk_s() <= 0 else "ANSWER")
            raise
        status = result.status
        if status == "ANSWER":
            _final(entry, "ANSWER", talk_s=round(result.answered_s, 3))
            if record is not None and record.recording_path:      # bridged there too: in the file
                record.recording_s = round(record.recording_s + result.answered_s, 3)
            if record is not None:
                record.outcome = "transferred"
            log.info("transfer.answered", number=req.number, talk_s=round(result.answered_s, 2))
            return Next(talked_to=req.number)
    _final(entry, status)
    log.warning("transfer.failed", number=req.number, status=status)
    offer = await services.acd.return_to_agent(call.call_id, req.agent_id)
    if offer is not None:
        log.info("transfer.back_to_agent")
        return Next(offer=offer)
    log.info("transfer.back_to_queue", queue=came_from.queue)
    return Next(request=_requeued(came_from, came_from.queue, came_from.skills, None))


def _final(entry: dict | None, status: str, **more) -> None:
    if entry is not None:
        entry.update(status=status, settled=time.time(), **more)


def _requeued(came_from: CallRequest, queue: str, skills, entry: dict | None) -> CallRequest:
    """The caller's request for the next queue: same data, the head of that line."""
    if entry is not None:
        entry["queue"] = queue
    return CallRequest(call_id=came_from.call_id, queue=queue, skills=list(skills),
                       priority=max(TRANSFER_PRIORITY, came_from.priority), caller=came_from.caller,
                       dialled=came_from.dialled, center=queue if queue != came_from.queue else came_from.center,
                       language=came_from.language, channel=came_from.channel, flow_path=list(came_from.flow_path))
