"""Read config/seats.yaml and config/centers.yaml into plain data.

Both files are read through :mod:`hotline.yamlconf` (once per process; the flow
checker reads centers.yaml too) and checked against the models below, so a
mistake names ``FILE:LINE:COL`` of the value: a supervisor edits these files by
hand and must find the mistake at once.  The ``labour``, ``shifts``,
``patterns`` and ``roster`` sections are checked by their own readers
(seats.shifts, seats.build) with :func:`get_number` and :func:`where`, which is
why ``SeatsConfig.raw`` keeps the position of every value.
"""

from __future__ import annotations

import pathlib
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict

from hotline import paths, yamlconf
from hotline.conftypes import Seconds, Section, Text, number
from hotline.yamlpos import Doc, Mark
from seats.errors import SeatsError

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEATS = "seats.yaml"
CENTERS = "centers.yaml"
Rounding = Literal["ceil", "nearest", "floor"]
ROUNDING = typing.get_args(Rounding)


class _Map(dict):
    """A mapping of a seats file that remembers where it and each of its values are written."""

    mark: Mark
    marks: dict[str, Mark]


def _positioned(doc: Doc, value: Any, path: tuple = ()) -> Any:
    """A private copy of the cached document's data, each mapping knowing its positions."""
    if isinstance(value, dict):
        out = _Map()
        out.mark, out.marks = doc.at(path), {}
        for key, item in value.items():
            out[key] = _positioned(doc, item, path + (key,))
            out.marks[key] = doc.at(path + (key,))
        return out
    if isinstance(value, list):
        return [_positioned(doc, item, path + (i,)) for i, item in enumerate(value)]
    return value


def load_yaml(path: pathlib.Path) -> Any:
    """The file's data, each mapping with positions for :func:`where`."""
    doc = yamlconf.read(path, SeatsError)
    return _positioned(doc, doc.data)


def where(path: pathlib.Path, mapping: Any, key: str | None = None) -> str:
    if isinstance(mapping, _Map):
        mark = mapping.marks.get(key, mapping.mark) if key is not None else mapping.mark
        return f"{path}:{mark.line}:{mark.col}"
    return str(path)


def get_number(path, mapping, key, default=None, *, low=None, high=None, integer=False):
    """Fetch a number from a mapping, checking its range; errors name file:line:col."""
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


class _Center(Section):
    # centers.yaml promises "add keys freely": the flow checker warns about keys it does not know.
    model_config = ConfigDict(extra="allow")
    id: Text
    name: Text | None = None
    name_en: Text | None = None
    level: Text = "city"
    population: number(0, whole=True)


class _Centers(Section):
    centers: list[_Center]


def load_centers(path: pathlib.Path | None = None) -> list[Center]:
    """``path``, else centers.yaml in the config folder (``--config-dir``, ``$HOTLINE_CONFIG_DIR``...)."""
    path = path or paths.config_file(CENTERS)
    doc = yamlconf.read(path, SeatsError)
    centers: dict[str, Center] = {}
    for i, c in enumerate(yamlconf.validate(_Centers, doc, error=SeatsError).centers):
        if c.id in centers:
            raise yamlconf.fail(doc, ("centers", i, "id"), f"center '{c.id}' listed twice", SeatsError)
        centers[c.id] = Center(id=c.id, name=c.name or c.id, name_en=c.name_en or c.id, level=c.level,
                               population=c.population)
    return list(centers.values())


class _ByLoad(Section):
    """A center sized by the calls it takes: a share of the cities' calls, from a forecast and Erlang."""
    share: number(0, 1)                          # of the cities' calls this center takes
    forecast: Text                               # CSV, relative to seats.yaml's folder
    forecast_population: number(1, whole=True)   # inhabitants the forecast stands for
    note: Text = ""                              # why the share is what it is, shown by `seats size`


class _Rule(Section):
    seats_per_million: number(0) = 15.0
    operators_per_seat: number(1, whole=True) = 3
    rounding: Rounding = "ceil"
    fixed_seats: dict[Text, number(0, whole=True)] = {}
    by_load: dict[Text, _ByLoad] = {}


class _Service(Section):
    """Defaults from domain.md."""
    target_sl: number(0, below=1) = 0.90
    within_s: Seconds = 15.0
    max_occupancy: number(0.01, 1) = 0.85
    shrinkage: number(0, 0.95) = 0.30
    aht_s: number(1, unit="seconds") = 240.0
    patience_s: number(0.1, unit="seconds") | None = None
    max_agents: number(1, whole=True) = 20000


class _SeatsFile(Section):
    rule: _Rule = _Rule()
    service: _Service = _Service()
    labour: Any = None       # seats.shifts.load_labour
    shifts: Any = None       # seats.shifts.load_shifts
    patterns: Any = None     # seats.shifts.load_patterns
    roster: Any = None       # seats.build.roster_settings


@dataclass
class SeatsConfig:
    """Everything in config/seats.yaml (the defaults are _Rule's and _Service's)."""

    path: pathlib.Path
    raw: dict = field(repr=False)
    seats_per_million: float
    operators_per_seat: int
    rounding: str
    fixed_seats: dict[str, int]
    target_sl: float
    within_s: float
    max_occupancy: float
    shrinkage: float
    aht_s: float
    patience_s: float | None
    max_agents: int
    by_load: dict[str, dict] = field(default_factory=dict)   # center id -> _ByLoad's keys
    where_of: dict[str, str] = field(default_factory=dict, repr=False)  # "by_load.<id>.forecast" -> FILE:LINE:COL


def load_seats_config(path: pathlib.Path | None = None) -> SeatsConfig:
    """``path``, else seats.yaml in the config folder."""
    path = path or paths.config_file(SEATS)
    doc = yamlconf.read(path, SeatsError)
    f = yamlconf.validate(_SeatsFile, doc, error=SeatsError)
    for cid in f.rule.by_load:
        if cid in f.rule.fixed_seats:
            raise yamlconf.fail(doc, ("rule", "by_load", cid), f"center '{cid}' is under both rule.fixed_seats "
                                f"and rule.by_load: give it one way to be sized", SeatsError, on_key=True)
    where_of = {f"by_load.{cid}.forecast": yamlconf.where(doc, ("rule", "by_load", cid, "forecast"))
                for cid in f.rule.by_load}
    return SeatsConfig(path=path, raw=_positioned(doc, doc.data), **f.rule.model_dump(), **f.service.model_dump(),
                       where_of=where_of)
