"""Engine settings: config/engine.yaml, then flags; the AMI secret from the environment or a file.

The dataclasses are the file's schema (:mod:`hotline.yamlconf` validates them), so
a mistake reads ``engine.yaml:LINE:COL: ami.port must be ...`` at the value.
The secret never sits in the file; it is refused when it holds CR or LF, since
those would end the Login action's ``Secret:`` line and start another header.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field

from pydantic import with_config
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from hotline import paths, yamlconf
from hotline.conftypes import FILE, Flag, Port, Seconds, Text, number
from hotline.errors import UserError
from hotline.secret import ami_secret

NAME = "engine.yaml"
Timeout = number(0.1, unit="seconds")
Backoff = number(0.01, unit="seconds")


@with_config(FILE)
@dataclass
class AmiSettings:
    host: str = "127.0.0.1"
    port: Port = 5038
    username: Text = "hotline"
    secret_env: str = "HOTLINE_AMI_SECRET"
    secret_file: str | None = None
    action_timeout_s: Timeout = 10.0
    ping_interval_s: Timeout = 5.0
    ping_timeout_s: Timeout = 20.0
    slow_s: Seconds = 1.0
    overload_s: Seconds = 2.0
    backoff_initial_s: Backoff = 0.5
    backoff_max_s: Backoff = 30.0
    send_filters: Flag = True

    def secret(self) -> str:
        """The AMI secret: from the file if one is named, else from the environment."""
        if self.secret_file:
            path = pathlib.Path(self.secret_file)
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UserError(f"cannot read the AMI secret file {path}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise UserError(f"the AMI secret file {path} is not UTF-8 text") from None
            if not value:
                raise UserError(f"the AMI secret file {path} is empty")
            return _one_line(value, f"the AMI secret in {path}")
        value = ami_secret(self.secret_env)
        if not value:
            raise UserError(f"no AMI secret: set {self.secret_env} or --secret-file")
        return _one_line(value, f"the AMI secret in ${self.secret_env}")


def _one_line(secret: str, what: str) -> str:
    if "\r" in secret or "\n" in secret:
        raise UserError(f"{what} holds a line break (CR or LF): refused, it would inject AMI headers; "
                        "a secret is one line")
    return secret


@with_config(FILE)
class Resume(TypedDict, total=False):
    context: Text
    exten: Text
    priority: Text


@with_config(FILE)
@dataclass
class RecordingSettings:
    """Where MixMonitor writes conversations (a folder on Asterisk's host) and how long they stay."""

    dir: Text = "/var/spool/asterisk/monitor/hotline"
    retention_days: number(1, unit="days") = 180.0
    sweep_every_s: number(60, unit="seconds") = 3600.0


@with_config(FILE)
@dataclass
class EngineSettings:
    contexts: list[Text] = field(default_factory=lambda: ["hotline-in", "hotline-resume", "hotline-callback"])
    resume: Resume = field(default_factory=lambda: {"context": "hotline-resume", "exten": "s", "priority": 1})
    agents: list[Text] = field(default_factory=list)
    #: Keys an agent on a plain phone presses during the conversation to transfer the caller:
    #: ``blind`` then the target (a queue's code, or a number), then ``end`` (ivr/engine/agent_keys.py).
    #: An empty mapping turns the codes off.
    agent_keys: dict[Text, Text] = field(default_factory=lambda: {"blind": "#1", "end": "#"})
    recordings: RecordingSettings = field(default_factory=RecordingSettings)

    def transfer_keys(self) -> tuple[dict[str, str], str]:
        """(start keys -> transfer kind, end key), as ivr.engine.agent_keys.AgentKeys takes them."""
        keys = dict(self.agent_keys)
        end = keys.pop("end", "#")
        return {start: kind for kind, start in keys.items()}, end


#: What engine.agent_keys may name, and the keys a phone has.
AGENT_KEY_KINDS = ("blind", "end")
PHONE_KEYS = set("0123456789*#")


def _check_agent_keys(doc, keys: dict[str, str]) -> None:
    where = ("engine", "agent_keys")
    for kind, seq in keys.items():
        if kind not in AGENT_KEY_KINDS:
            raise yamlconf.fail(doc, where + (kind,), f"engine.agent_keys.{kind}: unknown; use {', '.join(AGENT_KEY_KINDS)}",
                                on_key=True)
        if not seq or not set(seq) <= PHONE_KEYS or len(seq) > 4:
            raise yamlconf.fail(doc, where + (kind,), f"engine.agent_keys.{kind} {seq!r}: 1 to 4 of the keys 0-9 * #")
    if keys and "end" in keys and (len(keys["end"]) != 1 or keys["end"].isdigit()):
        raise yamlconf.fail(doc, where + ("end",), f"engine.agent_keys.end {keys['end']!r}: one key, * or # "
                            "(digits make up the target)")
    if keys and "blind" not in keys:
        raise yamlconf.fail(doc, where, "engine.agent_keys: set blind (e.g. '#1'), or write {} to turn the codes off")


@with_config(FILE)
@dataclass
class _File:
    ami: AmiSettings = field(default_factory=AmiSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)


@dataclass
class Settings:
    ami: AmiSettings
    engine: EngineSettings
    path: pathlib.Path | None = None


def load(path: str | os.PathLike | None = None) -> Settings:
    """``path``, else engine.yaml in the config folder (``--config-dir``, ``$HOTLINE_CONFIG_DIR``...)."""
    file = pathlib.Path(path) if path else paths.config_file(NAME)
    doc = yamlconf.read(file)
    parsed = yamlconf.validate(_File, doc)
    _check_agent_keys(doc, parsed.engine.agent_keys)
    return Settings(ami=parsed.ami, engine=parsed.engine, path=file)
