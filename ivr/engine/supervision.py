"""Supervisors joining a live conversation: the caller's owner rings their phone into ChanSpy.

Requests come through the ACD (acd/supervision.py).  While the caller talks to an
agent a :class:`SpyWatch` waits for them and, for each, originates the supervisor's
phone into ``ChanSpy`` on the agent's leg of the bridge (the Dial's far end, named in
full: a prefix could pick either half of the agent's Local pair, capture f) with the
mode's options: ``qE`` listen, ``qEw`` whisper to the agent, ``qEB`` barge.  The spy
ends when the supervisor hangs up or with the agent's leg (``E``); nothing of it runs
on the caller's channel, so a spy can never hold up the caller's AGI.
"""

from __future__ import annotations

import asyncio

from acd.supervision import MODES, SpyRequest
from ivr.agi.interface import CallControl
from ivr.engine.transfer import stop_watching


class SpyWatch:
    """Lives inside the call's owner task, from the agent's answer to the end of the Dial."""

    def __init__(self, acd, call: CallControl, log, *, agent: str):
        self.acd, self.call, self.log, self.agent = acd, call, log, agent
        self.handled: set[str] = set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            for req in await self.acd.wait_spies(self.call.call_id, set(self.handled)):
                self.handled.add(req.id)
                await self._ring(req)

    async def _ring(self, req: SpyRequest) -> None:
        ok = await self.call.ring_into_bridge(req.dial, MODES[req.mode])
        self.acd.spy_audit(req, self.agent, "started" if ok else "failed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_watching([task] if task is not None else [], self.log, "spy")
