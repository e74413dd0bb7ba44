"""Settings and dialplan of the built-in PBX.

The dialplan is a tiny model of ``extensions.conf``: contexts hold extensions
(exact numbers or ``_`` patterns) whose priorities are ``App(args)`` strings.
Only the applications the recorded Asterisk ran are understood; the rest is a
config error, reported with the file and line, because a silently ignored step
would make the PBX disagree with the real one.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

import yaml

DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[2] / "config" / "pbx.yaml"

#: Applications the dialplan model runs.
KNOWN_APPS = {
    "NoOp", "AGI", "Hangup", "Goto", "Answer", "Wait", "Ringing", "Busy", "Congestion",
    "Playback", "MusicOnHold",
}

_APP = re.compile(r"^\s*([A-Za-z]+)\((.*)\)\s*$")


class ConfigError(ValueError):
    """A PBX config problem; the message names the place (file:line or key)."""


@dataclass(slots=True, frozen=True)
class Step:
    app: str
    data: str


@dataclass(slots=True)
class Extension:
    name: str                 # "12345" or "_0431X."
    steps: list[Step]
    regex: re.Pattern[str] | None = None   # set for patterns


@dataclass(slots=True)
class Context:
    name: str
    exact: dict[str, Extension] = field(default_factory=dict)
    patterns: list[Extension] = field(default_factory=list)

    def find(self, exten: str) -> Extension | None:
        """Exact match first, then the first matching pattern (Asterisk sorts patterns
        by specificity; the configs here never overlap, so order of definition is enough)."""
        ext = self.exact.get(exten)
        if ext is not None:
            return ext
        for pat in self.patterns:
            if pat.regex.fullmatch(exten):
                return pat
        return None


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Turn an Asterisk ``_`` pattern into a regex: X N Z . ! and [sets]."""
    out = []
    i = 0
    body = pattern[1:]
    while i < len(body):
        c = body[i]
        if c in "Xx":
            out.append("[0-9]")
        elif c in "Nn":
            out.append("[2-9]")
        elif c in "Zz":
            out.append("[1-9]")
        elif c == ".":
            out.append(".+")
        elif c == "!":
            out.append(".*")
        elif c == "[":
            j = body.find("]", i)
            if j < 0:
                raise ConfigError(f"pattern {pattern!r}: '[' without ']'")
            out.append("[" + body[i + 1 : j] + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def parse_step(text: str, where: str) -> Step:
    m = _APP.match(str(text))
    if not m:
        raise ConfigError(f"{where}: {text!r} is not App(args)")
    app, data = m.group(1), m.group(2)
    if app not in KNOWN_APPS:
        raise ConfigError(f"{where}: application {app!r} is not modelled (known: {', '.join(sorted(KNOWN_APPS))})")
    return Step(app, data)


def build_dialplan(raw: dict, where: str = "dialplan") -> dict[str, Context]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of contexts")
    plan: dict[str, Context] = {}
    for cname, exts in raw.items():
        if not isinstance(exts, dict):
            raise ConfigError(f"{where}.{cname}: expected a mapping of extensions")
        ctx = Context(str(cname))
        for ename, steps in exts.items():
            ename = str(ename)
            loc = f"{where}.{cname}.{ename}"
            if not isinstance(steps, list) or not steps:
                raise ConfigError(f"{loc}: expected a non-empty list of App(args)")
            ext = Extension(ename, [parse_step(s, loc) for s in steps])
            if ename.startswith("_"):
                ext.regex = pattern_regex(ename)
                ctx.patterns.append(ext)
            else:
                ctx.exact[ename] = ext
        plan[ctx.name] = ctx
    return plan


@dataclass(slots=True)
class Timing:
    answer_s: float = 0.5
    agi_poll_s: float = 0.1
    dtmf_duration_ms: int = 100
    login_fail_s: float = 1.0
    default_prompt_s: float = 2.0


@dataclass(slots=True)
class PbxConfig:
    """Everything a :class:`~ivr.pbx.core.Pbx` needs.

    ``speed`` divides every duration (prompts, rings, talk, AGI poll, ANSWER):
    20 runs a call twenty times faster than a real Asterisk would.
    """

    host: str = "127.0.0.1"
    port: int = 0
    username: str = "hotline"
    secret: str = ""
    system_name: str = "pbx1"
    speed: float = 1.0
    seed: int = 0
    timing: Timing = field(default_factory=Timing)
    prompts: dict[str, float] = field(default_factory=dict)
    dialplan: dict[str, Context] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | pathlib.Path = DEFAULT_CONFIG, **overrides) -> "PbxConfig":
        """Read ``config/pbx.yaml``; keyword arguments win over the file."""
        path = pathlib.Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{path}{line}: {problem}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}:1: expected a mapping at the top level")
        return cls.from_dict(raw, where=str(path), **overrides)

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config", **overrides) -> "PbxConfig":
        timing = Timing()
        for key, value in (raw.get("timing") or {}).items():
            if not hasattr(timing, key):
                raise ConfigError(f"{where}: timing.{key} is not a known setting")
            try:
                setattr(timing, key, type(getattr(timing, key))(value))
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: timing.{key}={value!r} is not a number") from None
        prompts: dict[str, float] = {}
        for name, secs in (raw.get("prompts") or {}).items():
            try:
                prompts[str(name)] = float(secs)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: prompts.{name}={secs!r} is not a number of seconds") from None
        cfg = cls(
            username=str(raw.get("username", "hotline")),
            secret=str(raw.get("secret", "")),
            system_name=str(raw.get("system_name", "pbx1")),
            timing=timing,
            prompts=prompts,
            dialplan=build_dialplan(raw.get("dialplan") or {}, f"{where}: dialplan"),
        )
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise ConfigError(f"PbxConfig has no setting {key!r}")
            setattr(cfg, key, value)
        return cfg

    def prompt_seconds(self, name: str) -> float:
        return self.prompts.get(name, self.timing.default_prompt_s)
