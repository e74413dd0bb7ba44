"""Read config/seats.yaml and config/centers.yaml into plain data.

Validation errors name the file and line of the offending key, because a
supervisor edits these files by hand and must find the mistake at once.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from seats.errors import SeatsError

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
SEATS_YAML = CONFIG_DIR / "seats.yaml"
CENTERS_YAML = CONFIG_DIR / "centers.yaml"


class _Map(dict):
    """A YAML mapping that remembers the line of each key (1-based)."""

    lines: dict[str, int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    result = _Map()
    result.lines = {}
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def load_yaml(path: pathlib.Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeatsError(f"cannot read: {exc.strerror}", where=str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise SeatsError(f"broken YAML: {exc.problem}", where=f"{path}:{line}") from None
    except yaml.YAMLError as exc:
        raise SeatsError(f"broken YAML: {exc}", where=str(path)) from None


def where(path: pathlib.Path, mapping: Any, key: str | None = None) -> str:
    if isinstance(mapping, _Map):
        line = mapping.lines.get(key, mapping.line) if key is not None else mapping.line
        return f"{path}:{line}"
    return str(path)


def get_number(path, mapping, key, default=None, *, low=None, high=None, integer=False):
    """Fetch a number from a mapping, checking its range; errors name file:line."""
    if not isinstance(mapping, dict):
        raise SeatsError("expected a mapping", where=str(path))
    if key not in mapping:
        if default is None:
            raise SeatsError(f"missing key '{key}'", where=where(path, mapping))
        return default
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SeatsError(f"'{key}' must be a number, got {value!r}", where=where(path, mapping, key))
    if integer and int(value) != value:
        raise SeatsError(f"'{key}' must be a whole number, got {value!r}", where=where(path, mapping, key))
    if low is not None and value < low or high is not None and value > high:
        raise SeatsError(
            f"'{key}' = {value} is outside [{low}, {high}]", where=where(path, mapping, key)
        )
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class Center:
    id: str
    name: str
    name_en: str
    level: str
    population: int


def load_centers(path: pathlib.Path = CENTERS_YAML) -> list[Center]:
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("centers"), list):
        raise SeatsError("expected a top-level 'centers:' list", where=str(path))
    centers = []
    seen = set()
    for entry in data["centers"]:
        if not isinstance(entry, dict) or "id" not in entry:
            raise SeatsError("each center needs an 'id'", where=where(path, entry))
        cid = str(entry["id"])
        if cid in seen:
            raise SeatsError(f"center '{cid}' listed twice", where=where(path, entry, "id"))
        seen.add(cid)
        population = get_number(path, entry, "population", low=0, integer=True)
        centers.append(
            Center(
                id=cid,
                name=str(entry.get("name", cid)),
                name_en=str(entry.get("name_en", cid)),
                level=str(entry.get("level", "city")),
                population=population,
            )
        )
    return centers


@dataclass
class SeatsConfig:
    """Everything in config/seats.yaml, with defaults taken from domain.md."""

    path: pathlib.Path
    raw: dict = field(repr=False)
    seats_per_million: float = 15.0
    operators_per_seat: int = 3
    rounding: str = "ceil"
    fixed_seats: dict[str, int] = field(default_factory=dict)
    target_sl: float = 0.90
    within_s: float = 15.0
    max_occupancy: float = 0.85
    shrinkage: float = 0.30
    aht_s: float = 240.0
    patience_s: float | None = None
    max_agents: int = 20000


ROUNDING = ("ceil", "nearest", "floor")


def load_seats_config(path: pathlib.Path = SEATS_YAML) -> SeatsConfig:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise SeatsError("expected a mapping at top level", where=str(path))
    cfg = SeatsConfig(path=path, raw=data)
    rule = data.get("rule", {})
    if not isinstance(rule, dict):
        raise SeatsError("'rule' must be a mapping", where=where(path, data, "rule"))
    cfg.seats_per_million = get_number(path, rule, "seats_per_million", 15.0, low=0.0)
    cfg.operators_per_seat = get_number(path, rule, "operators_per_seat", 3, low=1, integer=True)
    rounding = rule.get("rounding", "ceil")
    if rounding not in ROUNDING:
        raise SeatsError(
            f"'rounding' must be one of {', '.join(ROUNDING)}, got {rounding!r}",
            where=where(path, rule, "rounding"),
        )
    cfg.rounding = rounding
    fixed = rule.get("fixed_seats", {}) or {}
    if not isinstance(fixed, dict):
        raise SeatsError("'fixed_seats' must map center id to seats", where=where(path, rule, "fixed_seats"))
    cfg.fixed_seats = {str(k): get_number(path, fixed, k, low=0, integer=True) for k in fixed}
    service = data.get("service", {})
    if not isinstance(service, dict):
        raise SeatsError("'service' must be a mapping", where=where(path, data, "service"))
    cfg.target_sl = get_number(path, service, "target_sl", 0.90, low=0.0, high=0.999999)
    cfg.within_s = get_number(path, service, "within_s", 15.0, low=0.0)
    cfg.max_occupancy = get_number(path, service, "max_occupancy", 0.85, low=0.01, high=1.0)
    cfg.shrinkage = get_number(path, service, "shrinkage", 0.30, low=0.0, high=0.95)
    cfg.aht_s = get_number(path, service, "aht_s", 240.0, low=1.0)
    if service.get("patience_s") is not None:
        cfg.patience_s = get_number(path, service, "patience_s", low=0.1)
    cfg.max_agents = get_number(path, service, "max_agents", 20000, low=1, integer=True)
    return cfg
