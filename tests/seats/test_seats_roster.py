"""Rosters built by CP-SAT, read back by an independent checker."""

from __future__ import annotations

import copy

import pytest

from seats import checks, roster as rmod
from seats.roster import Duty
from seats.solver import solve_center

from seats_helpers import make_roster


def test_small_center_is_covered_and_lawful(solved_center):
    r, stats = solved_center
    assert stats.status in ("OPTIMAL", "FEASIBLE")
    assert stats.first_solution_s is not None
    assert checks.check(r) == []
    cov = r.coverage("tonghua")
    need = r.requirement["tonghua"]
    assert all(c >= n for c, n in zip(cov, need)), checks.group_shortfalls(r, "tonghua")
    assert stats.objective == 0


def test_solved_roster_obeys_each_rule_read_directly(solved_center):
    """Re-derive the main rules from the duties, without the checker."""
    r, _ = solved_center
    for p in r.people:
        days = {d: duty.shift for (pid, d), duty in r.duties.items() if pid == p.id}
        assert sum(8 for _ in days) <= 40                       # 40 h in the week
        assert 7 - len(days) >= 1                               # a rest day
        for d, s in days.items():
            nxt = days.get(d + 1)
            if s == "N":
                assert nxt != "M"                               # no night into morning
            if s == "A":
                assert nxt not in ("M", "N")                    # 8 h and 0 h rests
            if s == "M":
                assert nxt != "N"


def test_roster_survives_its_file_form(solved_center, tmp_path):
    r, _ = solved_center
    rmod.save(r, tmp_path / "r.json")
    back = rmod.load(tmp_path / "r.json")
    assert back.duties == r.duties and back.requirement == r.requirement
    assert back.coverage("tonghua") == r.coverage("tonghua")


def test_short_headcount_reports_shortfall_instead_of_failing(cfg):
    r = make_roster(cfg, 6, need=4)  # 6 people, 4 on duty round the clock: impossible
    stats = solve_center(r, "tonghua", time_limit_s=5)
    assert stats.status in ("OPTIMAL", "FEASIBLE")
    short = r.shortfalls("tonghua")
    assert short, "6 people cannot keep 4 on duty 24x7"
    total = sum(n - h for _, n, h in short)
    assert total == stats.objective  # what the solver minimised is what the roster lacks
    # 6 people x 40 h = 240 h against 4 x 168 = 672 h: at least 432 h short
    assert total * 0.5 >= 672 - 240 - 1e-9
    spans = checks.group_shortfalls(r, "tonghua")
    assert spans and all(s["max_short"] >= 1 for s in spans)
    assert checks.check(r) == []  # short, but still lawful


def test_four_crew_pattern_follows_its_cycle(cfg):
    r = make_roster(cfg, 8, days=16, pattern="four_crew", need=2)
    solve_center(r, "tonghua", time_limit_s=5)
    cycle = r.patterns["four_crew"].cycle
    for p in r.people:
        row = "".join(r.duties[(p.id, d)].shift if (p.id, d) in r.duties else "-" for d in range(r.days))
        assert any(row == (cycle * 4)[k:k + r.days] for k in range(len(cycle))), row
    # 8 people on an 8-day cycle cover each shift of every day twice
    assert min(r.coverage("tonghua")) == 2
    assert not [v for v in checks.check(r) if v.kind == "law"]


def _blank(cfg, n=2, days=14):
    return make_roster(cfg, n, days=days)


def test_checker_catches_each_rule(cfg):
    r = _blank(cfg)
    r.duties[("p00", 0)] = Duty("A")
    r.duties[("p00", 1)] = Duty("M")        # 8 h rest after 16-24
    r.duties[("p00", 3)] = Duty("N")
    r.duties[("p00", 4)] = Duty("M")        # night straight into morning
    r.duties[("p00", 5)] = Duty("M", overtime_min=240)  # 4 h overtime in a day
    for d in range(7, 14):
        r.duties[("p01", d)] = Duty("N")    # 7 nights: no rest day, 56 h, nights in a row
    rules = {v.rule for v in checks.check(r)}
    assert {"rest_between", "night_into_morning", "overtime_day", "rest_day", "hours_week",
            "nights_in_a_row"} <= rules


def test_checker_overtime_cap(cfg):
    r = _blank(cfg, n=1, days=28)
    for d in range(28):
        if d % 7 < 6:
            r.duties[("p00", d)] = Duty("M")  # 24 shifts = 192 h against 160 h
    found = [v for v in checks.check(r) if v.rule == "overtime_month"]
    assert not found  # 32 h overtime is within 36 h a month (33.6 h for 28 days)
    r.duties[("p00", 6)] = Duty("M")
    assert [v for v in checks.check(r) if v.rule == "overtime_month"]


def test_fairness_spread(cfg):
    r = _blank(cfg, n=3)
    for d in range(0, 6, 2):
        r.duties[("p00", d)] = Duty("N")       # p00: 3 nights, p01: 0, p02: 0
    v = [x for x in checks.check(r) if x.rule == "fair_nights"]
    assert v and "p00" in v[0].detail and v[0].kind == "fairness"
    r.duties[("p01", 1)] = Duty("N")
    r.duties[("p02", 1)] = Duty("N")
    assert not [x for x in checks.check(r) if x.rule == "fair_nights"]


def test_solver_spreads_nights_fairly(solved_center):
    r, _ = solved_center
    nights = [checks.counts(r, p.id)["nights"] for p in r.people]
    assert max(nights) - min(nights) <= 2 * r.rules.fairness_slack
    assert sum(nights) > 0


def test_coverage_counts_duties_by_interval(cfg):
    r = _blank(cfg, n=2, days=7)
    r.duties[("p00", 0)] = Duty("M")            # 08-16 on day 0
    r.duties[("p01", 0)] = Duty("A", 60)        # 16-25 on day 0 (one hour overtime)
    cov = r.coverage("tonghua")
    assert cov[15] == 0 and cov[16] == 1 and cov[31] == 1 and cov[32] == 1
    assert cov[49] == 1 and cov[50] == 0       # overtime runs to 01:00 of day 1


def test_damaged_roster_file_is_a_clear_error(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('{"format": "hotline12345-roster/1", "start": "2026-01-05"', encoding="utf-8")
    with pytest.raises(Exception) as err:
        rmod.load(p)
    assert f"{p}:1" in str(err.value)
    p.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(Exception, match="not a roster file"):
        rmod.load(p)


def test_copy_is_independent(solved_center):
    r, _ = solved_center
    c = copy.deepcopy(r)
    c.duties.clear()
    assert r.duties


def test_greedy_start_is_lawful_and_fair(cfg):
    """The solver's starting roster must already obey every rule the checker knows."""
    from seats.solver import greedy_hint

    r = make_roster(cfg, 40, days=14)
    need = [10 if 8 <= (i // 2) % 24 < 20 else 3 for i in range(r.intervals)]
    r.requirement = {"tonghua": need}
    start = greedy_hint(r, r.people, need)
    for (pid, d), code in start.items():
        r.duties[(pid, d)] = Duty(code)
    assert start and checks.check(r) == []
    # 23 shifts a day against 40 people x 5 a week: room enough for the greedy to cover it all
    assert r.shortfalls("tonghua") == []
