"""What a voice-navigation flow is, once its YAML has been read and checked.

Plain frozen data: the interpreter, the checker, the simulator and the graph
all read the same objects, so what the engineer reviewed is what runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

LANGUAGES = ("zh", "ko")
DTMF = "0123456789*#"
EMERGENCY_NUMBERS = {"110": "police", "119": "fire", "120": "ambulance", "122": "traffic accident"}
MERGE_MODES = {
    "whole": "整体并入: number cancelled, transition notice, call lands in 12345",
    "dual": "双号并行: number kept, transfer both ways",
    "subcenter": "设分中心: the sub-center keeps its seats, 12345 transfers calls to it",
}
MAX_WALK_STEPS = 1000   # nodes one call may pass: the runner ends a longer walk, the checker warns of one

#: Shared prompts (config/prompts.yaml) the engine plays itself, outside any flow.
ENGINE_PROMPTS = {
    "queue_wait": "played between chunks of hold music to callers waiting in a queue",
    "recording_notice": "told once to a caller queued where conversations with agents are recorded",
    "system_fault": "played to a caller the engine has to let go (overload, a fault)",
}


@dataclass(frozen=True, slots=True)
class Prompt:
    id: str
    texts: dict[str, str]          # language -> text read to the caller
    audio: dict[str, str]          # language (or "*") -> recorded sound file, as Asterisk names it
    file: str = ""
    line: int = 0

    def language_for(self, wanted: str) -> str:
        """The language this prompt plays in for a caller who chose ``wanted``."""
        if wanted in self.texts or wanted in self.audio:
            return wanted
        for lang in LANGUAGES:
            if lang in self.texts or lang in self.audio:
                return lang
        return wanted

    def text(self, wanted: str = "zh") -> str:
        return self.texts.get(self.language_for(wanted), "")

    def recorded(self, lang: str) -> str | None:
        return self.audio.get(lang) or self.audio.get("*")

    def sound(self, wanted: str = "zh") -> str:
        """The sound file to hand to Asterisk: the recording, else the generated placeholder."""
        lang = self.language_for(wanted)
        return self.recorded(lang) or placeholder_sound(self.id, lang)


def placeholder_sound(prompt_id: str, lang: str) -> str:
    """Name under which ``ivr prompts`` writes a placeholder (``<out>/<lang>/<id>.wav``)."""
    return f"ivr/{lang}/{prompt_id}"


@dataclass(frozen=True, kw_only=True)
class Node:
    kind: ClassVar[str] = ""
    name: str
    line: int = 0
    col: int = 0
    by_choice: bool = False   # the caller chose to listen here: not counted against the time budget

    def edges(self) -> list[tuple[str, str]]:
        """(label, next node) for every way out of this node."""
        return []


@dataclass(frozen=True, kw_only=True)
class Play(Node):
    kind: ClassVar[str] = "play"
    prompts: tuple[str, ...]
    next: str

    def edges(self):
        return [("", self.next)]


@dataclass(frozen=True, kw_only=True)
class Menu(Node):
    kind: ClassVar[str] = "menu"
    prompts: tuple[str, ...]
    keys: dict[str, str]
    timeout_s: float = 5.0
    tries: int = 2
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    on_failure: str = ""

    def edges(self):
        return [(f"key {k}", v) for k, v in self.keys.items()] + [("no valid key", self.on_failure)]


@dataclass(frozen=True, kw_only=True)
class Collect(Node):
    kind: ClassVar[str] = "collect"
    prompts: tuple[str, ...]
    into: str
    min_digits: int = 1
    max_digits: int = 1
    terminator: str = "#"
    timeout_s: float = 8.0
    pattern: str | None = None
    tries: int = 2
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    next: str = ""
    on_failure: str = ""
    example: str | None = None

    def edges(self):
        return [(f"{self.into} ok", self.next), ("no valid input", self.on_failure)]


@dataclass(frozen=True, slots=True)
class Case:
    conditions: dict[str, object]
    goto: str
    line: int = 0
    text: str = ""      # the condition as the engineer wrote it, for diagrams and traces

    def label(self) -> str:
        return self.text or ", ".join(f"{k}={v}" for k, v in self.conditions.items())


@dataclass(frozen=True, kw_only=True)
class Branch(Node):
    kind: ClassVar[str] = "branch"
    cases: tuple[Case, ...]
    otherwise: str

    def edges(self):
        return [(c.label(), c.goto) for c in self.cases] + [("else", self.otherwise)]


@dataclass(frozen=True, kw_only=True)
class SetVars(Node):
    kind: ClassVar[str] = "set"
    values: dict[str, str]
    next: str

    def edges(self):
        return [("", self.next)]


@dataclass(frozen=True, kw_only=True)
class Enqueue(Node):
    kind: ClassVar[str] = "enqueue"
    queue: str                 # an ACD queue name, or "$center" for the center the call reached
    skills: tuple[str, ...] = ()
    priority: int = 0
    announce: str | None = None
    after_talk: str | None = None   # e.g. the satisfaction survey; None hangs up
    no_agent: str | None = None     # the caller is still on the line but nobody took the call

    def edges(self):
        out = []
        if self.after_talk:
            out.append(("agent hung up", self.after_talk))
        if self.no_agent:
            out.append(("no agent", self.no_agent))
        return out


@dataclass(frozen=True, slots=True)
class Target:
    kind: str   # emergency | hotline | center | number
    ref: str

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True, kw_only=True)
class Transfer(Node):
    kind: ClassVar[str] = "transfer"
    target: Target
    mode: str = "blind"        # blind | announced
    announce: str | None = None
    timeout_s: float = 30.0
    on_fail: str | None = None

    def edges(self):
        return [("not answered", self.on_fail)] if self.on_fail else []


@dataclass(frozen=True, kw_only=True)
class RunFlow(Node):
    kind: ClassVar[str] = "run"
    flow: str
    next: str

    def edges(self):
        return [("returned", self.next)]


@dataclass(frozen=True, kw_only=True)
class Return(Node):
    kind: ClassVar[str] = "return"


@dataclass(frozen=True, kw_only=True)
class Survey(Node):
    kind: ClassVar[str] = "survey"
    prompts: tuple[str, ...]
    scores: dict[str, str]
    timeout_s: float = 5.0
    tries: int = 1
    invalid_prompt: str | None = None
    thanks: str | None = None
    next: str | None = None

    def edges(self):
        return [("rated or not", self.next)] if self.next else []


@dataclass(frozen=True, kw_only=True)
class Hangup(Node):
    kind: ClassVar[str] = "hangup"
    prompts: tuple[str, ...] = ()


NODE_KINDS = {cls.kind: cls for cls in (Play, Menu, Collect, Branch, SetVars, Enqueue, Transfer, RunFlow, Return, Survey, Hangup)}


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    entry: str
    nodes: dict[str, Node]
    prompts: dict[str, Prompt] = field(default_factory=dict)   # the flow's own prompts
    languages: tuple[str, ...] = ("zh",)
    budget_s: float = 15.0
    description: str = ""
    library: "FlowSet | None" = field(default=None, compare=False, repr=False)

    def prompt(self, prompt_id: str) -> Prompt | None:
        if prompt_id in self.prompts:
            return self.prompts[prompt_id]
        return self.library.config.prompts.get(prompt_id) if self.library else None


@dataclass(frozen=True, slots=True)
class Center:
    id: str
    name: str
    level: str
    area_code: str | None
    languages: tuple[str, ...] = ("zh",)
    numbers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hotline:
    """A hotline merged into 12345 (整体并入, 双号并行) or kept as its sub-center (设分中心)."""
    number: str
    name: str
    mode: str
    seats_kept: bool = False
    transfer_to: str | None = None   # where 12345 sends its matters when it keeps seats
    notice: str | None = None        # transition notice prompt for whole merges
    topic: str = ""
    notice_until: dt.date | None = None   # last day of the transition: later calls skip the notice


@dataclass(frozen=True, slots=True)
class AgentSkills:
    """What the checker and the simulator know of one agent of config/acd.yaml: which queues it
    serves and which skills it has, so a queue step nobody could take is seen before a caller waits."""
    id: str
    queues: tuple[str, ...]
    skills: frozenset[str]


@dataclass(frozen=True, slots=True)
class NumberRoute:
    number: str
    flow: str                 # a flow name, or "center" for the flow of the center the call reached
    center: str | None = None
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    centers: dict[str, Center] = field(default_factory=dict)
    area_codes: dict[str, str] = field(default_factory=dict)       # area code -> center id
    center_flows: dict[str, str] = field(default_factory=dict)     # center id -> flow
    default_flow: str = "city"
    default_center: str = "changchun"
    routes: tuple[NumberRoute, ...] = ()
    hotlines: dict[str, Hotline] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)       # shared prompts
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()                   # weekends worked in lieu (调休)
    queues: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset({"zh", "ko", "enterprise", "expert"})
    queues_from: str = "centers"
    prompt_seconds: dict[str, float] = field(default_factory=dict)  # sound name -> seconds
    mobile_places: dict[str, str] = field(default_factory=dict)    # geocoder place name -> center id
    agents: tuple[AgentSkills, ...] | None = None                  # None: acd.yaml not read


@dataclass(frozen=True)
class Route:
    """Which flow answers a call, for which center, with which starting variables."""
    flow: str
    center: str
    vars: dict[str, str]
    matched: bool = True    # False: nothing matched, the default center took the call
    located_by: str = ""    # how the center was chosen: dialled_area_code, area_code, mobile_segment, default, fixed
    place: str = ""         # what the choice went by: the area code, or the mobile segment's place


@dataclass(frozen=True)
class FlowSet:
    """One checked, immutable version of all flows and config: what a call runs on."""
    flows: dict[str, Flow]
    config: Config
    version: str = ""

    def flow(self, name: str) -> Flow:
        return self.flows[name]

    def route(self, dialled: str, caller: str) -> Route:
        from ivr.flows.routing import route_call

        return route_call(self.config, dialled, caller)

    def shared_sound(self, prompt_id: str, lang: str = "zh") -> str:
        """Sound name of a shared prompt for a caller of ``lang``, e.g. ``ivr/ko/queue_wait``: the studio
        recording if config/prompts.yaml names one, else the placeholder ``ivr prompts`` makes.  The
        checker refuses a config without the ``ENGINE_PROMPTS``, so those are always there."""
        prompt = self.config.prompts.get(prompt_id)
        if prompt is None:
            return placeholder_sound(prompt_id, lang if lang in LANGUAGES else LANGUAGES[0])
        return prompt.sound(lang)
