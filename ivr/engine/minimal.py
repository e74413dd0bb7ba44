"""The shortest useful call: answer, greet, one key, the first free agent, hang up.

It is the engine's smoke path (``ivr demo --minimal``) and needs neither flows
nor the ACD: a FIFO of waiting callers and a list of free agents in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ivr.agi.interface import CallControl, CallerHungUp
from ivr.engine.hold import hold_until
from ivr.engine.records import CallRecord


class FirstFreeAgents:
    """Hand out agents' endpoints first come, first served; one call per agent."""

    def __init__(self, endpoints: list[str]):
        self.free: deque[str] = deque(endpoints)
        self.waiting: deque[asyncio.Future] = deque()
        self.busy: set[str] = set()

    def request(self) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.free:
            endpoint = self.free.popleft()
            self.busy.add(endpoint)
            fut.set_result(endpoint)
        else:
            self.waiting.append(fut)
        return fut

    def release(self, endpoint: str) -> None:
        self.busy.discard(endpoint)
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                self.busy.add(endpoint)
                fut.set_result(endpoint)
                return
        self.free.append(endpoint)


class MinimalProgram:
    def __init__(self, agents: FirstFreeAgents, *, greeting: str = "hotline-welcome",
                 ring_timeout_s: float = 15.0, max_tries: int = 3):
        self.agents = agents
        self.greeting = greeting
        self.ring_timeout_s = ring_timeout_s
        self.max_tries = max_tries

    async def __call__(self, call: CallControl, record: CallRecord) -> None:
        await call.answer()
        record.answered = time.time()
        key = await call.collect(self.greeting, max_digits=1, timeout_s=2.0)
        record.path.append({"node": "greeting", "key": key, "t": time.time()})
        record.queued = time.time()
        for _ in range(self.max_tries):
            endpoint = await hold_until(call, self.agents.request())
            try:
                result = await call.dial(endpoint, timeout_s=self.ring_timeout_s)
            except CallerHungUp:
                if record.agent_answered is not None:  # the caller ended the conversation
                    record.agent = endpoint
                raise
            finally:
                self.agents.release(endpoint)
            record.dial_attempts.append({"agent": endpoint, "status": result.status})
            if result.status == "ANSWER":
                record.agent = endpoint
                record.talk_s = result.answered_s
                if record.agent_answered is None:  # DialEnd not seen: derive it
                    record.agent_answered = time.time() - result.answered_s
                record.outcome = "answered"
                return
        record.outcome = "failed"
        record.reason = "no agent answered"
