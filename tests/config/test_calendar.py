"""One holiday calendar (chinesecalendar + config/calendar.yaml) for flows, rosters and reports, and its end."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from hotline import calendar, paths, yamlconf
from hotline.errors import UserError
from ivr.flows import model as m, steps
from ivr.flows.config import load_config

D = dt.date


@pytest.fixture
def folder(tmp_path):
    shutil.copy(paths.DEFAULTS / "centers.yaml", tmp_path / "centers.yaml")
    yamlconf.clear()
    yield tmp_path
    yamlconf.clear()
    paths.reset()


def write(folder, text: str):
    (folder / "calendar.yaml").write_text(text, encoding="utf-8")
    return folder / "calendar.yaml"


def calendar_problems(folder, today):
    pc = load_config(folder, today=today)
    return [p for p in pc.problems if p.file.endswith("calendar.yaml")]


# ---------------------------------------------------------------- the end of the calendar
LOCAL_2027 = "years: [2027]\nholidays:\n  - 2027-10-01..2027-10-07\nworkdays: [2027-10-09]\n"


def test_warning_within_60_days_of_the_last_known_day(folder):
    write(folder, LOCAL_2027)
    assert calendar.load(folder / "calendar.yaml").last_known_day() == D(2027, 12, 31)
    assert calendar_problems(folder, D(2027, 10, 31)) == []                 # 61 days left
    (warning,) = calendar_problems(folder, D(2027, 11, 1))                  # 60 days left
    assert warning.severity == "warning" and warning.line == 1
    assert "ends on 2027-12-31, in 60 days" in warning.message and "2028" in warning.message
    assert not warning.is_error


def test_error_after_the_last_known_day(folder):
    write(folder, LOCAL_2027)
    assert calendar_problems(folder, D(2027, 12, 31))[0].severity == "warning"   # the last day is known
    (error,) = calendar_problems(folder, D(2028, 1, 1))
    assert error.is_error and "ended on 2027-12-31 (1 days ago)" in error.message


def test_library_alone_ends_with_its_last_year_and_warns_today(folder):
    """The issue: today (2026-12-03) the shipped calendar has 28 days left, and now it says so."""
    write(folder, "years: []\nholidays: []\nworkdays: []\n")
    assert calendar.load(folder / "calendar.yaml").last_known_day() == D(2026, 12, 31)   # chinesecalendar 1.11.0
    (warning,) = calendar_problems(folder, D(2026, 12, 3))
    assert "in 28 days" in warning.message and "add 2027's State Council holiday notice" in warning.message
    assert calendar_problems(folder, D(2027, 1, 1))[0].is_error


def test_shipped_calendar_file_reads_clean_apart_from_its_end():
    pc = load_config(paths.DEFAULTS, today=D(2026, 6, 1))
    assert [str(p) for p in pc.problems if p.file.endswith("calendar.yaml")] == []


# ---------------------------------------------------------------- library and local file
def test_library_knows_the_published_spring_festival():
    cal = calendar.merge()
    days = [D(2026, 2, 15) + dt.timedelta(days=n) for n in range(9)]           # 2026-02-15..23, 9 days
    assert all(cal.is_holiday(d) for d in days) and not cal.is_holiday(D(2026, 2, 24))
    assert cal.is_workday(D(2026, 2, 14)) and cal.is_workday(D(2026, 2, 28))   # Saturdays worked (调休)
    assert cal.source(D(2026, 2, 16)) == calendar.LIBRARY
    # chinesecalendar 1.11.0 stops at 2026: 2027's Spring Festival is not known, so nothing is a holiday
    assert cal.source(D(2027, 2, 8)) == "unknown" and not cal.is_holiday(D(2027, 1, 1))


def test_local_correction_wins_over_the_library(folder):
    path = write(folder, "holidays: [2026-09-03]   # 延边朝鲜族自治州成立纪念日\nworkdays: [2026-10-07]\n")
    cal = calendar.load(path)
    assert not cal.is_holiday(D(2026, 10, 7)) and cal.is_workday(D(2026, 10, 7))
    assert cal.source(D(2026, 10, 7)) == "calendar.yaml"
    assert cal.is_holiday(D(2026, 9, 3)) and not cal.is_workday(D(2026, 9, 3))
    assert cal.is_holiday(D(2026, 10, 6)) and cal.source(D(2026, 10, 6)) == calendar.LIBRARY
    assert cal.last_known_day() == D(2026, 12, 31)      # entries without 'years' extend nothing


def test_mistake_in_the_local_file_names_its_line(folder):
    path = write(folder, "holidays:\n  - 2026-09-03\n  - tomorrow\n")
    with pytest.raises(UserError, match=r"calendar.yaml:3:5: 'tomorrow' is not a date"):
        calendar.load(path)
    problems = calendar_problems(folder, D(2026, 6, 1))
    assert [(p.line, p.is_error) for p in problems] == [(3, True)]


# ---------------------------------------------------------------- flows, rosters, reports agree
@pytest.mark.parametrize("day,holiday", [(D(2026, 10, 7), False), (D(2026, 9, 3), True),
                                         (D(2026, 10, 2), True), (D(2026, 10, 12), False)])
def test_flows_rosters_and_reports_read_the_same_calendar(folder, day, holiday):
    from acd.db import report
    from seats.shifts import calendar_holidays

    write(folder, "holidays: [2026-09-03]\nworkdays: [2026-10-07]\n")
    shutil.copy(paths.DEFAULTS / "seats.yaml", folder / "seats.yaml")
    config = load_config(folder, today=D(2026, 6, 1)).config
    facts = steps.Facts(now=dt.datetime.combine(day, dt.time(10, 0), steps.CHINA),
                        holidays=config.holidays, workdays=config.workdays)
    flows = steps.case_matches(m.Case({"holiday": True}, "x"), facts)
    rosters = day in calendar_holidays(folder / "seats.yaml", (D(2026, 9, 1), D(2026, 11, 1)))
    paths.use(folder)
    reports = report._holiday(day.isoformat())
    assert flows == rosters == reports == holiday
    assert steps.case_matches(m.Case({"workday": True}, "x"), facts) == calendar.load().is_workday(day)
