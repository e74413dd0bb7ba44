"""Several engine nodes on one Asterisk: exactly one serves each call, and a survivor adopts.

Every node logged in to Asterisk sees every channel's ``AsyncAGIStart``.  The
node that first leases the channel (acd/leases.py: in the shared Redis, one atomic
script on the server's clock) serves it and renews the lease while the call lasts; the
others only remember the channel.  When a node dies its leases run out, and a
survivor's renewal round wins them: it adopts the caller.  Adoption depends on
where the call was, as the ACD's record of it says:

- waiting in a queue (or being offered): Redirect the channel back into AGI,
  re-enter the queue keeping the caller's place, and carry on;
- talking with an agent: leave the conversation alone (a Redirect would cut
  it), wait until the dead node's Dial returns, tell the ACD, hang up;
- past the conversation (ended: the survey or goodbye): answered, hang up;
- still in the voice menu, or unknown: Redirect and start the flow again.

A node that was only starved (its renewal came after its lease ran out and another
node won the channel) lets the call go without touching the channel: one node drives
a call at a time, and the record says ``handed_over``, reason ``lease lost``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from acd.api import AcdApi
from acd.leases import Leases
from hotline import log as logmod
from ivr.agi.interface import CallControl, CallerHungUp
from ivr.engine.records import CallRecord


class ChannelLeases:
    """This node's leases on live channels.  The engine's only way to them: where they are kept
    (``leases``, from ``acd.leases.leases_for``) is one argument, and never lets a failure reach a call."""

    def __init__(self, leases: Leases, node: str, *, lease_s: float = 10.0):
        self.leases = leases
        self.node = node
        self.lease_s = lease_s
        self.log = logmod.get("ivr.ownership", node=node)

    async def claim(self, channel: str) -> bool:
        try:
            return channel in await self.leases.lease(self.node, [channel], self.lease_s)
        except Exception as exc:  # store away: not ours for now; the renewal round retries
            self.log.warning("lease.claim_failed", call_id=channel, error=str(exc))
            return False

    async def renew(self, channels: list[str]) -> set[str] | None:
        """The channels this node holds now; None when the store did not answer (nothing lost)."""
        try:
            return set(await self.leases.lease(self.node, channels, self.lease_s))
        except Exception as exc:
            self.log.warning("lease.renew_failed", channels=len(channels), error=str(exc))
            return None

    async def release(self, channel: str) -> None:
        try:
            await self.leases.release(self.node, channel)
        except Exception as exc:  # it runs out by itself
            self.log.debug("lease.release_failed", call_id=channel, error=str(exc))


class Adoption:
    """The program for a call adopted from a node that died (see the module's docstring)."""

    def __init__(self, acd: AcdApi, services: Any, program: Any, link: Any):
        self.acd = acd
        self.services = services
        self.program = program
        self.link = link

    async def __call__(self, call: CallControl, record: CallRecord) -> None:
        log = logmod.get("ivr.adopt", call_id=call.call_id)
        state = await self.acd.get_call(call.call_id)
        where = getattr(state, "state", "") if state is not None else ""
        record.reason = f"adopted ({where or 'not queued'})"
        log.info("call.adopted", acd_state=where or None)
        if where == "connected":
            # The dead node's Dial may still bridge caller and agent: wait until it is over.
            while await self._bridged(call.call_id):
                if call.hung_up:
                    raise CallerHungUp(call.hangup_cause or "caller gone")
                try:
                    await asyncio.wait_for(call.foreign_result.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
            talk_s = max(0.0, self.acd.clock() - (state.answered_at or self.acd.clock()))
            await self.acd.call_ended(call.call_id, state.agent_id, talk_s)
            record.agent, record.queue, record.outcome = state.agent_id, state.queue, "answered"
            record.agent_answered = record.agent_answered or record.started
            return
        if where == "ended":
            # The conversation is over (the node was in the survey or goodbye): the caller
            # was served; starting the menu again would serve them twice.
            record.agent, record.queue, record.outcome = state.agent_id, state.queue, "answered"
            record.agent_answered = record.agent_answered or record.started
            return
        await call.interrupt()                     # fresh AGI session on the same channel
        if where in ("waiting", "offered"):
            context = {"center": state.center, "lang": state.language}
            result = await self.services.enqueue(call, state.queue, list(state.skills), state.priority, context)
            record.outcome = "answered" if getattr(result, "talked", result) is True else record.outcome
            return
        await self.program(call, record)


    async def _bridged(self, channel_id: str) -> bool:
        items = await self.link.action_list("CoreShowChannels", {})
        for item in items:
            if item.get("Uniqueid") == channel_id:
                return bool(item.get("BridgeId"))
        return False


async def renew_forever(engine, interval_s: float) -> None:
    """The renewal round: keep this node's leases, win the ones whose node died."""
    while True:
        await asyncio.sleep(interval_s)
        await engine.renew_leases()
