"""The ``records:`` part of config/acd.yaml: where records go, how long they stay, who sees them whole."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'records.db'}"
TABLES = ("calls", "call_legs", "agent_states", "callbacks", "surveys", "audit_log")


@dataclass(slots=True)
class RecordsConfig:
    url: str = DEFAULT_URL            # sqlite:///FILE or postgresql://USER@HOST/DB ($HOTLINE_DB_PASSWORD)
    spool_dir: str = str(ROOT / "var" / "spool")
    short_abandon_s: float = 5.0      # a caller gone sooner than this after entering a queue: short abandon
    answer_target: float = 0.8        # the center's own target for the share answered within service_level_s
    connection_target: float = 0.95   # GB/T 33358: 呼叫接通率 >= 95% over 24 h
    retention_days: dict[str, float] = field(default_factory=lambda: {
        "calls": 730, "call_legs": 730, "agent_states": 400, "callbacks": 730, "surveys": 730, "audit_log": 1825})
    unmask_roles: list[str] = field(default_factory=lambda: ["quality", "auditor"])


def parse(node, source: str, num, err) -> RecordsConfig:
    """``num``/``err`` are acd.config's checkers, so mistakes read the same as the rest of the file."""
    out = RecordsConfig()
    if node is None:
        return out
    if not isinstance(node, dict):
        raise err(source, node, "records must be a mapping")
    unknown = set(node) - {"url", "spool_dir", "short_abandon_s", "answer_target", "connection_target",
                           "retention_days", "unmask_roles"}
    if unknown:
        raise err(source, node, f"records: unknown key {sorted(unknown)[0]!r}")
    if "url" in node:
        out.url = _path_url(str(node["url"]))
    if "spool_dir" in node:
        out.spool_dir = _near(str(node["spool_dir"]))
    out.short_abandon_s = num(source, node, "short_abandon_s", out.short_abandon_s)
    for key in ("answer_target", "connection_target"):
        value = num(source, node, key, getattr(out, key))
        if value > 1:
            raise err(source, node, f"records: {key} is a share between 0 and 1, not {value}")
        setattr(out, key, value)
    keep = node.get("retention_days", {})
    if not isinstance(keep, dict):
        raise err(source, node, "records: retention_days maps a table to days")
    for table in keep:
        if table not in TABLES:
            raise err(source, keep, f"records: retention_days: unknown table {table!r} (tables: {', '.join(TABLES)})")
        out.retention_days[table] = num(source, keep, table, 0, float, 1)
    roles = node.get("unmask_roles", out.unmask_roles)
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise err(source, node, "records: unmask_roles must be a list of role names")
    out.unmask_roles = list(roles)
    return out


def _near(path: str) -> str:
    """A relative path is relative to the repository (where var/ lives), not to the current folder."""
    p = pathlib.Path(path)
    return str(p if p.is_absolute() else ROOT / p)


def _path_url(url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + _near(url[len(prefix):])
    return url
