"""Supervisor changes: re-checked, reported, refused unless forced, and logged."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from seats import changes, checks, export, roster as rmod
from seats.errors import SeatsError
from seats.roster import Duty, Person


def busy_day(r):
    """Make coverage exactly the requirement, so taking anyone off duty leaves a gap."""
    r.requirement["tonghua"] = r.coverage("tonghua")
    (pid, d), _duty = min(r.duties.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    return pid, d


def test_sick_leave_that_breaks_coverage_is_reported(roster_copy):
    r = roster_copy
    pid, d = busy_day(r)
    date = r.date(d).isoformat()
    after = changes.apply(r, {"kind": "leave", "person": pid, "from": date, "leave": "sick"})
    assert (pid, d) not in after.duties and after.leave[(pid, d)] == "sick"
    assert (pid, d) in r.duties  # the original is untouched
    imp = changes.impact(r, after)
    assert imp.breaks and imp.coverage
    assert all(c["center"] == "tonghua" and c["max_short"] == 1 for c in imp.coverage)
    assert any(date in line for line in imp.lines())


def test_swap_that_breaks_rest_names_the_rule(roster_copy):
    r = roster_copy
    # find p with A on day d and q with M on d+1 ... simpler: force a known bad swap
    r.duties[("p00", 2)] = Duty("A")
    r.duties.pop(("p00", 3), None)
    r.duties[("p01", 3)] = Duty("M")
    r.duties.pop(("p00", 3), None)
    after = changes.apply(r, {"kind": "swap", "person": "p00", "with": "p01", "from": r.date(3).isoformat()})
    assert after.duties[("p00", 3)].shift == "M"
    new = changes.impact(r, after).new_violations
    assert any(v.rule == "rest_between" and v.person == "p00" for v in new)


def test_overtime_within_and_beyond_the_law(roster_copy):
    r = roster_copy
    (pid, d), duty = next(iter(sorted(r.duties.items())))
    ok = changes.apply(r, {"kind": "overtime", "person": pid, "date": r.date(d).isoformat(), "hours": 1})
    assert ok.duties[(pid, d)].overtime_min == 60
    assert not [v for v in changes.impact(r, ok).new_violations if v.rule == "overtime_day"]
    bad = changes.apply(r, {"kind": "overtime", "person": pid, "date": r.date(d).isoformat(), "hours": 4})
    assert [v for v in changes.impact(r, bad).new_violations if v.rule == "overtime_day"]
    with pytest.raises(SeatsError, match="no shift"):
        rest_day = next(x for x in range(r.days) if (pid, x) not in r.duties)
        changes.apply(r, {"kind": "overtime", "person": pid, "date": r.date(rest_day).isoformat(), "hours": 1})


def test_move_between_centers(roster_copy):
    r = roster_copy
    r.people.append(Person("x1", "x1", "meihekou", "x1"))
    r.requirement["meihekou"] = [0] * r.intervals
    pid, d = busy_day(r)
    after = changes.apply(r, {"kind": "move", "person": pid, "to_center": "meihekou"})
    assert after.person(pid).center == "meihekou"
    assert sum(after.coverage("meihekou")) > 0
    assert any(c["center"] == "tonghua" for c in changes.impact(r, after).coverage)
    with pytest.raises(SeatsError, match="unknown center"):
        changes.apply(r, {"kind": "move", "person": pid, "to_center": "atlantis"})


def test_record_keeps_who_when_why(roster_copy):
    r = roster_copy
    after = changes.apply(r, {"kind": "unassign", "person": next(iter(r.duties))[0],
                              "date": r.date(next(iter(r.duties))[1]).isoformat()})
    imp = changes.impact(r, after)
    at = dt.datetime(2026, 1, 4, 9, 30, tzinfo=dt.timezone.utc)
    entry = changes.record(after, {"kind": "unassign"}, imp, "王主任", "培训", forced=imp.breaks, now=at)
    assert entry["by"] == "王主任" and entry["why"] == "培训" and entry["at"] == "2026-01-04T09:30:00+00:00"
    with pytest.raises(SeatsError, match="--by"):
        changes.record(after, {}, imp, " ", "x", False)


def test_unknown_people_and_dates_are_errors(roster_copy):
    with pytest.raises(SeatsError, match="no call-taker"):
        changes.apply(roster_copy, {"kind": "leave", "person": "nobody", "from": "2026-01-05"})
    with pytest.raises(SeatsError, match="outside the roster"):
        changes.apply(roster_copy, {"kind": "leave", "person": "p00", "from": "2027-01-05"})


def test_csv_and_icalendar_export(roster_copy, tmp_path):
    r = roster_copy
    n = export.write_csv(r, tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    assert n == len(r.duties) == len(lines) - 1
    assert lines[0].startswith("person,name,agent_id,center,date,shift")
    export.write_ics(r, tmp_path / "ics", stamp=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    ics = (tmp_path / "ics" / "p00.ics").read_bytes().decode("utf-8")
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")
    assert ics.count("BEGIN:VEVENT") == len(r.person_duties("p00"))
    assert "TZID:Asia/Shanghai" in ics
    for line in ics.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75
    night = next(((d, u) for d, u in r.person_duties("p00") if u.shift == "N"), None)
    if night:
        day = r.date(night[0]).strftime("%Y%m%d")
        assert f"DTSTART;TZID=Asia/Shanghai:{day}T000000" in ics


def seats(*args):
    return subprocess.run([sys.executable, "-m", "seats.cli", *args], capture_output=True, text=True)


def test_cli_change_refuses_then_forces_and_logs(roster_copy, tmp_path):
    r = roster_copy
    path = tmp_path / "r.json"
    rmod.save(r, path)
    pid, d = busy_day(r)
    date = r.date(d).isoformat()
    args = ["roster", "change", str(path), "leave", "--person", pid, "--from", date, "--kind", "sick",
            "--by", "李组长", "--why", "发烧"]
    out = seats(*args)
    assert out.returncode == 1 and "breaks coverage" in out.stdout and "not saved" in out.stdout
    assert rmod.load(path).changes == []
    out = seats(*args, "--force", "--json")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)["record"]
    assert rec["by"] == "李组长" and rec["why"] == "发烧" and rec["forced"] and rec["breaks"]
    back = rmod.load(path)
    assert back.leave[(pid, d)] == "sick" and len(back.changes) == 1
    log = seats("roster", "log", str(path))
    assert "李组长" in log.stdout and "发烧" in log.stdout
    # a harmless change saves without --force
    free = next(x for x in range(r.days) if (pid, x) not in back.duties and (pid, x) not in back.leave)
    out = seats("roster", "change", str(path), "unassign", "--person", pid, "--date", back.date(free).isoformat(),
                "--by", "a", "--why", "b")
    assert out.returncode == 2 and "no shift" in out.stderr and "Traceback" not in out.stderr
    out = seats("roster", "check", str(path), "--json")
    data = json.loads(out.stdout)
    assert data["coverage"]["tonghua"]["short_intervals"] > 0


def test_cli_change_needs_who_and_why(tmp_path, roster_copy):
    path = tmp_path / "r.json"
    rmod.save(roster_copy, path)
    out = seats("roster", "change", str(path), "leave", "--person", "p00", "--from", "2026-01-05")
    assert out.returncode == 2 and "--by" in out.stderr


def test_checker_agrees_after_round_trip(roster_copy, tmp_path):
    rmod.save(roster_copy, tmp_path / "r.json")
    assert checks.check(rmod.load(tmp_path / "r.json")) == checks.check(roster_copy)


def test_cli_roster_new_end_to_end(tmp_path):
    """Build, check, change, export: the 'done when' chain on a small center."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "config" / "forecast-sample.csv"
    path = tmp_path / "r.json"
    out = seats("roster", "new", "--out", str(path), "--center", "meihekou", "--start", "2026-01-05",
                "--days", "7", "--forecast", str(sample), "--forecast-population", "1302778",
                "--time-limit", "3", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["people"] == 24 and summary["violations"] == 0 and summary["duties"] > 0
    assert summary["solver"][0]["status"] in ("OPTIMAL", "FEASIBLE")
    r = rmod.load(path)
    assert r.requirement_source.startswith("load:") and max(r.requirement["meihekou"]) > 0
    out = seats("roster", "export", str(path), "--csv", str(tmp_path / "r.csv"), "--ics-dir", str(tmp_path / "ics"))
    assert out.returncode == 0 and len(list((tmp_path / "ics").glob("*.ics"))) == 24
    out = seats("roster", "new", "--out", str(path), "--center", "meihekou", "--require", "load")
    assert out.returncode == 2 and "--forecast" in out.stderr
