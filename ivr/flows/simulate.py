"""Walk a flow from the terminal with no PBX: a scripted caller on the real interpreter.

The engineer hears nothing but reads every prompt's text, types (or scripts)
the keys, and sees where the call ends up.  The walk is the same
:func:`ivr.flows.runner.run_flow` a live call runs; only the CallControl and the
services are stand-ins, and their clock advances by prompt lengths and time-outs
so the timings in the path are what a caller would live through.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, TextIO

import structlog

from ivr.agi.interface import CallerHungUp, DialResult
from ivr.flows import model as m
from ivr.flows.audio_len import prompt_seconds
from ivr.flows.plan_checks import agents_for
from ivr.flows.runner import FlowResult, QueueResult, run_call
from ivr.flows.steps import CHINA

TYPING_S = 0.6
_ids = itertools.count(1)


def sound_catalogue(flowset: m.FlowSet) -> dict[str, tuple[m.Prompt, str]]:
    """Sound name -> (prompt, language) for every prompt of every flow and the shared ones."""
    out: dict[str, tuple[m.Prompt, str]] = {}
    prompts = list(flowset.config.prompts.values())
    for f in flowset.flows.values():
        prompts.extend(f.prompts.values())
    for p in prompts:
        for lang in m.LANGUAGES:
            out.setdefault(p.sound(lang), (p, p.language_for(lang)))
    return out


class KeysExhausted(Exception):
    pass


class ScriptedCall:
    """A CallControl whose caller presses scripted keys (or keys typed on stdin)."""

    def __init__(self, flowset: m.FlowSet, *, caller: str, dialled: str, presses: list[str] | None,
                 out: TextIO | None = None, read: Callable[[], str] | None = None, dial_status: str = "ANSWER",
                 catalogue: dict | None = None):
        self.call_id = f"sim-{next(_ids)}"
        self.channel = "Local/simulated-caller"
        self.caller = caller
        self.caller_name = ""
        self.dialled = dialled
        self.language = "zh"
        self.presses = list(presses) if presses is not None else None
        self.out = out
        self.read = read
        self.dial_status = dial_status
        self.catalogue = catalogue if catalogue is not None else sound_catalogue(flowset)
        self.lengths = flowset.config.prompt_seconds
        self.now_s = 0.0
        self.heard: list[dict] = []
        self.pressed: list[str] = []
        self.vars: dict[str, str] = {}
        self.hung_up = False

    def clock(self) -> float:
        return self.now_s

    def say(self, text: str) -> None:
        if self.out is not None:
            print(text, file=self.out, flush=True)

    def _hear(self, sound: str) -> None:
        prompt, lang = self.catalogue.get(sound, (None, self.language))
        if prompt is None:
            entry = {"id": sound, "text": "", "lang": lang, "at_s": round(self.now_s, 1)}
            self.say(f"  ♪ [{sound}] (recording)")
        else:
            text = prompt.texts.get(lang, "")
            entry = {"id": prompt.id, "text": text, "lang": lang, "at_s": round(self.now_s, 1)}
            self.say(f"  ♪ {self.now_s:5.1f}s [{prompt.id}] {text or '(recording ' + sound + ')'}")
            self.now_s += prompt_seconds(prompt, lang, self.lengths)
        self.heard.append(entry)

    def _typed(self) -> str:
        """One line of keys from the terminal; anything a phone cannot send is asked for again."""
        while True:
            try:
                line = self.read()
            except EOFError:
                raise CallerHungUp("end of input") from None
            if line is None:
                raise CallerHungUp("end of input")
            keys = line.strip()
            if keys.lower() in ("hangup", "h", "q"):
                raise CallerHungUp("caller hung up")
            if phone_keys(keys):
                return keys
            self.say(f"  {keys!r} is not phone keys: type 0-9, * or # (Enter for none, 'h' to hang up)")

    def _keys(self, timeout_s: float, max_digits: int) -> str:
        if self.presses is None:
            if self.read is None:
                raise KeysExhausted
            keys = self._typed()
        else:
            keys = self.presses.pop(0) if self.presses else ""
        keys = "" if keys in ("-", "t", "timeout") else keys
        self.pressed.append(keys)
        if keys:
            self.now_s += TYPING_S * len(keys)
            self.say(f"  ☎ pressed {keys}")
        else:
            self.now_s += timeout_s
            self.say(f"  ☎ (no key for {timeout_s:g} s)")
        return keys

    async def answer(self) -> None:
        pass

    async def play(self, prompts, *, interrupt_on: str = "") -> str | None:
        for sound in prompts:
            self._hear(sound)
        return None

    async def collect(self, prompt, *, max_digits, timeout_s, inter_digit_timeout_s=None, terminator="#") -> str:
        if prompt:
            self._hear(prompt)
        if self.presses is None and self.read is not None:
            self.say("  keys> (Enter for none, 'h' to hang up)")
        keys = self._keys(timeout_s, max_digits)
        if terminator and terminator in keys:
            keys = keys[: keys.index(terminator)]
        return keys[:max_digits]

    async def wait_for_digit(self, timeout_s: float) -> str | None:
        keys = self._keys(timeout_s, 1)
        return keys[:1] or None

    async def set_var(self, name: str, value: str) -> None:
        self.vars[name] = value

    async def get_var(self, name: str) -> str | None:
        return self.vars.get(name)

    async def dial(self, target: str, *, timeout_s: float, options: str = "") -> DialResult:
        return DialResult(status=self.dial_status)

    async def music_on_hold(self, seconds=None, *, moh_class="default") -> None:
        self.now_s += seconds or 0

    async def interrupt(self) -> None:
        pass

    async def hangup(self) -> None:
        self.hung_up = True


class SimServices:
    """Queue and transfer stand-ins: report what would happen, pretend an agent talks."""

    def __init__(self, *, agent_talks: bool = True, transfer_status: str = "ANSWER", talk_s: float = 120.0,
                 config: m.Config | None = None):
        self.config = config
        self.unstaffed: list[str] = []      # queue steps nobody could take, in words
        self.agent_talks = agent_talks
        self.transfer_status = transfer_status
        self.talk_s = talk_s
        self.recorded: list[FlowResult] = []

    def nobody_able(self, queue: str, skills) -> bool:
        """True when acd.yaml was read and none of its agents has all of ``skills``: the walk then
        shows what a real caller would live through, not an agent that does not exist."""
        cfg = self.config
        return cfg is not None and cfg.agents is not None and not agents_for(cfg, queue, tuple(skills))

    async def enqueue(self, call, queue, skills, priority, context) -> QueueResult:
        where = f"  → queue {queue}, skills {', '.join(skills) or '-'}, priority {priority} at {call.now_s:.1f} s"
        if self.nobody_able(queue, skills):
            text = f"no agent can take this: none in acd.yaml has all of {', '.join(skills)} (queue {queue})"
            self.unstaffed.append(text)
            call.say(where + " — " + text)
            return QueueResult(talked=False, agent="", reason="no agent can take this")
        call.say(where + (" — an agent talks, then hangs up" if self.agent_talks else " — nobody takes the call"))
        if self.agent_talks:
            call.now_s += self.talk_s
        return QueueResult(talked=self.agent_talks, agent="sim-agent" if self.agent_talks else "", reason="" if self.agent_talks else "timeout")

    async def transfer(self, call, target, mode) -> DialResult:
        call.say(f"  → transfer {mode} to {target}: {self.transfer_status}")
        return DialResult(status=self.transfer_status, answered_s=60.0 if self.transfer_status == "ANSWER" else 0.0,
                          hangup_by="caller" if self.transfer_status == "ANSWER" else "")

    async def record(self, call, result) -> None:
        self.recorded.append(result)


@dataclass
class Walk:
    result: FlowResult
    heard: list[dict]
    pressed: list[str]
    notes: list[str] = field(default_factory=list)   # the engine's warnings during the walk, in words
    route: m.Route | None = None                     # where numbers.yaml sent the call, and why

    def to_json(self) -> dict:
        r = self.result
        return {
            "flow": r.flow, "center": r.center, "version": r.version,
            "prompts": self.heard, "keys": self.pressed, "outcome": r.outcome, "survey": r.survey,
            "hung_up_by": r.hung_up_by, "to_queue_s": r.to_queue_s, "duration_s": r.duration_s,
            "variables": r.variables, "notes": self.notes,
            "route": None if self.route is None else {
                "flow": self.route.flow, "center": self.route.center, "matched": self.route.matched,
                "located_by": self.route.located_by, "place": self.route.place},
            "path": [{"flow": s.flow, "node": s.node, "kind": s.kind, "at_s": s.at_s, "duration_s": s.duration_s,
                      "input": s.input, "detail": s.detail}
                     for s in r.path],
        }


def parse_at(text: str | None) -> dt.datetime:
    """--at: 'YYYY-MM-DD HH:MM', 'YYYY-MM-DDTHH:MM' or 'HH:MM' (today), China time."""
    if not text:
        return dt.datetime.now(CHINA).replace(second=0, microsecond=0)
    text = text.strip()
    try:
        if len(text) <= 5:
            h, mnt = text.split(":")
            today = dt.datetime.now(CHINA)
            return today.replace(hour=int(h), minute=int(mnt), second=0, microsecond=0)
        value = dt.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise ValueError(f"--at {text!r}: give a time as HH:MM or YYYY-MM-DD HH:MM") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def simulate(flowset: m.FlowSet, *, dialled: str, caller: str, at: dt.datetime, presses: list[str] | None,
             out: TextIO | None = None, read: Callable[[], str] | None = None, agent_talks: bool = True,
             transfer_status: str = "ANSWER", flow: str | None = None, catalogue: dict | None = None) -> Walk:
    call = ScriptedCall(flowset, caller=caller, dialled=dialled, presses=presses, out=out, read=read,
                        dial_status=transfer_status, catalogue=catalogue)
    services = SimServices(agent_talks=agent_talks, transfer_status=transfer_status, config=flowset.config)

    async def go() -> FlowResult:
        if flow:
            from ivr.flows.runner import run_flow

            route = flowset.route(dialled, caller)
            return await run_flow(flowset.flow(flow), call, services, now=at, variables=route.vars, clock=call.clock)
        return await run_call(flowset, call, services, now=at, clock=call.clock)

    notes: list[str] = []
    with engine_notes(lambda text: (notes.append(text), call.say(f"  ! {text}"))), \
            interrupt_at_once(read is not None):
        result = asyncio.run(go())
    return Walk(result=result, heard=call.heard, pressed=call.pressed, notes=notes + services.unstaffed,
                route=flowset.route(dialled, caller))


@contextlib.contextmanager
def engine_notes(note: Callable[[str], None]):
    """The engine logs what goes wrong in a call as JSON lines for the log collector; in the
    simulator they would land in the middle of the walk, unreadable.  Warnings and errors become
    lines of the walk instead (``note``); the rest, already filtered by level, is dropped."""
    old = structlog.get_config()

    def to_note(_logger, method: str, event: dict):
        if method in ("warning", "error", "critical", "exception"):
            level = "error" if method in ("critical", "exception") else method
            extra = ", ".join(f"{k}={v}" for k, v in event.items()
                              if k not in ("event", "call_id", "exc_info", "timestamp", "level"))
            note(f"engine {level}: {event.get('event')}" + (f" ({extra})" if extra else ""))
        raise structlog.DropEvent

    structlog.configure(processors=[structlog.contextvars.merge_contextvars, to_note])
    try:
        yield
    finally:
        structlog.configure(**old)


@contextlib.contextmanager
def interrupt_at_once(typing: bool):
    """asyncio.run's own Ctrl-C handler only cancels the walk, which waits for the keys being read
    from the terminal: the first Ctrl-C seemed lost.  A plain handler that raises at once (asyncio
    keeps a handler it did not install) ends the walk on the first one (exit 130)."""
    if not typing or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def key_options(node: m.Node) -> list[str]:
    """Inputs worth trying at a node, besides pressing nothing."""
    if isinstance(node, (m.Menu, m.Survey)):
        keys = list(node.keys if isinstance(node, m.Menu) else node.scores)
        wrong = next((k for k in m.DTMF if k not in keys), None)
        return keys + ([wrong] if wrong else [])
    if isinstance(node, m.Collect):
        good = node.example or "1" * node.min_digits
        bad = "0" * (node.max_digits + 1)
        return [good, bad]
    return []


def all_walks(flowset: m.FlowSet, *, dialled: str, caller: str, at: dt.datetime, flow: str | None = None,
              limit: int = 2000) -> list[tuple[list[str], str, bool, Walk]]:
    """Every distinct walk: each keyed prompt answered with each option or nothing, with agents
    talking or not and transfers answered or not.  Returns (presses, transfer status, agent talked, walk)."""
    out = []
    seen: set = set()
    catalogue = sound_catalogue(flowset)
    for transfer_status, agent_talks in (("ANSWER", True), ("NOANSWER", True), ("ANSWER", False)):
        todo: list[list[str]] = [[]]
        done_prefixes: set[tuple] = set()
        while todo and len(out) < limit:
            presses = todo.pop(0)
            if tuple(presses) in done_prefixes:
                continue
            done_prefixes.add(tuple(presses))
            walk = simulate(flowset, dialled=dialled, caller=caller, at=at, presses=list(presses),
                            agent_talks=agent_talks, transfer_status=transfer_status, flow=flow, catalogue=catalogue)
            signature = tuple((s.flow, s.node, s.input, s.detail) for s in walk.result.path)
            if signature not in seen:
                seen.add(signature)
                out.append((presses, transfer_status, agent_talks, walk))
            attempts = []
            lib = flowset.flows
            for s in walk.result.path:
                if s.input is not None:
                    node = lib[s.flow].nodes[s.node]
                    attempts.extend([node] * len(s.input.split(",")))
            for i in range(len(presses), len(attempts)):
                for option in key_options(attempts[i]):
                    todo.append(presses + ["-"] * (i - len(presses)) + [option])
    return out


def interactive_reader(stream: TextIO | None = None) -> Callable[[], str]:
    def read() -> str:
        line = (stream or sys.stdin).readline()
        if not line:
            raise EOFError
        return line
    return read


def phone_keys(item: str) -> bool:
    """Keys a phone can send (0-9, * and #), or one of the ways to say "no key"."""
    return item in ("", "-", "t", "timeout") or all(c in m.DTMF for c in item)


def parse_presses(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [p.strip() for p in text.split(",")] if text.strip() else []
    for item in items:
        if not phone_keys(item):
            raise ValueError(f"--press {text!r}: '{item}' is not phone keys (0-9, * and #; '-' for no key)")
    return items


def describe_outcome(outcome: dict, survey: str | None) -> str:
    kind = outcome.get("kind", "?")
    if kind == "queue":
        text = (f"queue {outcome['queue']} (skills {', '.join(outcome['skills']) or '-'}, priority {outcome['priority']}"
                f"{', agent talked' if outcome.get('talked') else ', no agent'})")
    elif kind == "transfer":
        text = f"transfer to {outcome['target']} ({outcome['number']}, {outcome['mode']}): {outcome['status']}"
    elif kind == "hangup":
        text = f"hung up by the flow at {outcome.get('node')}"
    elif kind == "abandoned":
        text = f"caller hung up at {outcome.get('node')}"
    else:
        text = str(outcome)
    if survey:
        text += f"; survey: {survey}"
    return text


def iter_lines(items: Iterable[str]) -> Callable[[], str]:
    """A reader over given lines, as if typed: the end of the lines is the caller hanging up."""
    it = iter(items)

    def read() -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None
    return read
