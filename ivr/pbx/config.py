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
from typing import Annotated, Callable, Literal

from pydantic import Field, with_config

from hotline import paths, yamlconf
from hotline.conftypes import FILE, Flag, Seconds, Section, Text, number
from hotline.errors import UserError
from hotline.yamlpos import Doc

from .sounds import SoundCatalogue

NAME = "pbx.yaml"
#: The shipped file (``python -m ivr.pbx --config`` shows it); loading without a path reads the config folder's.
DEFAULT_CONFIG = paths.DEFAULTS / NAME

#: Applications the dialplan model runs.
KNOWN_APPS = {
    "NoOp", "AGI", "Hangup", "Goto", "GotoIf", "Set", "Answer", "Wait", "Ringing", "Busy",
    "Congestion", "Playback", "MusicOnHold",
}

#: ``App(args)``, optionally labelled as in extensions.conf: ``n(retry),AGI(agi:async)``.
_APP = re.compile(r"^\s*(?:(?:n|\d+)\((?P<label>[A-Za-z0-9_-]+)\)\s*,\s*)?(?P<app>[A-Za-z]+)\((?P<data>.*)\)\s*$")


class ConfigError(UserError, ValueError):
    """A PBX config problem; the message names the place (file:line:col or key)."""


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


def build_dialplan(raw: dict[str, dict[str, list[str]]], at: Callable[[tuple], str]) -> dict[str, Context]:
    """Contexts from the checked ``dialplan:`` mapping; ``at(path)`` names the place of a step."""
    plan: dict[str, Context] = {}
    for cname, exts in raw.items():
        ctx = Context(str(cname))
        for ename, steps in exts.items():
            ext = Extension(ename, [parse_step(s, f"{at((cname, ename, i))}: dialplan.{cname}.{ename}")
                                    for i, s in enumerate(steps)])
            if ename.startswith("_"):
                ext.regex = pattern_regex(ename)
                ctx.patterns.append(ext)
            else:
                ctx.exact[ename] = ext
        ctx.patterns.sort(key=lambda e: pattern_order(e.name))
        plan[ctx.name] = ctx
    return plan


#: Contexts every PBX has unless its file defines them: a supervisor's phone for ChanSpy
#: (``Originate Local/9001@supervisor Application=ChanSpy``) answers and stays until hung
#: up, as the captures' ``[supervisor]`` (asterisk-config/xfer-extensions.conf) with a
#: longer Wait, so a sped-up test's spy is not cut after 600 PBX seconds.
BUILTIN_CONTEXTS = build_dialplan(
    {"supervisor": {"_X.": ["NoOp(supervisor ${EXTEN})", "Answer()", "Wait(86400)", "Hangup()"]}},
    lambda path: "built-in")


@with_config(FILE)
@dataclass(slots=True)
class Timing:
    answer_s: Seconds = 0.5
    agi_poll_s: number(0.001, unit="seconds") = 0.1
    dtmf_duration_ms: number(1, whole=True) = 100
    login_fail_s: Seconds = 1.0


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
    ``monitor_dir`` is where a MixMonitor file name without a leading ``/`` goes
    (Asterisk's ``astspooldir``/monitor).  ``media`` says what sends audio, which
    recordings and ChanSpy depend on: ``phones`` (real phones send RTP all the time: an
    answered call carries audio) or ``applications`` (the captures' test stand of Local
    channels: only hold music carries audio; see :mod:`ivr.pbx.monitor`).
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
    monitor_dir: str = "/var/spool/asterisk/monitor"
    media: str = "phones"

    @classmethod
    def load(cls, path: str | pathlib.Path | None = None, **overrides) -> "PbxConfig":
        """Read ``path`` (else pbx.yaml in the config folder); keyword arguments win over the file."""
        path = pathlib.Path(path) if path else paths.config_file(NAME)
        return cls._from_doc(yamlconf.read(path, ConfigError), **overrides)

    @classmethod
    def from_dict(cls, raw: dict, *, where: str = "config", **overrides) -> "PbxConfig":
        """Settings given as data (tests): checked like the file, mistakes named by key."""
        return cls._from_doc(Doc(file=where, data=raw), **overrides)

    @classmethod
    def _from_doc(cls, doc: Doc, **overrides) -> "PbxConfig":
        timing = doc.data.get("timing") if isinstance(doc.data, dict) else None
        for key in _REMOVED_TIMING:
            if isinstance(timing, dict) and key in timing:
                raise yamlconf.fail(doc, ("timing", key), f"timing.{key} is no longer a setting: "
                                    f"{_REMOVED_TIMING[key]}", ConfigError, on_key=True)
        f = yamlconf.validate(_File, doc, error=ConfigError)
        given = f.model_dump(exclude_unset=True, exclude={"timing", "dialplan", "sounds_dir"})
        cfg = cls(**given, timing=f.timing or Timing(), sounds_dir=_sounds_dir(doc, f.sounds_dir),
                  dialplan=build_dialplan(f.dialplan or {}, lambda p: yamlconf.where(doc, ("dialplan",) + p)))
        for name, context in BUILTIN_CONTEXTS.items():     # unless the file has its own
            cfg.dialplan.setdefault(name, context)
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


class _File(Section):
    """What pbx.yaml may set; an absent key keeps PbxConfig's default (host, port, speed, seed are flags)."""
    system_name: Text = None
    username: Text = None
    secret: Text = None
    timing: Timing = None
    prompts: dict[Text, Seconds] = None
    sounds_dir: Text = None
    dialplan: dict[Text, dict[Text, Annotated[list[Text], Field(min_length=1)]]] = None
    raw_caller_id: Flag = None
    test_actions: Flag = None
    one_call_per_agent: Flag = None
    uniqueid_start: number(0, whole=True) = None
    monitor_dir: Text = None
    media: Literal["phones", "applications"] = None


def _sounds_dir(doc: Doc, value: str | None) -> pathlib.Path | None:
    """Relative to the file's folder; a folder that is not there would make every sound missing: a mistake."""
    if value is None:
        return None
    folder = pathlib.Path(value)
    if not folder.is_absolute() and doc.values:
        folder = pathlib.Path(doc.file).resolve().parent / folder
    if not folder.is_dir():
        raise yamlconf.fail(doc, ("sounds_dir",), f"sounds_dir {folder} is not a directory", ConfigError)
    return folder
