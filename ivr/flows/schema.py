"""Turn flow and config YAML into model objects, reporting every shape mistake with its line.

Shape only (keys, types, ranges); whether a referenced node, queue or prompt
exists is the checker's job, because that needs every file at once.  References
are collected here with their positions so the checker can point at them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ivr.flows import model as m
from hotline.problems import WARNING, Problem
from ivr.flows.sounds import name_problem
from hotline.yamlpos import Doc

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Ref:
    """A name used in a file that must exist somewhere: node, prompt, flow, queue, skill, hotline, center."""
    kind: str
    name: str
    path: tuple


@dataclass
class ParsedFlow:
    doc: Doc
    flow: m.Flow | None = None
    declared: set[str] = field(default_factory=set)   # node names, even the broken ones
    refs: list[Ref] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "yes/no"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


class Reader:
    """Typed access to a Doc; every mismatch becomes a Problem and a None."""

    def __init__(self, doc: Doc, problems: list[Problem]):
        self.doc = doc
        self.problems = problems

    def error(self, path, message, *, on_key=False):
        self.problems.append(self.doc.problem(tuple(path), message, on_key=on_key))

    def warning(self, path, message, *, on_key=False):
        self.problems.append(self.doc.problem(tuple(path), message, WARNING, on_key=on_key))

    @staticmethod
    def name(path) -> str:
        for part in reversed(path):
            if isinstance(part, str):
                return part
        return "document"

    def mapping(self, path, value, allowed, required=(), what=None, *, unknown=None) -> dict | None:
        what = what or f"'{self.name(path)}'"
        if not isinstance(value, dict):
            self.error(path, f"{what} must be a mapping of 'key: value' lines, got {_type_name(value)}")
            return None
        for key in value:
            if key not in allowed:
                report = unknown or self.error
                report(tuple(path) + (key,), f"unknown key '{key}' in {what}; expected one of: {', '.join(sorted(allowed))}", on_key=True)
        for key in required:
            if key not in value:
                self.error(path, f"{what} is missing '{key}'")
        return value

    def text(self, path, value, *, allow_empty=False) -> str | None:
        path = tuple(path)
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            self.error(path, f"'{self.name(path)}' must be text, got {_type_name(value)}")
            return None
        if isinstance(value, (int, float, dt.date)):
            value = self.doc.raw.get(path, str(value))  # 0431 stays 0431, 08:30 stays 08:30
        if not allow_empty and not str(value).strip():
            self.error(path, f"'{self.name(path)}' is empty")
            return None
        return str(value)

    def texts(self, path, value) -> tuple[str, ...] | None:
        """One text or a list of texts."""
        path = tuple(path)
        if isinstance(value, list):
            if not value:
                self.error(path, f"'{self.name(path)}' is an empty list")
                return None
            out = [self.text(path + (i,), v) for i, v in enumerate(value)]
            return None if None in out else tuple(out)
        one = self.text(path, value)
        return None if one is None else (one,)

    def number(self, path, value, *, minimum=0.0, integer=False) -> float | int | None:
        path = tuple(path)
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.error(path, f"'{self.name(path)}' must be {kind}, got {_type_name(value)}")
            return None
        if value < minimum:
            self.error(path, f"'{self.name(path)}' must be at least {minimum}, got {value}")
            return None
        return value

    def boolean(self, path, value) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"'{self.name(path)}' must be yes or no, got {_type_name(value)}")
            return None
        return value


# ---------------------------------------------------------------- prompts

PROMPT_KEYS = {"zh", "ko", "audio", "note"}


def parse_prompts(reader: Reader, path, value, file: str) -> dict[str, m.Prompt]:
    out: dict[str, m.Prompt] = {}
    if reader.mapping(path, value, allowed=set(value) if isinstance(value, dict) else set(), what="'prompts'") is None:
        return out
    for pid, spec in value.items():
        ppath = tuple(path) + (pid,)
        if isinstance(spec, str):  # short form: the Chinese text
            spec = {"zh": spec}
        if not isinstance(spec, dict):
            reader.error(ppath, f"prompt '{pid}' must be its Chinese text or a mapping with zh, ko and audio, got {_type_name(spec)}")
            continue
        if reader.mapping(ppath, spec, PROMPT_KEYS, what=f"prompt '{pid}'") is None:
            continue
        texts = {}
        for lang in m.LANGUAGES:
            if lang in spec and spec[lang] is not None:
                t = reader.text(ppath + (lang,), spec[lang], allow_empty=True)
                if t and t.strip():
                    texts[lang] = t.strip()
        audio: dict[str, str] = {}
        if "audio" in spec and spec["audio"] is not None:
            a = spec["audio"]
            if isinstance(a, dict):
                if reader.mapping(ppath + ("audio",), a, set(m.LANGUAGES), what=f"'audio' of prompt '{pid}'") is not None:
                    for lang, f in a.items():
                        t = _sound_name(reader, ppath + ("audio", lang), f)
                        if t and lang in m.LANGUAGES:
                            audio[lang] = t
            else:
                t = _sound_name(reader, ppath + ("audio",), a)
                if t:
                    audio["*"] = t
        unsafe = name_problem(m.placeholder_sound(pid, "zh"))
        if unsafe and (set(texts) - set(audio)) and "*" not in audio:
            reader.error(ppath, f"prompt id '{pid}' names its placeholder sound file: {unsafe}", on_key=True)
        line = reader.doc.key_at(ppath).line
        out[pid] = m.Prompt(id=pid, texts=texts, audio=audio, file=file, line=line)
        if not texts and not audio and spec.get("audio") is None:   # a refused sound name is reported already
            reader.error(ppath, f"prompt '{pid}' has no text and no audio: the caller would hear silence", on_key=True)
    return out


def _sound_name(reader: Reader, path, value) -> str | None:
    """A recording's sound name, refused when Asterisk could not play it (see ivr.flows.sounds)."""
    name = reader.text(path, value)
    if name is None:
        return None
    problem = name_problem(name)
    if problem:
        reader.error(path, problem)
        return None
    return name


# ---------------------------------------------------------------- flows

FLOW_KEYS = {"flow", "description", "entry", "languages", "budget_s", "prompts", "nodes"}
COMMON = {"note", "by_choice"}
NODE_KEYS = {
    "play": {"play", "next"},
    "menu": {"menu", "keys", "timeout_s", "tries", "invalid_prompt", "timeout_prompt", "on_failure"},
    "collect": {"collect", "into", "min_digits", "max_digits", "terminator", "timeout_s", "pattern", "tries",
                "invalid_prompt", "timeout_prompt", "next", "on_failure", "example"},
    "branch": {"branch"},
    "set": {"set", "next"},
    "enqueue": {"enqueue", "skills", "priority", "announce", "after_talk", "no_agent"},
    "transfer": {"transfer", "mode", "announce", "timeout_s", "on_fail"},
    "run": {"run", "next"},
    "return": {"return"},
    "survey": {"survey", "scores", "timeout_s", "tries", "invalid_prompt", "thanks", "next"},
    "hangup": {"hangup"},
}
REQUIRED = {
    "play": ("next",), "menu": ("keys", "on_failure"), "collect": ("into", "max_digits", "next", "on_failure"),
    "set": ("next",), "run": ("next",), "survey": ("scores",),
}
CONDITION_KEYS = {"caller_prefix", "caller_area", "dialled", "center", "language", "var", "time", "weekday",
                  "holiday", "workday", "notice_due"}


class _FlowParser:
    def __init__(self, parsed: ParsedFlow):
        self.p = parsed
        self.r = Reader(parsed.doc, parsed.problems)

    def ref(self, kind, name, path):
        if name is not None:
            self.p.refs.append(Ref(kind, name, tuple(path)))

    def node_ref(self, spec, key, path, *, required=False) -> str | None:
        if key not in spec or spec[key] is None:
            if required:
                self.r.error(path, f"node '{path[-1]}' is missing '{key}'")
            return None
        name = self.r.text(tuple(path) + (key,), spec[key])
        self.ref("node", name, tuple(path) + (key,))
        return name

    def prompt_refs(self, spec, key, path) -> tuple[str, ...]:
        if key not in spec or spec[key] is None:
            return ()
        ids = self.r.texts(tuple(path) + (key,), spec[key]) or ()
        v = spec[key]
        for i, pid in enumerate(ids):
            self.ref("prompt", pid, tuple(path) + ((key, i) if isinstance(v, list) else (key,)))
        return ids

    def prompt_ref(self, spec, key, path) -> str | None:
        if key not in spec or spec[key] is None:
            return None
        pid = self.r.text(tuple(path) + (key,), spec[key])
        self.ref("prompt", pid, tuple(path) + (key,))
        return pid

    def num(self, spec, key, path, default, *, minimum=0.0, integer=False):
        if key not in spec:
            return default
        v = self.r.number(tuple(path) + (key,), spec[key], minimum=minimum, integer=integer)
        return default if v is None else v

    def parse(self) -> None:
        doc = self.p.doc
        data = doc.data
        if self.r.mapping((), data, FLOW_KEYS, required=("flow", "entry", "nodes"), what="the flow file") is None:
            return
        name = self.r.text(("flow",), data["flow"]) if "flow" in data else None
        entry = self.r.text(("entry",), data["entry"]) if "entry" in data else None
        if entry:
            self.ref("node", entry, ("entry",))
        languages = ("zh",)
        if "languages" in data:
            langs = self.r.texts(("languages",), data["languages"]) or ("zh",)
            for i, lang in enumerate(langs):
                if lang not in m.LANGUAGES:
                    self.r.error(("languages", i) if isinstance(data["languages"], list) else ("languages",),
                                 f"unknown language '{lang}'; known: {', '.join(m.LANGUAGES)}")
            languages = tuple(l for l in langs if l in m.LANGUAGES) or ("zh",)
        budget = self.num(data, "budget_s", (), 15.0, minimum=1)
        description = self.r.text(("description",), data["description"]) if data.get("description") else ""
        prompts = parse_prompts(self.r, ("prompts",), data["prompts"], doc.file) if data.get("prompts") is not None else {}
        nodes: dict[str, m.Node] = {}
        raw_nodes = data.get("nodes")
        if "nodes" in data and self.r.mapping(("nodes",), raw_nodes, set(raw_nodes) if isinstance(raw_nodes, dict) else set(), what="'nodes'") is not None:
            if not raw_nodes:
                self.r.error(("nodes",), "'nodes' is empty: a flow needs at least one node")
            for node_name, spec in raw_nodes.items():
                self.p.declared.add(node_name)
                node = self.node(node_name, spec, ("nodes", node_name))
                if node is not None:
                    nodes[node_name] = node
        if name and entry and raw_nodes is not None:
            self.p.flow = m.Flow(name=name, file=doc.file, entry=entry, nodes=nodes, prompts=prompts,
                                 languages=languages, budget_s=float(budget), description=description or "")

    def node(self, node_name, spec, path) -> m.Node | None:
        r = self.r
        if not isinstance(spec, dict):
            r.error(path, f"node '{node_name}' must be a mapping such as 'play: welcome', got {_type_name(spec)}")
            return None
        kinds = [k for k in spec if k in NODE_KEYS]
        if not kinds:
            r.error(path, f"node '{node_name}' has no kind: give one of {', '.join(NODE_KEYS)}", on_key=True)
            return None
        if len(kinds) > 1:
            r.error(path + (kinds[1],), f"node '{node_name}' has two kinds, '{kinds[0]}' and '{kinds[1]}'", on_key=True)
            return None
        kind = kinds[0]
        r.mapping(path, spec, NODE_KEYS[kind] | COMMON, what=f"{kind} node '{node_name}'")
        missing = [k for k in REQUIRED.get(kind, ()) if k not in spec]
        for key in missing:
            r.error(path, f"{kind} node '{node_name}' is missing '{key}'", on_key=True)
        if missing:
            # still record what it refers to, so one mistake gives one message
            for key in ("next", "on_failure", "on_fail", "after_talk", "no_agent"):
                if key in spec:
                    self.node_ref(spec, key, path)
            return None
        pos = r.doc.key_at(path)
        base = dict(name=node_name, line=pos.line, col=pos.col)
        if "by_choice" in spec:
            base["by_choice"] = bool(r.boolean(tuple(path) + ("by_choice",), spec["by_choice"]))
        try:
            return getattr(self, "k_" + kind)(spec, path, base)
        except _Broken:
            return None

    # --- one method per kind; raise _Broken when a required part is unusable

    def k_play(self, spec, path, base):
        prompts = self.prompt_refs(spec, "play", path)
        nxt = self.node_ref(spec, "next", path, required=True)
        if not prompts or nxt is None:
            raise _Broken
        return m.Play(prompts=prompts, next=nxt, **base)

    def _keys(self, spec, key, path, what) -> dict[str, str]:
        raw = spec.get(key)
        kpath = tuple(path) + (key,)
        if self.r.mapping(kpath, raw, set(raw) if isinstance(raw, dict) else set(), what=f"'{key}'") is None:
            raise _Broken
        if not raw:
            self.r.error(kpath, f"'{key}' is empty")
            raise _Broken
        out = {}
        for digit, target in raw.items():
            if len(digit) != 1 or digit not in m.DTMF:
                self.r.error(kpath + (digit,), f"key '{digit}' is not a phone key (0-9, * or #)", on_key=True)
                continue
            out[digit] = self.r.text(kpath + (digit,), target)
            if what == "node":
                self.ref("node", out[digit], kpath + (digit,))
        return out

    def k_menu(self, spec, path, base):
        prompts = self.prompt_refs(spec, "menu", path)
        keys = self._keys(spec, "keys", path, "node")
        on_failure = self.node_ref(spec, "on_failure", path, required=True)
        node = m.Menu(
            prompts=prompts, keys=keys,
            timeout_s=self.num(spec, "timeout_s", path, 5.0, minimum=1),
            tries=self.num(spec, "tries", path, 2, minimum=1, integer=True),
            invalid_prompt=self.prompt_ref(spec, "invalid_prompt", path),
            timeout_prompt=self.prompt_ref(spec, "timeout_prompt", path),
            on_failure=on_failure or "", **base)
        if not prompts or None in keys.values() or on_failure is None:
            raise _Broken
        return node

    def k_collect(self, spec, path, base):
        r = self.r
        prompts = self.prompt_refs(spec, "collect", path)
        into = r.text(tuple(path) + ("into",), spec["into"])
        mn = self.num(spec, "min_digits", path, 1, minimum=1, integer=True)
        mx = self.num(spec, "max_digits", path, 1, minimum=1, integer=True)
        if mn > mx:
            r.error(tuple(path) + ("min_digits",), f"'min_digits' {mn} is more than 'max_digits' {mx}")
        term = spec.get("terminator", "#")
        term = r.text(tuple(path) + ("terminator",), term) if "terminator" in spec else term
        if term is not None and (len(term) != 1 or term not in "*#"):
            r.error(tuple(path) + ("terminator",), f"'terminator' must be '#' or '*', got '{term}'")
        pattern = None
        if spec.get("pattern") is not None:
            pattern = r.text(tuple(path) + ("pattern",), spec["pattern"])
            try:
                re.compile(pattern or "")
            except re.error as exc:
                r.error(tuple(path) + ("pattern",), f"'pattern' is not a valid regular expression: {exc}")
                pattern = None
        example = r.text(tuple(path) + ("example",), spec["example"]) if spec.get("example") is not None else None
        nxt = self.node_ref(spec, "next", path, required=True)
        fail = self.node_ref(spec, "on_failure", path, required=True)
        node = m.Collect(
            prompts=prompts, into=into or "", min_digits=mn, max_digits=mx, terminator=term or "#",
            timeout_s=self.num(spec, "timeout_s", path, 8.0, minimum=1), pattern=pattern,
            tries=self.num(spec, "tries", path, 2, minimum=1, integer=True),
            invalid_prompt=self.prompt_ref(spec, "invalid_prompt", path),
            timeout_prompt=self.prompt_ref(spec, "timeout_prompt", path),
            next=nxt or "", on_failure=fail or "", example=example, **base)
        if example is not None and not _digits_ok(node, example):
            r.error(tuple(path) + ("example",), f"'example' {example} does not satisfy this node's length or pattern")
        if not prompts or not into or nxt is None or fail is None:
            raise _Broken
        return node

    def k_branch(self, spec, path, base):
        r = self.r
        bpath = tuple(path) + ("branch",)
        cases_raw = spec["branch"]
        if not isinstance(cases_raw, list) or not cases_raw:
            r.error(bpath, f"'branch' must be a list of '- if: ... goto: node' cases ending with '- else: node', got {_type_name(cases_raw)}")
            raise _Broken
        cases, otherwise, broken = [], None, False
        for i, case in enumerate(cases_raw):
            cpath = bpath + (i,)
            if isinstance(case, dict) and "else" in case:
                r.mapping(cpath, case, {"else"}, what="the 'else' case")
                if i != len(cases_raw) - 1:
                    r.error(cpath, "'else' must be the last case of a branch: the cases after it never run")
                otherwise = self.node_ref(case, "else", cpath)
                continue
            if r.mapping(cpath, case, {"if", "goto"}, required=("if", "goto"), what="a branch case") is None or "if" not in case or "goto" not in case:
                broken = True
                continue
            conds = self.conditions(case["if"], cpath + ("if",))
            goto = self.node_ref(case, "goto", cpath)
            if conds is None or goto is None:
                broken = True
                continue
            text = ", ".join(f"{k}={_show(v)}" for k, v in case["if"].items())
            cases.append(m.Case(conditions=conds, goto=goto, line=r.doc.at(cpath).line, text=text))
        if otherwise is None:
            r.error(bpath, "a branch needs a last case '- else: node' so that every call goes somewhere", on_key=True)
            raise _Broken
        if broken:
            raise _Broken
        return m.Branch(cases=tuple(cases), otherwise=otherwise, **base)

    def conditions(self, raw, path) -> dict | None:
        r = self.r
        if r.mapping(path, raw, CONDITION_KEYS, what="a condition") is None:
            return None
        if not raw:
            r.error(path, "empty condition: use '- else: node' for the default")
            return None
        out: dict[str, Any] = {}
        ok = True
        for key, value in raw.items():
            p = tuple(path) + (key,)
            if key in ("caller_prefix", "caller_area", "dialled", "center", "language"):
                vals = r.texts(p, value)
                if vals is None:
                    ok = False
                    continue
                if key == "center":
                    for i, v in enumerate(vals):
                        self.ref("center", v, p + ((i,) if isinstance(value, list) else ()))
                out[key] = vals
            elif key == "var":
                if r.mapping(p, value, set(value) if isinstance(value, dict) else set(), what="'var'") is None:
                    ok = False
                    continue
                vs = {}
                for var, want in value.items():
                    vals = r.texts(p + (var,), want)
                    if vals is None:
                        ok = False
                    else:
                        vs[var] = vals
                out[key] = vs
            elif key == "time":
                span = r.text(p, value)
                parsed = parse_time_span(span) if span else None
                if parsed is None:
                    if span:
                        r.error(p, f"'time' must look like 08:30-17:00, got '{span}'")
                    ok = False
                    continue
                out[key] = parsed
            elif key == "weekday":
                days = parse_weekdays(value)
                if days is None:
                    r.error(p, f"'weekday' must be days such as mon-fri or [sat, sun], got {_type_name(value)}")
                    ok = False
                    continue
                out[key] = days
            elif key in ("holiday", "workday", "notice_due"):
                b = r.boolean(p, value)
                if b is None:
                    ok = False
                    continue
                out[key] = b
        return out if ok else None

    def k_set(self, spec, path, base):
        raw = spec["set"]
        spath = tuple(path) + ("set",)
        if self.r.mapping(spath, raw, set(raw) if isinstance(raw, dict) else set(), what="'set'") is None or not raw:
            if raw == {}:
                self.r.error(spath, "'set' is empty")
            raise _Broken
        values = {}
        for var, value in raw.items():
            t = self.r.text(spath + (var,), value, allow_empty=True)
            if t is None:
                raise _Broken
            if var == "language" and t not in m.LANGUAGES:
                self.r.error(spath + (var,), f"language '{t}' is not one of {', '.join(m.LANGUAGES)}")
            values[var] = t
        nxt = self.node_ref(spec, "next", path, required=True)
        if nxt is None:
            raise _Broken
        return m.SetVars(values=values, next=nxt, **base)

    def k_enqueue(self, spec, path, base):
        r = self.r
        queue = r.text(tuple(path) + ("enqueue",), spec["enqueue"])
        self.ref("queue", queue, tuple(path) + ("enqueue",))
        skills: tuple[str, ...] = ()
        if spec.get("skills") is not None:
            skills = r.texts(tuple(path) + ("skills",), spec["skills"]) or ()
            for i, s in enumerate(skills):
                self.ref("skill", s, tuple(path) + (("skills", i) if isinstance(spec["skills"], list) else ("skills",)))
        node = m.Enqueue(
            queue=queue or "", skills=skills,
            priority=self.num(spec, "priority", path, 0, minimum=0, integer=True),
            announce=self.prompt_ref(spec, "announce", path),
            after_talk=self.node_ref(spec, "after_talk", path),
            no_agent=self.node_ref(spec, "no_agent", path), **base)
        if not queue:
            raise _Broken
        return node

    def k_transfer(self, spec, path, base):
        r = self.r
        tpath = tuple(path) + ("transfer",)
        raw = spec["transfer"]
        target = None
        if isinstance(raw, dict):
            kinds = ("emergency", "hotline", "center", "number")
            if r.mapping(tpath, raw, set(kinds), what="'transfer'") is not None:
                given = [k for k in kinds if k in raw]
                if len(given) != 1:
                    r.error(tpath, "'transfer' needs exactly one of: emergency, hotline, center, number")
                else:
                    k = given[0]
                    ref = r.text(tpath + (k,), raw[k])
                    if ref is not None:
                        target = m.Target(k, ref)
                        if k == "emergency" and ref not in m.EMERGENCY_NUMBERS:
                            r.error(tpath + (k,), f"emergency line '{ref}' is not one of {', '.join(m.EMERGENCY_NUMBERS)}")
                        elif k in ("hotline", "center"):
                            self.ref(k, ref, tpath + (k,))
                        elif k == "number" and not re.fullmatch(r"\+?[0-9]{3,20}", ref):
                            r.error(tpath + (k,), f"'{ref}' is not a phone number")
        else:
            ref = r.text(tpath, raw)
            if ref is not None:
                r.error(tpath, f"say what '{ref}' is: 'transfer: {{emergency: 110}}', '{{hotline: 12366}}', '{{center: province}}' or '{{number: ...}}'")
        mode = spec.get("mode", "blind")
        if mode not in ("blind", "announced"):
            r.error(tuple(path) + ("mode",), f"'mode' must be blind or announced, got {_type_name(mode)}")
            mode = "blind"
        announce = self.prompt_ref(spec, "announce", path)
        if mode == "announced" and not announce:
            r.error(path, f"transfer node '{path[-1]}' is announced but has no 'announce' prompt", on_key=True)
        node = m.Transfer(target=target or m.Target("number", ""), mode=mode, announce=announce,
                          timeout_s=self.num(spec, "timeout_s", path, 30.0, minimum=1),
                          on_fail=self.node_ref(spec, "on_fail", path), **base)
        if target is None:
            raise _Broken
        return node

    def k_run(self, spec, path, base):
        name = self.r.text(tuple(path) + ("run",), spec["run"])
        self.ref("flow", name, tuple(path) + ("run",))
        nxt = self.node_ref(spec, "next", path, required=True)
        if name is None or nxt is None:
            raise _Broken
        return m.RunFlow(flow=name, next=nxt, **base)

    def k_return(self, spec, path, base):
        return m.Return(**base)

    def k_survey(self, spec, path, base):
        prompts = self.prompt_refs(spec, "survey", path)
        scores = self._keys(spec, "scores", path, "score")
        node = m.Survey(prompts=prompts, scores=scores,
                        timeout_s=self.num(spec, "timeout_s", path, 5.0, minimum=1),
                        tries=self.num(spec, "tries", path, 1, minimum=1, integer=True),
                        invalid_prompt=self.prompt_ref(spec, "invalid_prompt", path),
                        thanks=self.prompt_ref(spec, "thanks", path),
                        next=self.node_ref(spec, "next", path), **base)
        if not prompts or None in scores.values():
            raise _Broken
        return node

    def k_hangup(self, spec, path, base):
        return m.Hangup(prompts=self.prompt_refs(spec, "hangup", path), **base)


class _Broken(Exception):
    pass


def _show(v) -> str:
    if isinstance(v, list):
        return "/".join(str(x) for x in v)
    if isinstance(v, dict):
        return ",".join(f"{k}={_show(x)}" for k, x in v.items())
    return str(v)


def _digits_ok(node: m.Collect, digits: str) -> bool:
    from ivr.flows.steps import digits_valid

    return digits_valid(node, digits)


def parse_time_span(span: str) -> tuple[int, int] | None:
    """'08:30-17:00' -> minutes (510, 1020); the end may be before the start (over midnight)."""
    parts = span.replace(" ", "").split("-")
    if len(parts) != 2:
        return None
    out = []
    for part in parts:
        mt = _TIME.match(part)
        if not mt:
            return None
        minutes = int(mt.group(1)) * 60 + int(mt.group(2))
        if minutes > 24 * 60:
            return None
        out.append(minutes)
    return (out[0], out[1])


def parse_weekdays(value) -> tuple[int, ...] | None:
    items = value if isinstance(value, list) else [value]
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            return None
        item = item.strip().lower()
        if "-" in item:
            a, _, b = item.partition("-")
            if a not in WEEKDAYS or b not in WEEKDAYS:
                return None
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            days.update(range(i, j + 1) if i <= j else list(range(i, 7)) + list(range(0, j + 1)))
        elif item in WEEKDAYS:
            days.add(WEEKDAYS.index(item))
        else:
            return None
    return tuple(sorted(days))


def parse_flow(doc: Doc) -> ParsedFlow:
    parsed = ParsedFlow(doc=doc, problems=list(doc.problems))
    if doc.data is None and not doc.problems:
        parsed.problems.append(Problem(doc.file, 1, 1, "empty file: a flow needs 'flow', 'entry' and 'nodes'"))
    if doc.data is not None:
        _FlowParser(parsed).parse()
    return parsed
