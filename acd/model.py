"""The ACD's nouns: agents (seats), calls waiting for them, and what the engine is told.

Everything here is plain data that round-trips through a dict, because the same
records live in a Python dict (memory store) and as JSON in Redis (written by Lua
scripts too); field names are therefore part of the Redis layout (docs/acd.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


class CallState(StrEnum):
    WAITING = "waiting"      # in a queue, may be offered to an agent
    OFFERED = "offered"      # an agent was claimed for it; the engine is ringing them
    CONNECTED = "connected"  # the agent answered
    ENDED = "ended"
    ABANDONED = "abandoned"  # caller hung up before an agent answered
    FAILED = "failed"        # a callback that ran out of attempts


class CallKind(StrEnum):
    CALL = "call"            # a caller on hold in the engine
    CALLBACK = "callback"    # nobody on the line: the engine originates when an agent is claimed


#: Ring outcome of an agent's phone as ``${DIALSTATUS}`` reports it.
ANSWERED = "ANSWER"


class AcdError(Exception):
    """A request the ACD refuses (unknown agent, impossible state change); shown as one line."""


class StoreError(Exception):
    """A store operation failed; ``op`` names it (script or command), ``reason`` is the
    store's own text (Redis's error line), so no log line loses why."""

    def __init__(self, message: str = "", *, op: str = "", reason: str = "") -> None:
        super().__init__(message or reason or op)
        self.op = op
        self.reason = reason or message


class StoreUnavailable(StoreError):
    """A passing server condition (unreachable, out of memory, loading, no answer in time):
    the caller retries with backoff."""


class StoreScriptError(StoreError):
    """A script or command failed in a way no retry mends (a bug, corrupt data): logged
    with the script's name (``op``, also ``script``) and Redis's reason, never retried."""

    @property
    def script(self) -> str:
        return self.op


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _from(cls, data: dict):
    """Build from a dict, ignoring keys this version does not know (records outlive code)."""
    names = _names(cls)
    if len(data) == len(names) and all(k in data for k in names):
        return cls(**data)
    return cls(**{k: data[k] for k in names if k in data})


def _to(obj) -> dict:
    """A shallow dict with its own lists and dicts (asdict's deep copy is slow on the routing path)."""
    out = {}
    for name in _names(type(obj)):
        v = getattr(obj, name)
        if isinstance(v, list):
            v = list(v)
        elif isinstance(v, dict):
            v = dict(v)
        out[name] = v
    return out


@dataclass(slots=True)
class Agent:
    id: str
    dial: str                                  # Asterisk dial string, e.g. PJSIP/1001
    name: str = ""
    center: str = ""
    queues: list[str] = field(default_factory=list)
    skills: dict[str, int] = field(default_factory=dict)   # skill -> level 1 (basic) .. 5 (best)
    hours: str = ""                            # when the agent sits ("08:30-17:00 workdays"); "" any time
    state: str = AgentState.LOGGED_OUT
    reason: str = ""                           # why paused
    since: float = 0.0                         # when the current state began
    idle_since: float = 0.0                    # orders available agents: longest idle first
    call_id: str = ""
    misses: int = 0                            # ring timeouts in a row
    pending: str = ""                          # "logout" or "pause:<reason>", applied when the call ends
    wrap_until: float = 0.0
    calls: int = 0
    talk_s: float = 0.0
    times: dict[str, float] = field(default_factory=dict)  # seconds spent in each state since login

    def to_dict(self) -> dict:
        return _to(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Agent":
        agent = _from(cls, data)
        # Lua's cjson writes an empty table as {} whatever it held.
        if not isinstance(agent.queues, list):
            agent.queues = list(agent.queues or [])
        if not isinstance(agent.skills, dict) or not agent.skills:
            agent.skills = dict(agent.skills or {}) if isinstance(agent.skills, dict) else {}
        if not isinstance(agent.times, dict):
            agent.times = {}
        return agent

    def occupancy(self) -> float:
        """Share of staffed time spent on calls (ringing, talking, wrap-up)."""
        busy = sum(self.times.get(s, 0.0) for s in ("ringing", "talking", "wrapup"))
        staffed = busy + self.times.get("available", 0.0)
        return busy / staffed if staffed > 0 else 0.0


@dataclass(slots=True)
class CallRequest:
    """What the engine knows of a caller when it puts them in a queue."""

    call_id: str                 # the Asterisk channel's Uniqueid: the call belongs to it, not to a node
    queue: str                   # center id, e.g. "yanbian"
    skills: list[str] = field(default_factory=list)
    priority: int = 0            # higher is served first; FCFS within a priority
    caller: str = ""
    dialled: str = ""
    center: str = ""
    language: str = "zh"
    channel: str = ""
    flow_path: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Call:
    call_id: str
    queue: str
    skills: list[str] = field(default_factory=list)
    priority: int = 0
    caller: str = ""
    dialled: str = ""
    center: str = ""
    language: str = "zh"
    channel: str = ""
    flow_path: list[str] = field(default_factory=list)
    kind: str = CallKind.CALL
    state: str = CallState.WAITING
    enqueued_at: float = 0.0
    due_at: float = 0.0          # a callback is not routed before this
    agent_id: str = ""
    offer_until: float = 0.0     # an offer not settled by then is taken back (its node died)
    answered_at: float = 0.0
    ended_at: float = 0.0
    node: str = ""               # node that last enqueued or adopted it (informational)
    origin: str = ""             # for a callback: the call that was missed
    attempts: int = 0
    outcome: str = ""
    rings: int = 0               # agents offered so far
    ring_s: float = 0.0          # ring timeout of the current offer
    reaped: int = 0              # offers taken back unsettled: a call nobody owns any more is dropped
    reason: str = ""             # a callback: why its last attempt failed (kept with the task)
    transfer: str = ""           # a transfer request its owner has yet to carry out (JSON: acd.transfers)
    spies: str = ""              # supervisors asked onto the call (JSON list: acd.supervision)

    @property
    def score(self) -> float:
        return queue_score(self.priority, self.enqueued_at)

    def to_dict(self) -> dict:
        return _to(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Call":
        call = _from(cls, data)
        for name in ("skills", "flow_path"):
            if not isinstance(getattr(call, name), list):
                setattr(call, name, [])
        return call

    @classmethod
    def from_request(cls, req: CallRequest, now: float, node: str = "") -> "Call":
        return cls(
            call_id=req.call_id, queue=req.queue, skills=sorted(set(req.skills)),
            priority=int(req.priority), caller=req.caller, dialled=req.dialled,
            center=req.center or req.queue, language=req.language, channel=req.channel,
            flow_path=list(req.flow_path), enqueued_at=now, node=node,
        )


def queue_score(priority: int, enqueued_at: float) -> float:
    """Sort key of a waiting call: higher priority first, then first come first served.

    Kept below 2**53 with millisecond resolution for priorities up to +-99.
    """
    return enqueued_at - priority * 1e10


@dataclass(slots=True)
class Offer:
    """An agent claimed for a call: the engine dials ``dial_string`` for ``ring_timeout_s``."""

    call_id: str
    agent_id: str
    dial_string: str
    ring_timeout_s: float
    kind: str = CallKind.CALL
    caller: str = ""             # for a callback: the number to ring back
    queue: str = ""
    seq: int = 0                 # the call's offer number: a late notice of an older offer is ignored


@dataclass(slots=True)
class EnqueueResult:
    position: int                # 1-based place in the queue
    expected_wait_s: float
    full: bool = False           # the queue holds max_waiting calls: offer a callback
    offer_callback: bool = False # full, or the expected wait exceeds the queue's callback_offer_after_s
