"""config/acd.yaml: queues, agents, skills, overflow, callbacks, Redis.

A mistake in the file is reported as ``path:line: what is wrong`` (ConfigError),
because the people who edit it staff a hotline, not a Python prompt.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field

import yaml

from acd import phone
from acd.db import settings as records_settings
from acd.model import Agent

CENTERS = ("province", "changchun", "jilin", "yanbian", "siping", "tonghua", "baicheng",
           "liaoyuan", "songyuan", "baishan", "meihekou", "changbaishan")
ROUTING_POLICIES = ("longest_idle", "skill_level")
PASSWORD_ENV = "HOTLINE_REDIS_PASSWORD"


class ConfigError(Exception):
    """A mistake in the ACD configuration, already phrased as ``file:line: message``."""


@dataclass(slots=True)
class Escalation:
    after_s: float
    drop_skills: list[str] = field(default_factory=list)   # "*" drops every required skill
    overflow: list[str] = field(default_factory=list)      # queues whose agents may take the call


@dataclass(slots=True)
class QueueConfig:
    id: str
    name: str = ""
    ring_timeout_s: float = 15.0
    max_misses: int = 3
    wrapup_s: float = 10.0
    routing: str = "longest_idle"
    max_waiting: int = 200
    callback_offer_after_s: float = 120.0
    announce_every_s: float = 30.0
    aht_s: float = 240.0          # average handle time used for expected wait until measured
    escalation: list[Escalation] = field(default_factory=list)


@dataclass(slots=True)
class CallbackConfig:
    enabled: bool = True
    delay_s: float = 30.0         # a missed call is rung back no sooner than this
    retry_s: float = 300.0
    max_attempts: int = 3
    priority: int = -1            # below live callers
    originate_grace_s: float = 45.0
    deadline_s: float = 1800.0    # a callback is "in time" when the caller is reached within this


@dataclass(slots=True)
class RedisConfig:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    prefix: str = "hotline:"
    password_file: str = ""
    poolsize: int = 4
    slow_call_s: float = 1.0      # a Redis call slower than this is logged with its duration
    call_timeout_s: float = 10.0  # no answer within this: Redis is taken as unavailable (retried)
    write_wait_s: float = 1.0     # a caller's task waits this long for a write, then it lands later

    @property
    def address(self) -> str:
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
                raise ConfigError(f"{self.password_file}: cannot read Redis password: {exc.strerror}") from None
        return None


@dataclass(slots=True)
class AcdConfig:
    queues: dict[str, QueueConfig]
    agents: list[Agent]
    skills: list[str] = field(default_factory=lambda: ["zh", "ko", "enterprise", "expert"])
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    service_level_s: float = 15.0
    retention_days: float = 180.0
    offer_grace_s: float = 10.0   # an offer unanswered for ring timeout + this is taken back
    records: records_settings.RecordsConfig = field(default_factory=records_settings.RecordsConfig)
    source: str = "<config>"

    def queue(self, queue_id: str) -> QueueConfig:
        return self.queues[queue_id]


# --- loading -------------------------------------------------------------------------------

class _Map(dict):
    line = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader, node):
    data = _Map(loader.construct_mapping(node, deep=True))
    data.line = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def load(path: str | os.PathLike) -> AcdConfig:
    path = str(path)
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(text, path)


def parse(text: str, source: str = "<config>") -> AcdConfig:
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping with queues and agents")
    return _build(data, source)


def _err(source: str, node, msg: str) -> ConfigError:
    return ConfigError(f"{source}:{getattr(node, 'line', 1)}: {msg}")


def _num(source, node, key, default, kind=float, minimum=0):
    value = node.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(source, node, f"{key} must be a number, not {value!r}")
    if value < minimum:
        raise _err(source, node, f"{key} must be >= {minimum}, not {value}")
    return kind(value)


def _queue_fields(source, node, base: dict) -> dict:
    out = dict(base)
    for key in ("ring_timeout_s", "wrapup_s", "callback_offer_after_s", "announce_every_s", "aht_s"):
        if key in node:
            out[key] = _num(source, node, key, 0)
    for key in ("max_misses", "max_waiting"):
        if key in node:
            out[key] = _num(source, node, key, 0, int, 1)
    if "routing" in node:
        if node["routing"] not in ROUTING_POLICIES:
            raise _err(source, node, f"routing must be one of {', '.join(ROUTING_POLICIES)}, not {node['routing']!r}")
        out["routing"] = node["routing"]
    return out


def _build(data: dict, source: str) -> AcdConfig:
    skills = data.get("skills", ["zh", "ko", "enterprise", "expert"])
    if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
        raise _err(source, data, "skills must be a list of names")
    defaults_node = data.get("defaults", _Map())
    if not isinstance(defaults_node, dict):
        raise _err(source, data, "defaults must be a mapping")
    base = _queue_fields(source, defaults_node, {})

    queues: dict[str, QueueConfig] = {}
    raw_queues = data.get("queues")
    if not isinstance(raw_queues, list) or not raw_queues:
        raise _err(source, data, "queues must be a non-empty list")
    for node in raw_queues:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise _err(source, node if isinstance(node, dict) else data, "each queue needs an id")
        if node["id"] in queues:
            raise _err(source, node, f"queue {node['id']!r} defined twice")
        steps = []
        for step in node.get("escalation", []) or []:
            if not isinstance(step, dict):
                raise _err(source, node, "escalation steps must be mappings")
            drop = step.get("drop_skills", [])
            drop = [drop] if isinstance(drop, str) else list(drop)
            over = step.get("overflow", [])
            over = [over] if isinstance(over, str) else list(over)
            for s in drop:
                if s != "*" and s not in skills:
                    raise _err(source, step, f"unknown skill {s!r} (skills: {', '.join(skills)})")
            steps.append(Escalation(after_s=_num(source, step, "after_s", None), drop_skills=drop, overflow=over))
        steps.sort(key=lambda e: e.after_s)
        fields_ = _queue_fields(source, node, base)
        queues[node["id"]] = QueueConfig(id=node["id"], name=str(node.get("name", "")), escalation=steps, **fields_)
    for q in queues.values():
        for step in q.escalation:
            for target in step.overflow:
                if target not in queues:
                    raise _err(source, raw_queues[list(queues).index(q.id)],
                               f"queue {q.id!r}: overflow target {target!r} is not a queue")

    agents: list[Agent] = []
    seen: set[str] = set()
    for node in data.get("agents", []) or []:
        if not isinstance(node, dict):
            raise _err(source, data, "each agent must be a mapping")
        aid = node.get("id")
        if aid is None or not str(aid).strip():
            raise _err(source, node, "agent needs an id")
        aid = str(aid)
        if aid in seen:
            raise _err(source, node, f"agent {aid!r} defined twice")
        seen.add(aid)
        dial = node.get("dial")
        if not isinstance(dial, str) or "/" not in dial:
            raise _err(source, node, f"agent {aid!r}: dial must be an Asterisk dial string like PJSIP/1001")
        try:
            phone.check_dial_string(dial)
        except phone.BadDialString as exc:
            raise _err(source, node, f"agent {aid!r}: {exc}") from None
        center = str(node.get("center", ""))
        agent_queues = node.get("queues", [center] if center else [])
        if isinstance(agent_queues, str):
            agent_queues = [agent_queues]
        for q in agent_queues:
            if q not in queues:
                raise _err(source, node, f"agent {aid!r}: queue {q!r} is not defined")
        if not agent_queues:
            raise _err(source, node, f"agent {aid!r}: needs a center or queues")
        raw_skills = node.get("skills", {"zh": 3})
        if isinstance(raw_skills, list):
            raw_skills = {s: 3 for s in raw_skills}
        if not isinstance(raw_skills, dict):
            raise _err(source, node, f"agent {aid!r}: skills must map skill to level 1-5")
        for s, level in raw_skills.items():
            if s not in skills:
                raise _err(source, node, f"agent {aid!r}: unknown skill {s!r} (skills: {', '.join(skills)})")
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                raise _err(source, node, f"agent {aid!r}: level of {s!r} must be 1-5, not {level!r}")
        agents.append(Agent(id=aid, dial=dial, name=str(node.get("name", "")), center=center,
                            queues=list(agent_queues), skills=dict(raw_skills)))

    cb_node = data.get("callbacks", _Map())
    callbacks = CallbackConfig(
        enabled=bool(cb_node.get("enabled", True)),
        delay_s=_num(source, cb_node, "delay_s", 30.0),
        retry_s=_num(source, cb_node, "retry_s", 300.0),
        max_attempts=_num(source, cb_node, "max_attempts", 3, int, 1),
        priority=_num(source, cb_node, "priority", -1, int, -99),
        originate_grace_s=_num(source, cb_node, "originate_grace_s", 45.0),
        deadline_s=_num(source, cb_node, "deadline_s", 1800.0, float, 1),
    )
    r_node = data.get("redis", _Map())
    redis = RedisConfig(
        host=str(r_node.get("host", "127.0.0.1")),
        port=_num(source, r_node, "port", 6379, int, 1),
        db=_num(source, r_node, "db", 0, int, 0),
        prefix=str(r_node.get("prefix", "hotline:")),
        password_file=str(r_node.get("password_file", "") or ""),
        poolsize=_num(source, r_node, "poolsize", 4, int, 1),
        slow_call_s=_num(source, r_node, "slow_call_s", 1.0),
        call_timeout_s=_num(source, r_node, "call_timeout_s", 10.0, float, 0.1),
        write_wait_s=_num(source, r_node, "write_wait_s", 1.0),
    )
    if "password" in r_node:
        raise _err(source, r_node, f"put the Redis password in ${PASSWORD_ENV} or password_file, not in this file")
    return AcdConfig(
        queues=queues, agents=agents, skills=list(skills), callbacks=callbacks, redis=redis,
        service_level_s=_num(source, data, "service_level_s", 15.0),
        retention_days=_num(source, data, "retention_days", 180.0),
        offer_grace_s=_num(source, data, "offer_grace_s", 10.0),
        records=records_settings.parse(data.get("records"), source, _num, _err),
        source=source,
    )
