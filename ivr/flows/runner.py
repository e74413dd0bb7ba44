"""The interpreter: walks a checked flow on one call through any CallControl.

The live engine hands it an AsyncAGI call; ``ivr simulate`` hands it a scripted
caller.  Everything that leaves the flow (queueing for an agent, transferring
out, storing the record) goes through :class:`FlowServices`, so the same walk
runs with or without a PBX.  Decisions come from :mod:`ivr.flows.steps`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from hotline import log
from ivr.agi.interface import CallControl, CallerHungUp, DialResult, EngineStopping
from ivr.flows import model as m
from ivr.flows import steps

ANY_KEY = "0123456789*#"
_RETURN = object()
MAX_STEPS = m.MAX_WALK_STEPS   # a runaway walk (which the checker should have caught) ends instead of spinning


@dataclass(slots=True)
class QueueResult:
    talked: bool               # an agent talked with the caller; a survey may follow
    agent: str = ""
    waited_s: float = 0.0
    reason: str = ""           # why nobody talked: "timeout", "closed", ...
    callback: bool = False     # the caller took a callback that keeps their place: the call ends here


class FlowServices(Protocol):
    """What a flow asks of the rest of the engine."""

    async def enqueue(self, call: CallControl, queue: str, skills: Sequence[str], priority: int,
                      context: Mapping[str, str]) -> QueueResult | bool:
        """Queue the caller; return once the conversation with an agent ended or nobody took the call."""

    async def transfer(self, call: CallControl, target: str, mode: str) -> DialResult:
        """Send the caller to another number (blind, or after the flow's announcement)."""

    async def record(self, call: CallControl, result: "FlowResult") -> None:
        """Store the call's path, variables, outcome and survey score with the call."""


async def dial_out(call: CallControl, number: str, *, template: str = "Local/{number}@hotline-out",
                   timeout_s: float = 30.0) -> DialResult:
    """Default transfer: dial the number through the dialplan context for outside lines."""
    return await call.dial(template.format(number=number), timeout_s=timeout_s)


@dataclass(slots=True)
class PathStep:
    flow: str
    node: str
    kind: str
    at_s: float                 # seconds since the flow started
    duration_s: float = 0.0
    input: str | None = None    # keys pressed / digits collected ('' = nothing pressed)
    detail: str = ""


@dataclass
class FlowResult:
    call_id: str
    flow: str
    version: str
    center: str
    started_at: str
    path: list[PathStep] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)      # prompt ids, in the order played
    variables: dict[str, str] = field(default_factory=dict)
    survey: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    hung_up_by: str = ""          # "caller" when the caller left, "flow" when the flow hung up
    duration_s: float = 0.0
    to_queue_s: float | None = None   # seconds from answer to the first queue

    def to_dict(self) -> dict:
        return asdict(self)


class _Run:
    def __init__(self, flow: m.Flow, call: CallControl, services: FlowServices, variables, now, clock):
        self.top = flow
        self.call = call
        self.services = services
        self.clock = clock
        self.now = now
        self.t0 = clock()
        self.vars: dict[str, str] = {"caller": call.caller, "dialled": call.dialled, **(variables or {})}
        self.language = self.vars.get("language") or "zh"
        if self.language not in flow.languages:
            self.language = flow.languages[0]
        lib = flow.library
        self.config = lib.config if lib else m.Config()
        self.result = FlowResult(call_id=call.call_id, flow=flow.name, version=lib.version if lib else "",
                                 center=self.vars.get("center", ""),
                                 started_at=now().isoformat(timespec="seconds"))
        self.log = log.get(__name__, call_id=call.call_id, flow=flow.name)

    # ---- helpers

    def elapsed(self) -> float:
        return round(self.clock() - self.t0, 3)

    def prompt(self, flow: m.Flow, pid: str) -> m.Prompt:
        p = flow.prompt(pid)
        if p is None:   # the checker refuses this; never go silent on a live call
            raise KeyError(f"prompt {pid} missing in flow {flow.name}")
        return p

    def sounds(self, flow: m.Flow, ids: Sequence[str]) -> list[str]:
        out = []
        for pid in ids:
            out.append(self.prompt(flow, pid).sound(self.language))
            self.result.prompts.append(pid)
        return out

    async def play(self, flow, ids) -> None:
        if ids:
            await self.call.play(self.sounds(flow, ids))

    async def ask(self, flow, ids: Sequence[str], *, max_digits: int, timeout_s: float, terminator: str = "#") -> str:
        """Play prompts (any key cuts them short) and wait for digits."""
        sounds = self.sounds(flow, ids)
        first = ""
        if len(sounds) > 1:
            first = await self.call.play(sounds[:-1], interrupt_on=ANY_KEY) or ""
        if first and max_digits == 1:
            return first
        got = await self.call.collect(None if first else sounds[-1], max_digits=max_digits - len(first),
                                      timeout_s=timeout_s, terminator=terminator)
        return first + (got or "")

    def facts(self) -> steps.Facts:
        return steps.Facts(caller=self.call.caller, dialled=self.vars.get("dialled", self.call.dialled),
                           center=self.vars.get("center", ""), language=self.language,
                           variables=dict(self.vars), now=self.now(), holidays=self.config.holidays,
                           workdays=self.config.workdays, area_codes=tuple(self.config.area_codes))

    def set_outcome(self, **outcome) -> None:
        self.result.outcome = outcome

    # ---- the walk

    async def run(self) -> FlowResult:
        frames: list[tuple[m.Flow, str]] = []   # (calling flow, node to return to)
        flow, name = self.top, self.top.entry
        try:
            await self.call.answer()
            for _ in range(MAX_STEPS):
                node = flow.nodes[name]
                step = PathStep(flow=flow.name, node=name, kind=node.kind, at_s=self.elapsed())
                self.result.path.append(step)
                self.log.info("flow.node", node=name, kind=node.kind, in_flow=flow.name)
                nxt = await self.node(flow, node, step, frames)
                step.duration_s = round(self.elapsed() - step.at_s, 3)
                if isinstance(nxt, tuple):        # entering a sub-flow
                    flow, name = nxt
                elif nxt is _RETURN:
                    if not frames:
                        break
                    flow, name = frames.pop()
                elif nxt is None:                 # the call ends here
                    break
                else:
                    name = nxt
            else:
                self.log.error("flow.runaway", steps=MAX_STEPS)
                self.set_outcome(kind="error", reason=f"more than {MAX_STEPS} steps")
            if self.result.hung_up_by == "":
                self.result.hung_up_by = "flow"
                await self.call.hangup()
        except CallerHungUp:
            self.result.hung_up_by = "caller"
            if not self.result.outcome:
                where = self.result.path[-1].node if self.result.path else ""
                self.set_outcome(kind="abandoned", node=where)
            self.log.info("flow.caller_hung_up")
        self.result.variables = dict(self.vars)
        self.result.duration_s = self.elapsed()
        self.log.info("flow.end", outcome=self.result.outcome.get("kind"), survey=self.result.survey,
                      duration_s=self.result.duration_s)
        return self.result

    async def node(self, flow: m.Flow, node: m.Node, step: PathStep, frames):
        if isinstance(node, m.Play):
            await self.play(flow, node.prompts)
            return node.next
        if isinstance(node, m.Menu):
            return await self.keyed(flow, node, step, node.prompts, 1, node.timeout_s, steps.menu_step)
        if isinstance(node, m.Collect):
            def decide(n, got, attempt):
                return steps.collect_step(n, got, attempt)
            nxt = await self.keyed(flow, node, step, node.prompts, node.max_digits + 1, node.timeout_s,
                                   decide, terminator=node.terminator)
            return nxt
        if isinstance(node, m.Survey):
            return await self.keyed(flow, node, step, node.prompts, 1, node.timeout_s, steps.survey_step)
        if isinstance(node, m.Branch):
            target = steps.branch_target(node, self.facts())
            step.detail = next((c.label() for c in node.cases if c.goto == target and steps.case_matches(c, self.facts())), "else")
            return target
        if isinstance(node, m.SetVars):
            self.vars = steps.set_values(node, self.vars)
            if "language" in node.values:
                self.language = node.values["language"]
            step.detail = ", ".join(f"{k}={v}" for k, v in node.values.items())
            return node.next
        if isinstance(node, m.Enqueue):
            return await self.enqueue(flow, node, step)
        if isinstance(node, m.Transfer):
            return await self.transfer(flow, node, step)
        if isinstance(node, m.RunFlow):
            sub = flow.library.flow(node.flow) if flow.library else None
            if sub is None:
                raise KeyError(f"sub-flow {node.flow} missing")
            frames.append((flow, node.next))
            step.detail = f"run {node.flow}"
            return (sub, sub.entry)
        if isinstance(node, m.Return):
            return _RETURN
        if isinstance(node, m.Hangup):
            await self.play(flow, node.prompts)
            if not self.result.outcome:
                self.set_outcome(kind="hangup", node=node.name)
            self.result.hung_up_by = "flow"
            await self.call.hangup()
            return None
        raise TypeError(f"unknown node kind {node.kind}")

    async def keyed(self, flow, node, step, prompts, max_digits, timeout_s, decide, terminator="#"):
        attempt = 0
        while True:
            attempt += 1
            got = await self.ask(flow, prompts, max_digits=max_digits, timeout_s=timeout_s, terminator=terminator)
            self.result.keys.append(got)
            step.input = got if step.input is None else f"{step.input},{got}"
            decision = decide(node, got, attempt)
            if decision.value is not None:
                if isinstance(node, m.Collect):
                    self.vars[node.into] = decision.value
                    step.detail = f"{node.into}={decision.value}"
                elif isinstance(node, m.Survey):
                    self.result.survey = decision.value
                    self.vars["survey"] = decision.value
                    step.detail = f"score {decision.value}"
                    await self.call.set_var("IVR_SURVEY", decision.value)
                else:
                    step.detail = f"key {decision.value}"
            if decision.again:
                if decision.retry:
                    await self.play(flow, [decision.retry])
                continue
            if decision.failure and not step.detail:
                step.detail = f"no valid input ({decision.failure})"
            if isinstance(node, m.Survey) and node.thanks and decision.value is not None:
                await self.play(flow, [node.thanks])
            return decision.goto

    async def enqueue(self, flow, node: m.Enqueue, step):
        if node.announce:
            await self.play(flow, [node.announce])
        queue = steps.resolve_queue(node.queue, self.vars.get("center", ""))
        if self.result.to_queue_s is None:
            self.result.to_queue_s = self.elapsed()
        context = {k: str(v) for k, v in self.vars.items()}
        context["flow"] = flow.name
        context["language"] = self.language
        self.log.info("flow.enqueue", queue=queue, skills=list(node.skills), priority=node.priority)
        # provisional: a caller who hangs up while queued or talking still ends as a queued call
        self.set_outcome(kind="queue", queue=queue, skills=list(node.skills), priority=node.priority,
                         talked=False, agent="")
        res = await self.services.enqueue(self.call, queue, node.skills, node.priority, context)
        if isinstance(res, bool):
            res = QueueResult(talked=res)
        self.set_outcome(kind="queue", queue=queue, skills=list(node.skills), priority=node.priority,
                         talked=res.talked, agent=res.agent)
        if res.callback:       # the ACD rings them back from their place: nothing more to ask
            self.set_outcome(kind="callback", queue=queue, skills=list(node.skills), priority=node.priority)
            step.detail = f"queue {queue} callback requested"
            return None
        step.detail = f"queue {queue} {'talked' if res.talked else 'no agent'}"
        return node.after_talk if res.talked else node.no_agent

    async def transfer(self, flow, node: m.Transfer, step):
        if node.announce:
            await self.play(flow, [node.announce])
        number = steps.transfer_number(node.target, self.config)
        self.log.info("flow.transfer", target=str(node.target), number=number, mode=node.mode)
        self.set_outcome(kind="transfer", target=str(node.target), number=number, mode=node.mode, status="DIALLING")
        dial = await self.services.transfer(self.call, number, node.mode)
        self.set_outcome(kind="transfer", target=str(node.target), number=number, mode=node.mode, status=dial.status)
        step.detail = f"transfer {number} {dial.status}"
        if dial.status != "ANSWER" and node.on_fail:
            return node.on_fail
        return None


def _china_now() -> dt.datetime:
    return dt.datetime.now(steps.CHINA)


async def run_flow(flow: m.Flow, call: CallControl, services: FlowServices, *,
                   now: Callable[[], dt.datetime] | dt.datetime | None = None,
                   variables: Mapping[str, str] | None = None,
                   clock: Callable[[], float] = time.monotonic) -> FlowResult:
    """Walk ``flow`` on ``call`` and store the result through ``services.record``.

    ``now`` fixes the calendar (branches on time, weekday and holidays);
    ``variables`` are the starting variables (the route's center, hotline...).
    """
    if isinstance(now, dt.datetime):
        fixed = now if now.tzinfo else now.replace(tzinfo=steps.CHINA)
        now_fn = lambda: fixed  # noqa: E731
    else:
        now_fn = now or _china_now
    run = _Run(flow, call, services, variables, now_fn, clock)
    try:
        result = await run.run()
    except EngineStopping:
        # The node stops and leaves the caller in AGI for another node: not a failure of the flow.
        run.log.info("flow.left_for_another_node", node=run.result.path[-1].node if run.result.path else None)
        raise
    except Exception as exc:
        # a service (the ACD, a dial) failed under the flow: the engine decides what to do with the
        # caller, but the path so far is stored first
        run.log.exception("flow.failed")
        run.result.variables = dict(run.vars)
        run.result.duration_s = run.elapsed()
        run.result.outcome = {**run.result.outcome, "kind": "error", "error": f"{type(exc).__name__}: {exc}",
                              "was": run.result.outcome.get("kind", "")}
        await _store(services, call, run)
        raise
    await _store(services, call, run)
    return result


async def _store(services: FlowServices, call: CallControl, run: "_Run") -> None:
    try:
        await services.record(call, run.result)
    except Exception:  # storing must not turn a finished call into a crash
        run.log.exception("flow.record_failed")


async def run_call(flowset: m.FlowSet, call: CallControl, services: FlowServices, **kw) -> FlowResult:
    """Route by number dialled and caller, then run the chosen flow on this snapshot."""
    route = flowset.route(call.dialled, call.caller)
    if not route.matched:
        log.get(__name__, call_id=call.call_id).warning("flow.no_route", dialled=call.dialled, center=route.center)
    variables = {**route.vars, **(kw.pop("variables", None) or {})}
    return await run_flow(flowset.flow(route.flow), call, services, variables=variables, **kw)
