"""Transfers an agent starts: the request, its checks, and how the caller's owner hears of it.

Anyone may ask (the agent's console, `acd call transfer`, a supervisor), on any
node; only the engine task that owns the caller's channel can act.  So a request
is one atomic write on the call in the shared store (:meth:`Store.request_transfer`
checks the call is connected to that agent and no other transfer of it runs), and
the store publishes ``transfer:<call id>``; the owner, waiting in
:meth:`TransferDesk.wait_transfer` while the conversation lasts, picks it up and
carries it out (ivr/engine/transfer.py).  A lost notice costs at most
``TRANSFER_POLL_S``: the owner re-reads the call that often.

Targets.  A queue id (``province``, ``changchun``) or a queue's code (1 or 2 digits,
``code`` in config/acd.yaml, for agents keying ``#1`` CODE ``#`` on a plain phone:
ivr/engine/agent_keys.py) sends the caller to that queue;
a number whose kept hotline has a queue here (``12366`` -> ``hotline-12366``,
config/subcenters.yaml) goes to that queue too, so the call stays measured in
one ACD; any other number (``110``, an outside line) is dialled by the engine
through its outside-line context.  The caller joins a target queue ahead of
everyone waiting there (:data:`TRANSFER_PRIORITY`): they have waited once already.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import asdict, dataclass, field

from acd.config import AcdConfig
from acd.model import AcdError, CallState
from hotline import log

#: Kinds of transfer an agent may ask for.  Consult and three-way need the caller held or
#: conferenced while the agent talks to the target; they are not built yet (issue 9).
KINDS = ("blind",)
#: Priority of a transferred caller in the target queue: ahead of every caller the flows
#: queue (their priorities stay well below this).
TRANSFER_PRIORITY = 50
#: How often the owner of a connected call re-reads it, in case a notice was lost.
TRANSFER_POLL_S = 2.0
#: Numbers an agent may send a caller to: 3 to 20 digits (110 ... an outside line).
_NUMBER = re.compile(r"[0-9]{3,20}")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """What the caller's owner needs to carry a transfer out."""

    id: str
    call_id: str
    agent_id: str                # who asked: the agent on the call
    kind: str                    # blind
    target: str                  # as the agent typed it
    queue: str = ""              # the target queue, or "" for a number
    number: str = ""             # the number to dial, or "" for a queue
    skills: list[str] = field(default_factory=list)
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TransferRequest | None":
        try:
            data = json.loads(text)
            return cls(**{k: data[k] for k in cls.__slots__ if k in data})
        except (ValueError, TypeError, KeyError):
            return None


def resolve_target(config: AcdConfig, target: str) -> tuple[str, str]:
    """(queue, number) for what an agent typed; AcdError naming the target when it is unknown."""
    text = (target or "").strip()
    if text in config.queues:
        return text, ""
    if text.isdigit() and len(text) <= 2:
        for queue in config.queues.values():
            if queue.code == text:
                return queue.id, ""
    if _NUMBER.fullmatch(text):
        kept = f"hotline-{text}"
        return (kept, "") if kept in config.queues else ("", text)
    codes = ", ".join(f"{q.code}={q.id}" for q in config.queues.values() if q.code)
    raise AcdError(f"unknown transfer target {target!r}: give a queue ({', '.join(sorted(config.queues))}), "
                   f"a queue's code ({codes or 'none set'}) or a number of 3 to 20 digits")


def build_request(config: AcdConfig, call, *, target: str, kind: str, agent_id: str | None,
                  skills: list[str] | None, now: float) -> TransferRequest:
    """Check a request against what the store has of the call; AcdError says why it is refused.

    The store checks again atomically when the request is written (the call may end
    meanwhile): this pass gives the clear words for the usual mistakes.
    """
    if kind not in KINDS:
        raise AcdError(f"transfer kind {kind!r} is not available; kinds: {', '.join(KINDS)}")
    queue, number = resolve_target(config, target)
    if call is None:
        raise AcdError("unknown call")
    if call.state != CallState.CONNECTED:
        raise AcdError(f"call {call.call_id} is not talking to an agent (state: {call.state})")
    agent = agent_id or call.agent_id
    if agent != call.agent_id:
        raise AcdError(f"agent {agent} is not on call {call.call_id} (agent {call.agent_id or 'none'} is)")
    if queue and queue == call.queue and not skills:
        raise AcdError(f"call {call.call_id} is already in queue {queue}")
    chosen = sorted(set(skills)) if skills else list(call.skills)
    return TransferRequest(id=uuid.uuid4().hex[:12], call_id=call.call_id, agent_id=agent, kind=kind,
                           target=target, queue=queue, number=number, skills=chosen, at=now)


async def request(store, config: AcdConfig, call_id: str, *, target: str, kind: str = "blind",
                  agent_id: str | None = None, skills: list[str] | None = None, now: float) -> TransferRequest:
    """Write a transfer request for the caller's owner to carry out (the CLI's and the console's way in)."""
    call = await store.get_call(call_id)
    if call is None:
        raise AcdError(f"unknown call {call_id!r} (never queued, or ended over a day ago)")
    req = build_request(config, call, target=target, kind=kind,
                        agent_id=agent_id, skills=skills, now=now)
    refusal = await store.request_transfer(call_id, req.agent_id, req.to_json(), now)
    if refusal:
        raise AcdError(refusal)
    return req


async def owner_wait(waiters: dict[str, asyncio.Event], call_id: str, read, what: str):
    """Until ``read()`` answers something: after each notice for the call (``waiters[call_id]``
    is set by the node's listener), and every TRANSFER_POLL_S in case a notice was lost."""
    if call_id in waiters:
        raise AcdError(f"call {call_id!r} already waits for {what} on this node")
    wake = waiters[call_id] = asyncio.Event()
    me = asyncio.current_task()
    try:
        while True:
            wake.clear()
            found = await read()
            # A cancel can be lost on the way: redis-py may turn it into a connection error
            # (read() logs and swallows those), and 3.11's wait_for drops one that meets a
            # notice.  The owner cancels this wait when the conversation ends: honour it.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            if found:
                return found
            try:
                await asyncio.wait_for(wake.wait(), TRANSFER_POLL_S)
            except asyncio.TimeoutError:
                pass
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
    finally:
        waiters.pop(call_id, None)


class TransferDesk:
    """Mixin of :class:`acd.service.Acd`: the owner's side of transfer requests."""

    async def request_transfer(self, call_id: str, target: str, *, kind: str = "blind",
                               agent_id: str | None = None, skills: list[str] | None = None) -> TransferRequest:
        req = await request(self.store, self.config, call_id, target=target, kind=kind, agent_id=agent_id,
                            skills=skills, now=self.clock())
        log.get("acd", call_id=call_id, node=self.node_id).info(
            "acd.transfer_requested", agent=req.agent_id, kind=req.kind, queue=req.queue or None,
            number=req.number or None)
        return req

    async def wait_transfer(self, call_id: str) -> TransferRequest:
        """Wait, while the call is connected, for a transfer request for it.  Cancellable.

        Returns the request once; the caller's owner then carries it out.
        """
        return await owner_wait(self._transfer_waiters, call_id, lambda: self._pending_transfer(call_id),
                                "a transfer request")

    async def _pending_transfer(self, call_id: str) -> TransferRequest | None:
        try:
            call = await self.store.get_call(call_id)
        except Exception as exc:    # the store away: the next poll looks again
            log.get("acd", call_id=call_id, node=self.node_id).debug("acd.transfer_poll_failed", error=str(exc))
            return None
        if call is None or call.state != CallState.CONNECTED or not call.transfer:
            return None
        req = TransferRequest.from_json(call.transfer)
        if req is None:
            log.get("acd", call_id=call_id, node=self.node_id).error("acd.transfer_unreadable")
        return req

    async def return_to_agent(self, call_id: str, agent_id: str):
        """A transfer failed: ring the agent who had the caller again, if still free or in this
        call's wrap-up.  The Offer to dial, or None: the caller must queue instead."""
        call = await self.get_call(call_id)
        queue = self.config.queues.get(call.queue) if call is not None else None
        if queue is None:
            return None
        ring_s, grace_s = float(queue.ring_timeout_s), float(self.config.offer_grace_s)
        offer = await self._retry(lambda: self.store.recall_agent(call_id, agent_id, ring_s, grace_s, self.clock()),
                                  "recall_agent")
        if offer is not None:
            from acd.service import _Local

            self._seq[call_id] = offer.seq
            back = await self.get_call(call_id)
            if back is not None:          # held here again: rebuilt by this node if Redis loses it
                self._local[call_id] = _Local(back)
        return offer

    def _transfer_notice(self, call_id: str) -> None:
        wake = self._transfer_waiters.get(call_id)
        if wake is not None:
            wake.set()
