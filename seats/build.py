"""Assemble a roster's inputs: people, requirement per interval, shifts and rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import pathlib

from seats.config import SeatsConfig, get_number, load_seats_config, where
from seats.errors import SeatsError
from seats.files import read_text
from seats.forecast import Forecast
from seats.roster import Person, Roster
from seats.shifts import load_labour, load_patterns, load_shifts
from seats.sizing import CenterSize
from seats.staffing import ServiceTarget, needs

PEOPLE_HEADER = ["id", "name", "center", "agent_id", "pattern", "skills"]


def people_from_sizes(sizes: list[CenterSize], pattern: str, agents: list | None = None,
                      patterns: dict | None = None) -> list[Person]:
    """The centers' ACD agents first, then new people up to the rule's headcount (seats.staff)."""
    from seats import staff

    return staff.people_for(sizes, pattern, staff.load_agents() if agents is None else agents, patterns)


def read_people(path: pathlib.Path | str, patterns: dict) -> list[Person]:
    path = pathlib.Path(path)
    people, seen = [], set()
    with io.StringIO(read_text(path, "people list"), newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "center"} - set(reader.fieldnames or [])
        if missing:
            raise SeatsError(f"header needs columns {', '.join(sorted(missing))} (have {reader.fieldnames})",
                             where=f"{path}:1")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            pid = (row.get("id") or "").strip()
            if not pid:
                raise SeatsError("empty id", where=where)
            if pid in seen:
                raise SeatsError(f"id {pid!r} listed twice", where=where)
            seen.add(pid)
            pattern = (row.get("pattern") or "three_shift").strip()
            if pattern not in patterns:
                raise SeatsError(f"unknown pattern {pattern!r} (known: {', '.join(patterns)})", where=where)
            skills = {k: 3 for k in (row.get("skills") or "").replace(";", " ").split()}
            people.append(Person(pid, (row.get("name") or pid).strip(), row["center"].strip(),
                                 (row.get("agent_id") or pid).strip(), pattern, skills))
    if not people:
        raise SeatsError("no people in file", where=str(path))
    return people


def write_people(path: pathlib.Path | str, people: list[Person]) -> None:
    with pathlib.Path(path).open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(PEOPLE_HEADER)
        for p in people:
            w.writerow([p.id, p.name, p.center, p.agent_id, p.pattern, " ".join(sorted(p.skills))])


def requirement_rule(sizes: list[CenterSize], intervals: int) -> dict[str, list[int]]:
    """The rule taken literally: every seat staffed in every interval."""
    return {s.center: [s.seats] * intervals for s in sizes if s.seats > 0}


def requirement_load(
    forecast: Forecast, target: ServiceTarget, shares: dict[str, float], intervals: int, interval_min: int
) -> dict[str, list[int]]:
    """People on duty per interval and center for the forecast load.

    The forecast is split between centers by ``shares`` (e.g. population) and
    repeated to fill the roster's horizon.
    """
    if forecast.interval_min != interval_min:
        raise SeatsError(
            f"forecast has {forecast.interval_min}-min intervals, the roster {interval_min}-min",
            where=forecast.source,
        )
    out = {}
    for center, share in shares.items():
        scaled = Forecast(forecast.start, forecast.interval_min, tuple(c * share for c in forecast.calls),
                          forecast.aht_s, forecast.source, forecast.lines)
        per = [n.rostered for n in needs(scaled, target)]
        out[center] = [per[i % len(per)] for i in range(intervals)]
    return out


def new_roster(
    people: list[Person],
    start: dt.date,
    days: int,
    interval_min: int,
    cfg: SeatsConfig | None = None,
) -> Roster:
    cfg = cfg or load_seats_config()
    if days < 1:
        raise SeatsError(f"--days must be >= 1, got {days}")
    if interval_min not in (15, 30):
        raise SeatsError(f"--interval-min must be 15 or 30, got {interval_min}")
    shifts = load_shifts(cfg.path, cfg.raw)
    patterns = load_patterns(cfg.path, cfg.raw, shifts)
    for p in people:
        if p.pattern not in patterns:
            raise SeatsError(f"{p.id}: unknown pattern {p.pattern!r} (known: {', '.join(patterns)})")
    # public holidays in the horizon from the flows' calendar (hotline.calendar, via load_labour)
    rules = load_labour(cfg.path, cfg.raw, (start, start + dt.timedelta(days=days)))
    return Roster(start, days, interval_min, shifts, patterns, rules, people)


def roster_settings(cfg: SeatsConfig) -> dict:
    raw = cfg.raw.get("roster", {}) or {}
    if not isinstance(raw, dict):
        raise SeatsError("'roster' must be a mapping", where=where(cfg.path, cfg.raw, "roster"))
    pattern = str(raw.get("pattern", "three_shift"))
    return {
        "pattern": pattern,
        "time_limit_s": get_number(cfg.path, raw, "time_limit_s", 60.0, low=0.1),
        "workers": get_number(cfg.path, raw, "workers", 2, low=1, integer=True),
        "gap_ratio": get_number(cfg.path, raw, "gap_ratio", 0.01, low=0.0, high=1.0),
    }
