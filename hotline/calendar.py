"""China's public holidays and 调休 working days: one calendar for flows, rosters and reports.

The State Council publishes each year's arrangement in November, so a
calendar typed in by hand runs out every New Year and nothing notices.  The
maintained ``chinesecalendar`` library carries the published years;
``config/calendar.yaml`` stays the local file for what the library does not
have yet (next year's notice before a release) and for corrections.  A local
entry wins over the library for its day.  The calendar knows a day when the
library has its year or calendar.yaml lists the year under ``years:``; past
the last known day a holiday would silently be a workday, which is why
:func:`expiry` turns the distance to that day into a warning, then an error.

Flows, the seat planner and the reports all ask this module (a branch
condition and a roster must not disagree about 1 October).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import pathlib
from dataclasses import dataclass

import chinese_calendar

from hotline import paths
from hotline.errors import UserError

FILE = "calendar.yaml"
#: The day the calendar's end is measured from, when set (ISO date): the test suite pins it so the
#: shipped config does not start failing on the wall clock's New Year; an operator can rehearse a date.
TODAY_ENV = "HOTLINE_TODAY"
CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
KEYS = ("years", "holidays", "workdays")
#: ``ivr check`` warns this many days before the last day the calendar knows.
WARN_DAYS = 60
LIBRARY = f"chinesecalendar {getattr(chinese_calendar, '__version__', '')}".strip()
_LIB_YEARS = sorted({d.year for d in chinese_calendar.constants.holidays})
ENTRY_HELP = "a date (2026-10-01) or a range (2026-10-01..2026-10-08)"


@dataclass(frozen=True)
class Local:
    """What calendar.yaml says: days off, weekend days worked, and the years it lists in full."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    years: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[dt.date]       # library and local together, local winning
    workdays: frozenset[dt.date]       # weekend days worked in lieu (调休)
    last_day: dt.date
    local: Local = Local()

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays

    def is_workday(self, day: dt.date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)

    def last_known_day(self) -> dt.date:
        return self.last_day

    def source(self, day: dt.date) -> str:
        """Who decided the day: the local file, the library, or nobody (past the known years)."""
        if day in self.local.holidays or day in self.local.workdays:
            return FILE
        if day.year in _LIB_YEARS:
            return LIBRARY
        if day.year in self.local.years:
            return FILE
        return "unknown"

    def between(self, start: dt.date, end: dt.date) -> tuple[dt.date, ...]:
        """The holidays from ``start`` up to, not including, ``end``."""
        return tuple(sorted(d for d in self.holidays if start <= d < end))


def entry_days(item) -> list[dt.date]:
    """The days of one calendar.yaml entry; ValueError when it is not :data:`ENTRY_HELP`."""
    if isinstance(item, dt.datetime):
        raise ValueError
    if isinstance(item, dt.date):
        return [item]
    if not isinstance(item, str):
        raise ValueError
    a, sep, b = item.partition("..")
    start = dt.date.fromisoformat(a.strip())
    end = dt.date.fromisoformat(b.strip()) if sep else start
    if end < start or (end - start).days > 60:
        raise ValueError
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def parse(data) -> tuple[Local, list[tuple[tuple, str]]]:
    """calendar.yaml's data and its mistakes as (path in the file, message); one reader for every caller."""
    mistakes: list[tuple[tuple, str]] = []
    if data is None:
        return Local(), mistakes
    if not isinstance(data, dict):
        return Local(), [((), f"{FILE} must be a mapping of {', '.join(KEYS)}")]
    for key in data:
        if key not in KEYS:
            mistakes.append(((key,), f"unknown key '{key}' (known: {', '.join(KEYS)})"))
    sets: dict[str, set[dt.date]] = {}
    for key in ("holidays", "workdays"):
        days: set[dt.date] = set()
        items = data.get(key) or []
        if not isinstance(items, list):
            mistakes.append(((key,), f"'{key}' must be a list of dates (2026-10-01) or ranges (2026-10-01..2026-10-08)"))
            items = []
        for i, item in enumerate(items):
            try:
                days.update(entry_days(item))
            except ValueError:
                mistakes.append(((key, i), f"'{item}' is not {ENTRY_HELP}"))
        sets[key] = days
    both = sets["holidays"] & sets["workdays"]
    if both:
        mistakes.append((("workdays",), f"{min(both)} is both a holiday and a workday"))
    years = data.get("years") or []
    if not isinstance(years, list) or any(isinstance(y, bool) or not isinstance(y, int) for y in years):
        mistakes.append((("years",), "'years' must be a list of years this file lists in full, e.g. [2027]"))
        years = []
    return Local(frozenset(sets["holidays"]), frozenset(sets["workdays"] - both), frozenset(years)), mistakes


@functools.lru_cache(maxsize=8)
def merge(local: Local = Local()) -> Calendar:
    """The library's published years with the local file laid over them."""
    lib_h = {d for d in chinese_calendar.constants.holidays if d not in local.workdays}
    lib_w = {d for d in chinese_calendar.constants.workdays if d not in local.holidays}
    last_year = max([*_LIB_YEARS, *local.years])
    return Calendar(holidays=frozenset(lib_h | local.holidays), workdays=frozenset(lib_w | local.workdays),
                    last_day=dt.date(last_year, 12, 31), local=local)


def today() -> dt.date:
    """Today in China, or the day ``$HOTLINE_TODAY`` names."""
    text = os.environ.get(TODAY_ENV)
    if not text:
        return dt.datetime.now(CHINA).date()
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"${TODAY_ENV}={text!r} is not a date (2026-12-03)") from None


def expiry(last_day: dt.date, today: dt.date, warn_days: int = WARN_DAYS) -> tuple[str, str] | None:
    """("warning" | "error", sentence) when the calendar ends within ``warn_days`` of ``today`` or has ended."""
    left = (last_day - today).days
    year = last_day.year + 1
    fix = (f"add {year}'s State Council holiday notice to {FILE} (holidays, workdays, years: [{year}]) "
           f"or upgrade chinesecalendar")
    if left < 0:
        return "error", (f"the holiday calendar ended on {last_day} ({-left} days ago): holidays after it are "
                         f"treated as workdays by 'holiday'/'workday' branches and rosters; {fix}")
    if left <= warn_days:
        return "warning", (f"the holiday calendar ends on {last_day}, in {left} days: after it holidays are "
                           f"treated as workdays; {fix}")
    return None


def load(path: str | os.PathLike | None = None) -> Calendar:
    """The calendar with ``path`` (else calendar.yaml in the config folder) laid over the library.

    A missing file means the library alone; a mistake in the file is a UserError naming FILE:LINE:COL.
    """
    from hotline import yamlconf

    path = pathlib.Path(path) if path is not None else paths.config_file(FILE)
    if not path.exists():
        return merge()
    doc = yamlconf.document(path)
    if doc.problems:
        raise UserError(str(doc.problems[0]))
    local, mistakes = parse(doc.data)
    if mistakes:
        where, message = mistakes[0]
        mark = doc.at(where)
        raise UserError(message, where=f"{path}:{mark.line}:{mark.col}")
    return merge(local)


def is_holiday(day: dt.date, path=None) -> bool:
    return load(path).is_holiday(day)


def is_workday(day: dt.date, path=None) -> bool:
    return load(path).is_workday(day)


def last_known_day(path=None) -> dt.date:
    return load(path).last_known_day()


def source(day: dt.date, path=None) -> str:
    return load(path).source(day)
