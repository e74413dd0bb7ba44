"""The ``records:`` part of config/acd.yaml: where records go, how long they stay, who sees them whole.

The dataclass is the section's schema (acd.config validates it with the rest of
the file), so a wrong value is reported at its own line and column.
"""

from __future__ import annotations

import pathlib
import typing
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, with_config

from hotline.conftypes import FILE, Seconds, Share, Text, number

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'records.db'}"
Table = Literal["calls", "call_legs", "agent_states", "callbacks", "surveys", "audit_log", "dispositions"]
TABLES = typing.get_args(Table)
KEEP_DAYS = {"calls": 730, "call_legs": 730, "agent_states": 400, "callbacks": 730, "surveys": 730, "audit_log": 1825,
             "dispositions": 730}


def _near(path: str) -> str:
    """A relative path is relative to the repository (where var/ lives), not to the current folder."""
    p = pathlib.Path(path)
    return str(p if p.is_absolute() else ROOT / p)


def _path_url(url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + _near(url[len(prefix):])
    return url


def _keep(days: dict) -> dict:
    """A file names only the tables it changes; the others keep their default."""
    return {**KEEP_DAYS, **days}


@with_config(FILE)
@dataclass(slots=True)
class RecordsConfig:
    url: Annotated[str, AfterValidator(_path_url)] = DEFAULT_URL   # sqlite:///FILE or postgresql://USER@HOST/DB
    spool_dir: Annotated[str, AfterValidator(_near)] = str(ROOT / "var" / "spool")
    short_abandon_s: Seconds = 5.0    # a caller gone sooner than this after entering a queue: short abandon
    answer_target: Share = 0.8        # the center's own target for the share answered within service_level_s
    connection_target: Share = 0.95   # GB/T 33358: 呼叫接通率 >= 95% over 24 h
    retention_days: Annotated[dict[Table, number(1, unit="days")], AfterValidator(_keep)] = field(
        default_factory=lambda: dict(KEEP_DAYS))
    unmask_roles: list[Text] = field(default_factory=lambda: ["quality", "auditor"])
