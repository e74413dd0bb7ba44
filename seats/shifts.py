"""Shifts, shift patterns and labour rules as plain data, read from seats.yaml.

A shift belongs to the calendar day it starts on and is at most one a day per
person.  Labour rules default to Chinese law (Labour Law arts. 36, 38, 41; the
1995 State Council regulation on working hours); the figures the law leaves to
the employer (rest between shifts, nights in a row, fairness) are house policy
and say so in config/seats.yaml.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from dataclasses import dataclass, field

from seats.config import get_number, where
from seats.errors import SeatsError


@dataclass(frozen=True)
class Shift:
    code: str
    name: str
    start_min: int  # minutes after midnight of the day it belongs to
    minutes: int
    night: bool = False

    @property
    def end_min(self) -> int:
        return self.start_min + self.minutes

    @property
    def morning(self) -> bool:
        return not self.night and 5 * 60 <= self.start_min < 11 * 60

    def label(self) -> str:
        end = self.end_min % 1440
        return f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@dataclass(frozen=True)
class Pattern:
    id: str
    name: str
    shifts: tuple[str, ...]
    cycle: str | None = None  # one character per day, a shift code or '-' for rest


@dataclass(frozen=True)
class LabourRules:
    system: str = "comprehensive"
    max_hours_day: float = 8
    hours_week: float = 40
    max_hours_any_week: float = 48
    max_overtime_h_month: float = 36
    overtime_max_h_day: float = 3
    min_rest_days_week: int = 1
    min_rest_between_h: float = 12
    no_night_into_morning: bool = True
    max_consecutive_nights: int = 3
    fairness_slack: int = 1
    holidays: tuple[dt.date, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["holidays"] = [h.isoformat() for h in self.holidays]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabourRules":
        d = dict(d)
        d["holidays"] = tuple(dt.date.fromisoformat(h) for h in d.get("holidays", []))
        return cls(**d)


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def load_shifts(path: pathlib.Path, raw: dict) -> dict[str, Shift]:
    section = raw.get("shifts")
    if not isinstance(section, dict) or not section:
        raise SeatsError("'shifts' must map shift codes to {start, hours}", where=where(path, raw, "shifts"))
    shifts = {}
    for code, spec in section.items():
        if not isinstance(spec, dict):
            raise SeatsError(f"shift {code!r} must be a mapping", where=where(path, section, code))
        if len(str(code)) != 1 or str(code) == "-":
            raise SeatsError(f"shift code {code!r} must be one character, not '-'", where=where(path, section, code))
        m = _TIME.match(str(spec.get("start", "")))
        if not m:
            raise SeatsError(
                f"shift {code!r}: start must be HH:MM, got {spec.get('start')!r}",
                where=where(path, spec, "start"),
            )
        hours = get_number(path, spec, "hours", low=0.5, high=24)
        shifts[str(code)] = Shift(
            str(code), str(spec.get("name", code)), int(m[1]) * 60 + int(m[2]),
            int(round(hours * 60)), bool(spec.get("night", False)),
        )
    return shifts


def load_patterns(path: pathlib.Path, raw: dict, shifts: dict[str, Shift]) -> dict[str, Pattern]:
    section = raw.get("patterns")
    if not isinstance(section, dict) or not section:
        raise SeatsError("'patterns' must map pattern ids to {shifts, cycle}", where=where(path, raw, "patterns"))
    patterns = {}
    for pid, spec in section.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("shifts"), list) or not spec["shifts"]:
            raise SeatsError(f"pattern {pid!r} needs a 'shifts' list", where=where(path, section, pid))
        for code in spec["shifts"]:
            if str(code) not in shifts:
                raise SeatsError(f"pattern {pid!r}: unknown shift {code!r}", where=where(path, spec, "shifts"))
        cycle = spec.get("cycle")
        if cycle is not None:
            cycle = str(cycle)
            bad = [c for c in cycle if c != "-" and c not in spec["shifts"]]
            if not cycle or bad:
                raise SeatsError(
                    f"pattern {pid!r}: cycle {cycle!r} may hold only its shifts and '-'",
                    where=where(path, spec, "cycle"),
                )
        patterns[str(pid)] = Pattern(str(pid), str(spec.get("name", pid)), tuple(map(str, spec["shifts"])), cycle)
    return patterns


def calendar_holidays(path: pathlib.Path, between: tuple[dt.date, dt.date] | None = None) -> tuple[dt.date, ...]:
    """Public holidays from the one calendar (hotline.calendar) that flows and reports read too.

    calendar.yaml beside seats.yaml, else the config folder's.  ``between`` is a
    roster's horizon [start, end); without it, last year onwards, so the list a
    roster saves stays short.
    """
    from hotline import calendar

    beside = pathlib.Path(path).parent / calendar.FILE
    cal = calendar.load(beside if beside.is_file() else None)
    if between is None:
        between = (dt.date(dt.date.today().year - 1, 1, 1), cal.last_day + dt.timedelta(days=1))
    return cal.between(*between)


def load_labour(path: pathlib.Path, raw: dict, between: tuple[dt.date, dt.date] | None = None) -> LabourRules:
    """``labour.holidays`` adds days to the calendar's (a local day off the calendar does not know)."""
    lab = raw.get("labour", {}) or {}
    if not isinstance(lab, dict):
        raise SeatsError("'labour' must be a mapping", where=where(path, raw, "labour"))
    system = lab.get("system", "comprehensive")
    if system not in ("standard", "comprehensive"):
        raise SeatsError(
            f"'system' must be standard or comprehensive, got {system!r}", where=where(path, lab, "system")
        )
    holidays = []
    for h in lab.get("holidays", []) or []:
        try:
            holidays.append(h if isinstance(h, dt.date) else dt.date.fromisoformat(str(h)))
        except ValueError:
            raise SeatsError(f"holiday {h!r} is not a YYYY-MM-DD date", where=where(path, lab, "holidays")) from None
    g = lambda key, default, **kw: get_number(path, lab, key, default, **kw)  # noqa: E731
    return LabourRules(
        system=system,
        max_hours_day=g("max_hours_day", 8, low=1, high=24),
        hours_week=g("hours_week", 40, low=1, high=168),
        max_hours_any_week=g("max_hours_any_week", 48, low=1, high=168),
        max_overtime_h_month=g("max_overtime_h_month", 36, low=0),
        overtime_max_h_day=g("overtime_max_h_day", 3, low=0, high=16),
        min_rest_days_week=g("min_rest_days_week", 1, low=0, high=7, integer=True),
        min_rest_between_h=g("min_rest_between_h", 12, low=0, high=48),
        no_night_into_morning=bool(lab.get("no_night_into_morning", True)),
        max_consecutive_nights=g("max_consecutive_nights", 3, low=1, high=31, integer=True),
        fairness_slack=g("fairness_slack", 1, low=0, integer=True),
        holidays=tuple(sorted(set(holidays) | set(calendar_holidays(path, between)))),
    )


def transition_ok(a: Shift, b: Shift, day_gap: int, rules: LabourRules) -> str | None:
    """Why shift ``b``, ``day_gap`` days after ``a``, may not follow it (None if it may)."""
    rest_min = day_gap * 1440 + b.start_min - a.end_min
    if rest_min < rules.min_rest_between_h * 60:
        return f"only {rest_min / 60:g} h rest between {a.code} and {b.code} (minimum {rules.min_rest_between_h:g} h)"
    if rules.no_night_into_morning and a.night and b.morning and day_gap == 1:
        return f"night shift {a.code} straight into morning shift {b.code}"
    return None
