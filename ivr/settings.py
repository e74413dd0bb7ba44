"""Engine settings: config/engine.yaml, then flags; secrets from the environment or a file.

A mistake in the file is reported as one line naming the file and key.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from ivr.cli import UserError

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "config" / "engine.yaml"


@dataclass
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "hotline"
    secret_env: str = "HOTLINE_AMI_SECRET"
    secret_file: str | None = None
    action_timeout_s: float = 10.0
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 20.0
    slow_s: float = 1.0
    overload_s: float = 2.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    send_filters: bool = True

    def secret(self) -> str:
        """The AMI secret: from the file if one is named, else from the environment."""
        if self.secret_file:
            path = pathlib.Path(self.secret_file)
            try:
                text = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise UserError(f"cannot read the AMI secret file {path}: {exc.strerror}") from None
            if not text or not text[0].strip():
                raise UserError(f"the AMI secret file {path} is empty")
            return text[0].strip()
        value = os.environ.get(self.secret_env, "")
        if not value:
            raise UserError(f"no AMI secret: set {self.secret_env} or --secret-file")
        return value


@dataclass
class EngineSettings:
    contexts: list[str] = field(default_factory=lambda: ["hotline-in", "hotline-resume", "hotline-callback"])
    resume: dict[str, Any] = field(default_factory=lambda: {"context": "hotline-resume", "exten": "s", "priority": 1})
    agents: list[str] = field(default_factory=list)


@dataclass
class Settings:
    ami: AmiSettings
    engine: EngineSettings
    path: pathlib.Path | None = None


def load(path: str | os.PathLike | None = None) -> Settings:
    file = pathlib.Path(path) if path else DEFAULT_PATH
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise UserError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{file}: expected a mapping with 'ami' and 'engine'")
    return Settings(ami=_section(file, data, "ami", AmiSettings), engine=_section(file, data, "engine", EngineSettings),
                    path=file)


def _section(file, data, name, cls):
    raw = data.get(name) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{file}: '{name}' must be a mapping")
    known = cls.__dataclass_fields__
    for key in raw:
        if key not in known:
            raise UserError(f"{file}: unknown key '{name}.{key}' (known: {', '.join(known)})")
    try:
        obj = cls(**raw)
    except TypeError as exc:
        raise UserError(f"{file}: '{name}': {exc}") from None
    for key, f in known.items():
        value = getattr(obj, key)
        if f.type in ("int", "float") and not isinstance(value, (int, float)):
            raise UserError(f"{file}: '{name}.{key}' must be a number, not {value!r}")
    return obj
