"""The engine's per-call program for flows: snapshot, walk, story.

The engine calls ``program(call, record)`` for every call and ``program.reload_async()``
on SIGHUP; this class is that program for the shipped flows, given the services
(ACD queueing, transfers, storage) the engine provides.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Callable

from hotline import log
from ivr.flows.registry import FlowRegistry
from ivr.flows.runner import FlowResult, FlowServices, run_flow


def outcome_word(result: FlowResult) -> str:
    """The engine's outcome words (ivr.engine.records) for a flow result."""
    o = result.outcome
    kind = o.get("kind")
    if kind == "queue":
        if o.get("talked"):
            return "answered"
        return "abandoned" if result.hung_up_by == "caller" else "failed"
    if kind == "transfer":
        return "transferred" if o.get("status") in ("ANSWER", "DIALLING") else "failed"
    if kind == "abandoned":
        return "abandoned"
    if kind in ("hangup", "callback"):    # callback: the caller took one that keeps their place
        return "completed"
    return "failed"


class FlowProgram:
    def __init__(self, registry: FlowRegistry, services: FlowServices, *, now: Callable | Any = None):
        self.registry = registry
        self.services = services
        self.now = now

    def reload(self) -> list:
        """Load and check the flows again, blocking for at most the registry's time limit; the old
        version serves if they are broken.  On the event loop, await :meth:`reload_async` instead."""
        return self.registry.reload()

    async def reload_async(self) -> list:
        """SIGHUP: the same, in a thread with a time limit; the refusal is logged (one line) by the registry."""
        return await self.registry.reload_async()

    async def __call__(self, call, record: Any) -> FlowResult:
        plan = self.registry.plan(call.dialled, call.caller)
        if not plan.route.matched:
            log.get(__name__, call_id=call.call_id).warning("flow.no_route", dialled=call.dialled,
                                                            center=plan.route.center)
        if getattr(record, "answered", None) is None:
            record.answered = time.time()
        try:
            result = await run_flow(plan.flow, call, self.services, now=self.now, variables=plan.route.vars)
        finally:
            record.flow, record.flow_version = plan.flow.name, str(plan.flowset.version)
            record.center = record.center or plan.route.center
            record.located_by, record.place = plan.route.located_by, plan.route.place
        record.keys = list(result.keys)
        record.center = result.center or record.center
        record.path = [asdict(step) for step in result.path]
        record.survey = result.survey
        if result.outcome.get("kind") == "queue":
            record.queue = record.queue or result.outcome["queue"]
            if record.queued is None and result.to_queue_s is not None:
                record.queued = record.answered + result.to_queue_s
        if not record.outcome:
            record.outcome = outcome_word(result)
        return result
