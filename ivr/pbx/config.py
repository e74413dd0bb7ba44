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

from .sounds import SoundCatalogue

DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[2] / "config" / "pbx.yaml"

#: Applications the dialplan model runs.
KNOWN_APPS = {
    "NoOp", "AGI", "Hangup", "Goto", "GotoIf", "Set", "Answer", "Wait", "Ringing", "Busy",
    "Congestion", "Playback", "MusicOnHold",
}

#: ``App(args)``, optionally labelled as in extensions.conf: ``n(retry),AGI(agi:async)``.
_APP = re.compile(r"^\s*(?:(?:n|\d+)\((?P<label>[A-Za-z0-9_-]+)\)\s*,\s*)?(?P<app>[A-Za-z]+)\((?P<data>.*)\)\s*$")


class ConfigError(ValueError):
    """A PBX config problem; the message names the place (file:line or key)."""


@dataclass(slots=True, frozen=True)
class Step:
    app: str
    data: str
    label: str = ""


@dataclass(slots=True)
class Extension:
    name: str                 # "12345" or "_0431X."
    steps: list[Step]
    regex: re.Pattern[str] | None = None   # set for patterns

    def label(self, name: str) -> int | None:
        """The priority carrying label ``name`` (``n(name),App()``), if any."""
        for i, step in enumerate(self.steps, 1):
            if step.label == name:
                return i
        return None


@dataclass(slots=True)
class Context:
    name: str
    exact: dict[str, Extension] = field(default_factory=dict)
    patterns: list[Extension] = field(default_factory=list)

    def find(self, exten: str) -> Extension | None:
        """Exact match first, then the most specific matching pattern (``patterns`` is kept
        in Asterisk's order, see :func:`pattern_order`)."""
        ext = self.exact.get(exten)
        if ext is not None:
            return ext
        for pat in self.patterns:
            if pat.regex.fullmatch(exten):
                return pat
        return None


def pattern_order(pattern: str) -> tuple:
    """Sort key of an ``_`` pattern as ``ext_cmp`` orders them: position by position, the
    element matching fewer characters first (a digit before ``N`` before ``X``; ``.`` and
    ``!`` last), so ``_0X.`` is tried before ``_X.`` whatever the order in the file."""
    key = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i]
        if c in "Xx":
            key.append((10, "0"))
        elif c in "Nn":
            key.append((8, "2"))
        elif c in "Zz":
            key.append((9, "1"))
        elif c == ".":
            key.append((10_000, ""))
        elif c == "!":
            key.append((10_001, ""))
        elif c == "[":
            j = body.find("]", i)
            inner = body[i + 1 : j if j > 0 else len(body)]
            chars = set()
            k = 0
            while k < len(inner):
                if k + 2 < len(inner) and inner[k + 1] == "-":
                    chars.update(chr(x) for x in range(ord(inner[k]), ord(inner[k + 2]) + 1))
                    k += 3
                else:
                    chars.add(inner[k])
                    k += 1
            key.append((len(chars), min(chars) if chars else ""))
            i = j if j > 0 else len(body)
        else:
            key.append((1, c))
        i += 1
    return tuple(key)


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
    app, data = m.group("app"), m.group("data")
    if app not in KNOWN_APPS:
        raise ConfigError(f"{where}: application {app!r} is not modelled (known: {', '.join(sorted(KNOWN_APPS))})")
    if app == "GotoIf" and "?" not in data:
        raise ConfigError(f"{where}: GotoIf({data}) needs condition?label1[:label2]")
    if app == "Set" and "=" not in data:
        raise ConfigError(f"{where}: Set({data}) needs VARIABLE=value")
    return Step(app, data, m.group("label") or "")


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
        ctx.patterns.sort(key=lambda e: pattern_order(e.name))
        plan[ctx.name] = ctx
    return plan


@dataclass(slots=True)
class Timing:
    answer_s: float = 0.5
    agi_poll_s: float = 0.1
    dtmf_duration_ms: int = 100
    login_fail_s: float = 1.0


_REMOVED_TIMING = {
    "default_prompt_s": "a sound that is neither in prompts: nor in sounds_dir is missing, as on a real Asterisk",
}


@dataclass(slots=True)
class PbxConfig:
    """Everything a :class:`~ivr.pbx.core.Pbx` needs.

    ``speed`` divides every duration (prompts, rings, talk, AGI poll, ANSWER):
    20 runs a call twenty times faster than a real Asterisk would.

    ``prompts`` and ``sounds_dir`` say which sounds are installed (see
    :mod:`ivr.pbx.sounds`).  ``raw_caller_id`` lets CR/LF in a scripted caller's
    id reach the wire unchanged, as an Asterisk that does not clean caller ids
    would send them (tests only).  ``test_actions`` enables the ``PbxTest`` AMI
    action (fault injection, see :mod:`ivr.pbx.faults`).  ``uniqueid_start`` is
    the first value of the Uniqueid counter (Asterisk's starts at 0 in every
    process; give a restarted PBX a higher one so two lives never share an id).
    ``one_call_per_agent`` makes an agent's phone (the agents table, ``agents*`` contexts)
    take one call at a time: a Dial to it while it rings or talks is BUSY, as a
    call-center phone with call waiting off answers.
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
    sounds_dir: pathlib.Path | None = None
    dialplan: dict[str, Context] = field(default_factory=dict)
    raw_caller_id: bool = False
    test_actions: bool = False
    uniqueid_start: int = 0
    one_call_per_agent: bool = False

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
            if key in _REMOVED_TIMING:
                raise ConfigError(f"{where}: timing.{key} is no longer a setting: {_REMOVED_TIMING[key]}")
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
        sounds_dir = raw.get("sounds_dir")
        if sounds_dir is not None:
            sounds_dir = pathlib.Path(str(sounds_dir))
            if not sounds_dir.is_absolute() and where != "config":
                sounds_dir = pathlib.Path(where).resolve().parent / sounds_dir
            if not sounds_dir.is_dir():     # every sound would be missing: surely a mistake
                raise ConfigError(f"{where}: sounds_dir {sounds_dir} is not a directory")
        flags = {}
        for key in ("raw_caller_id", "test_actions", "one_call_per_agent"):
            value = raw.get(key, False)
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key}={value!r} is not true or false")
            flags[key] = value
        try:
            uniqueid_start = int(raw.get("uniqueid_start", 0))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: uniqueid_start={raw.get('uniqueid_start')!r} is not a whole number") from None
        cfg = cls(
            username=str(raw.get("username", "hotline")),
            secret=str(raw.get("secret", "")),
            system_name=str(raw.get("system_name", "pbx1")),
            timing=timing,
            prompts=prompts,
            sounds_dir=sounds_dir,
            dialplan=build_dialplan(raw.get("dialplan") or {}, f"{where}: dialplan"),
            uniqueid_start=uniqueid_start,
            **flags,
        )
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise ConfigError(f"PbxConfig has no setting {key!r}")
            setattr(cfg, key, value)
        if cfg.sounds_dir is not None:
            cfg.sounds_dir = pathlib.Path(cfg.sounds_dir)
        return cfg

    def sounds(self) -> SoundCatalogue:
        """The installed sounds: this config's ``prompts`` table (live) and ``sounds_dir``."""
        return SoundCatalogue(self.prompts, self.sounds_dir)
