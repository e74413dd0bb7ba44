"""config/acd.yaml: queues, agents, skills, overflow, callbacks, Redis.

The dataclasses below are the file's schema as well as the settings the ACD
reads; :mod:`hotline.yamlconf` checks the file against them, so a mistake is
``acd.yaml:LINE:COL: what is wrong`` at the value itself (ConfigError), because
the people who edit it staff a hotline, not a Python prompt.  What a schema
cannot say (a skill or queue named but not defined, an id used twice) is
checked after, at the spot of the name.
"""

from __future__ import annotations

import os
import pathlib
import re
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainValidator, with_config

from acd import phone
from acd.db.settings import RecordsConfig
from acd.model import Agent
from hotline import paths, yamlconf
from hotline.conftypes import FILE, Flag, Port, Seconds, Section, Text, Texts, number, said, wanted
from hotline.errors import UserError

NAME = "acd.yaml"
CENTERS = ("province", "changchun", "jilin", "yanbian", "siping", "tonghua", "baicheng",
           "liaoyuan", "songyuan", "baishan", "meihekou", "changbaishan")
Routing = Literal["longest_idle", "skill_level"]
ROUTING_POLICIES = typing.get_args(Routing)
PASSWORD_ENV = "HOTLINE_REDIS_PASSWORD"
Count = number(1, whole=True)


class ConfigError(UserError):
    """A mistake in the ACD configuration, already phrased as ``file:line:col: message``."""


@with_config(FILE)
@dataclass(slots=True)
class Escalation:
    after_s: Seconds
    drop_skills: Texts = field(default_factory=list)   # "*" drops every required skill
    overflow: Texts = field(default_factory=list)      # queues whose agents may take the call


@with_config(FILE)
@dataclass(slots=True)
class QueueConfig:
    id: Text
    name: Text = ""
    ring_timeout_s: Seconds = 15.0
    max_misses: Count = 3
    wrapup_s: Seconds = 10.0
    routing: Routing = "longest_idle"
    max_waiting: Count = 200
    callback_offer_after_s: Seconds = 120.0
    announce_every_s: Seconds = 30.0
    aht_s: Seconds = 240.0        # average handle time used for expected wait until measured
    escalation: list[Escalation] = field(default_factory=list)
    max_wrapup_s: Seconds = 300.0  # wrap-up extended by the agent (acd agent wrapup-extend) ends by then at the latest
    code: Text = ""               # 1 or 2 digits an agent keys to transfer a caller here (#1 CODE #)
    record: Flag = True           # record conversations with this queue's agents (the caller is told first)


@with_config(FILE)
@dataclass(slots=True)
class CallbackConfig:
    enabled: Flag = True
    delay_s: Seconds = 30.0       # a missed call is rung back no sooner than this
    retry_s: Seconds = 300.0
    max_attempts: Count = 3
    priority: number(-99, whole=True) = -1            # below live callers
    originate_grace_s: Seconds = 45.0
    deadline_s: number(1, unit="seconds") = 1800.0    # "in time" when the caller is reached within this


def _sentinel(value: Any) -> str:
    """A Sentinel's address, ``host:port`` (checked here so that a typo is its file:line)."""
    from acd.redis_connect import parse_address

    try:
        parse_address(value if isinstance(value, str) else "")
    except ValueError:
        raise wanted("must be a Sentinel's address like 10.0.0.5:26379 (host:port, port 1 to 65535)") from None
    return value.strip()


@with_config(FILE)
@dataclass(slots=True)
class RedisConfig:
    host: str = "127.0.0.1"       # not used when sentinels are given
    port: Port = 6379
    db: number(0, whole=True) = 0
    prefix: str = "{hotline}:"    # must carry a hash tag {...}: every key of the ACD in one Cluster slot
    password_file: str = ""
    poolsize: Count = 32          # Redis calls (connections) in flight at once per node; more wait their turn
    #: host:port of each Sentinel; when given, the ACD uses the master they name for
    #: ``service_name`` and follows it through a failover
    sentinels: list[Annotated[str, PlainValidator(_sentinel)]] = field(default_factory=list)
    service_name: Text = "mymaster"
    slow_call_s: Seconds = 1.0    # a Redis call slower than this is logged with its duration
    call_timeout_s: number(0.1, unit="seconds") = 10.0  # no answer within this: Redis unavailable (retried)
    write_wait_s: Seconds = 1.0   # a caller's task waits this long for a write, then it lands later

    @property
    def address(self) -> str:
        if self.sentinels:
            return f"{self.service_name} via Sentinel " + ",".join(self.sentinels)
        return f"{self.host}:{self.port}"

    def password(self) -> str | None:
        """From HOTLINE_REDIS_PASSWORD, else from password_file; never logged."""
        env = os.environ.get(PASSWORD_ENV)
        if env:
            return env
        if self.password_file:
            try:
                return pathlib.Path(self.password_file).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise ConfigError(f"cannot read Redis password: {exc.strerror}", where=self.password_file) from None
        return None


@dataclass(slots=True)
class AcdConfig:
    queues: dict[str, QueueConfig]
    agents: list[Agent]
    skills: list[str]
    callbacks: CallbackConfig
    redis: RedisConfig
    service_level_s: float
    retention_days: float
    offer_grace_s: float          # an offer unanswered for ring timeout + this is taken back
    records: RecordsConfig
    source: str = "<config>"
    #: Who may listen to, coach or barge into live calls: id -> dial string of their phone.
    supervisors: dict[str, str] = field(default_factory=dict)

    def queue(self, queue_id: str) -> QueueConfig:
        return self.queues[queue_id]


# --- the file's shape where it differs from the settings ------------------------------------------

def _dial(value: Any) -> str:
    if not isinstance(value, str) or "/" not in value:
        raise wanted("must be an Asterisk dial string like PJSIP/1001")
    try:
        return phone.check_dial_string(value)
    except phone.BadDialString as exc:
        raise said(str(exc)) from None


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)(?: (workdays))?$")


def parse_hours(text: str) -> tuple[int, int, bool] | None:
    """``"08:30-17:00 workdays"`` -> (510, 1020, True): minutes of the day, and whether only on the
    official calendar's working days; None for "" (any time) or text not in that form."""
    m = _HOURS.match(text.strip()) if text else None
    if m is None:
        return None
    return int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4]), bool(m[5])


def _hours(value: Any) -> str:
    """Written where rosters and flows can both read it: one span a day, optionally workdays only."""
    if not isinstance(value, str):
        raise wanted('must be text like "08:30-17:00" or "08:30-17:00 workdays"')
    span = parse_hours(value)
    if span is None or span[0] >= span[1]:
        raise wanted('must be a span of the day like "08:30-17:00", or "08:30-17:00 workdays", start before end')
    return value.strip()


def _levels(value: Any) -> Any:
    """``skills: [zh, ko]`` is level 3 in each."""
    return {s: 3 for s in value} if isinstance(value, list) else value


class _Agent(Section):
    id: Text
    name: Text = ""
    center: Text = ""
    dial: Annotated[str, PlainValidator(_dial)]
    queues: Texts | None = None
    skills: Annotated[dict[Text, number(1, 5, whole=True)], BeforeValidator(_levels)] = {"zh": 3}
    hours: Annotated[str, PlainValidator(_hours)] = ""


class _Supervisor(Section):
    id: Text
    name: Text = ""
    dial: Annotated[str, PlainValidator(_dial)]


class _File(Section):
    service_level_s: Seconds = 15.0
    retention_days: number(0, unit="days") = 180.0
    offer_grace_s: Seconds = 10.0
    skills: list[Text] = ["zh", "ko", "enterprise", "expert_enterprise", "expert_tax", "expert_social"]
    defaults: dict[str, Any] = {}       # any queue setting but its id, name and escalation
    queues: Annotated[list[dict[str, Any]], Field(min_length=1)]
    agents: list[_Agent] = []
    supervisors: list[_Supervisor] = []
    callbacks: CallbackConfig = Field(default_factory=CallbackConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    records: RecordsConfig = Field(default_factory=RecordsConfig)


def load(path: str | os.PathLike | None = None) -> AcdConfig:
    """``path``, else acd.yaml in the config folder (``--config-dir``, ``$HOTLINE_CONFIG_DIR``...)."""
    path = str(path) if path else str(paths.config_file(NAME))
    return _build(yamlconf.read(path, ConfigError))


def parse(text: str, source: str = "<config>") -> AcdConfig:
    return _build(yamlconf.parse_text(text, source, ConfigError))


def _fail(doc, path, message, **kw) -> ConfigError:
    return yamlconf.fail(doc, path, message, ConfigError, **kw)


def _build(doc) -> AcdConfig:
    data = doc.data
    redis = data.get("redis") if isinstance(data, dict) else None
    if isinstance(redis, dict) and "password" in redis:
        raise _fail(doc, ("redis", "password"), f"put the Redis password in ${PASSWORD_ENV} or password_file, "
                                                "not in this file", on_key=True)
    f = yamlconf.validate(_File, doc, error=ConfigError)
    queues = _queues(doc, f)
    supervisors: dict[str, str] = {}
    for i, s in enumerate(f.supervisors):
        if s.id in supervisors:
            raise _fail(doc, ("supervisors", i, "id"), f"supervisor {s.id!r} defined twice")
        supervisors[s.id] = s.dial
    return AcdConfig(queues=queues, agents=_agents(doc, f, queues), skills=list(f.skills), callbacks=f.callbacks,
                     redis=f.redis, service_level_s=f.service_level_s, retention_days=f.retention_days,
                     offer_grace_s=f.offer_grace_s, records=f.records, source=doc.file, supervisors=supervisors)


def _queues(doc, f: _File) -> dict[str, QueueConfig]:
    for key in ("id", "name", "escalation"):
        if key in f.defaults:
            raise _fail(doc, ("defaults", key), f"defaults.{key} is set per queue, not in defaults", on_key=True)
    yamlconf.validate(QueueConfig, doc, ("defaults",), data={"id": "defaults", **f.defaults}, error=ConfigError)
    queues: dict[str, QueueConfig] = {}
    for i, raw in enumerate(f.queues):
        q = yamlconf.validate(QueueConfig, doc, ("queues", i), data={**f.defaults, **raw}, error=ConfigError)
        if q.id in queues:
            raise _fail(doc, ("queues", i, "id"), f"queue {q.id!r} defined twice")
        for j, step in enumerate(q.escalation):
            for s in step.drop_skills:
                if s != "*" and s not in f.skills:
                    raise _fail(doc, ("queues", i, "escalation", j, "drop_skills"),
                                f"queue {q.id!r}: unknown skill {s!r} (skills: {', '.join(f.skills)})")
        if q.max_wrapup_s < q.wrapup_s:
            where = (("queues", i, "max_wrapup_s") if "max_wrapup_s" in raw else
                     ("defaults", "max_wrapup_s") if "max_wrapup_s" in f.defaults else ("queues", i))
            raise _fail(doc, where, f"queue {q.id!r}: max_wrapup_s {q.max_wrapup_s:g} is below its wrapup_s {q.wrapup_s:g}")
        if q.code and (not q.code.isdigit() or len(q.code) > 2):
            raise _fail(doc, ("queues", i, "code"), f"queue {q.id!r}: code {q.code!r} is not 1 or 2 digits "
                        "(longer digits are numbers to dial)")
        if q.code and any(other.code == q.code for other in queues.values()):
            raise _fail(doc, ("queues", i, "code"), f"queue {q.id!r}: code {q.code!r} is taken by another queue")
        q.escalation.sort(key=lambda e: e.after_s)
        queues[q.id] = q
    for i, q in enumerate(queues.values()):
        for j, step in enumerate(q.escalation):
            for target in step.overflow:
                if target not in queues:
                    raise _fail(doc, ("queues", i, "escalation", j, "overflow"),
                                f"queue {q.id!r}: overflow target {target!r} is not a queue")
    return queues


def _agents(doc, f: _File, queues: dict[str, QueueConfig]) -> list[Agent]:
    agents: list[Agent] = []
    seen: set[str] = set()
    for i, a in enumerate(f.agents):
        at = ("agents", i)
        if not a.id.strip():
            raise _fail(doc, at + ("id",), "agent needs an id")
        if a.id in seen:
            raise _fail(doc, at + ("id",), f"agent {a.id!r} defined twice")
        seen.add(a.id)
        agent_queues = a.queues if a.queues is not None else ([a.center] if a.center else [])
        for q in agent_queues:
            if q not in queues:
                raise _fail(doc, at + ("queues" if a.queues is not None else "center",),
                            f"agent {a.id!r}: queue {q!r} is not defined")
        if not agent_queues:
            raise _fail(doc, at, f"agent {a.id!r}: needs a center or queues")
        for s in a.skills:
            if s not in f.skills:
                raise _fail(doc, at + ("skills", s), f"agent {a.id!r}: unknown skill {s!r} "
                                                     f"(skills: {', '.join(f.skills)})", on_key=True)
        agents.append(Agent(id=a.id, dial=a.dial, name=a.name, center=a.center, queues=list(agent_queues),
                            skills=dict(a.skills), hours=a.hours))
    return agents
