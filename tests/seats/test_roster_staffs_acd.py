"""Issue 13 item 7: rosters that staff the ACD.

Each center is rostered once for a week (a second of CP-SAT, the real solver,
run in this process: a dozen solves need not each start Python and import
OR-Tools; the other commands run as the user runs them) and the file is
shared by the tests below: its people are the ACD's agents
plus new people, no interval is left empty where the headcount allows one,
skills are checked, and the command says what the headcount cannot cover
before solving and after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from acd import config as acd_config
from seats import checks
from seats import roster as rmod
from seats.config import load_centers, load_seats_config
from seats.sizing import size_province

ROOT = pathlib.Path(__file__).resolve().parents[2]
START = "2026-01-05"
SOLVE = ["--days", "7", "--start", START, "--time-limit", "1", "--workers", "2", "--gap", "0.05", "--no-progress"]


def seats(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "seats.cli", *args], capture_output=True, text=True, env=env)


def seats_here(*args: str) -> subprocess.CompletedProcess:
    """``seats ARGS`` run by this process's ``main`` at the same 200 columns, its output captured."""
    from seats.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COLUMNS", "200")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    return subprocess.CompletedProcess(["seats", *args], code, out.getvalue(), err.getvalue())


def flat(text: str) -> str:
    return " ".join(text.split())


def _sizes():
    cfg = load_seats_config()
    return {s.center: s for s in size_province(load_centers(ROOT / "config" / "centers.yaml"), cfg)["centers"]
            if s.operators > 0}


SIZES = _sizes()
AGENTS = acd_config.load().agents


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """center -> (roster path, completed process); each center solved at most once."""
    folder = tmp_path_factory.mktemp("rosters")
    cache: dict[str, tuple[pathlib.Path, subprocess.CompletedProcess]] = {}

    def get(center: str):
        if center not in cache:
            path = folder / f"{center}.json"
            out = seats_here("roster", "new", "--out", str(path), "--center", center, *SOLVE)
            assert out.returncode == 0, out.stderr
            cache[center] = (path, out)
        return cache[center]

    return get


@pytest.mark.parametrize("center", sorted(SIZES))
def test_no_interval_is_empty_where_the_headcount_allows_one(built, center):
    path, _ = built(center)
    r = rmod.load(path)
    need, cov = r.requirement[center], r.coverage(center)
    empty = [i for i in range(r.intervals) if need[i] > 0 and cov[i] == 0]
    # only a headcount whose hours cannot reach every interval once may leave some empty
    people = sum(1 for p in r.people if p.center == center)
    reach = people * r.rules.hours_week * r.days / 7 * 60 / r.interval_min
    unavoidable = max(0, sum(1 for n in need if n > 0) - int(reach))
    assert len(empty) <= unavoidable, [r.interval_time(i).isoformat() for i in empty[:5]]
    assert checks.check(r) == []


@pytest.mark.parametrize("center", ["liaoyuan", "yanbian", "changchun"])
def test_people_are_the_acd_agents_then_new_people(built, center):
    r = rmod.load(built(center)[0])
    mine = [p for p in r.people if p.center == center]
    agents = {a.id: a for a in AGENTS if a.center == center}
    assert agents, f"acd.yaml has no agents in {center}"
    by_id = {p.id: p for p in mine}
    for aid, a in agents.items():
        assert aid in by_id, f"ACD agent {aid} is not in the roster"
        assert by_id[aid].agent_id == aid and by_id[aid].skills == dict(a.skills) and by_id[aid].name == a.name
    new = [p for p in mine if p.id not in agents]
    assert all(re.fullmatch(rf"new-{center}-\d{{3}}", p.id) and p.agent_id == "" for p in new)
    assert len(mine) == max(SIZES[center].operators, len(agents))   # the plan's 3 call-takers a seat


def test_korean_coverage_in_yanbian_is_checked_and_spread(built):
    path, out = built("yanbian")
    r = rmod.load(path)
    rep = checks.skill_report(r)["yanbian"]["ko"]
    korean = sorted(a.id for a in AGENTS if a.center == "yanbian" and "ko" in a.skills)
    assert rep["holders"] == korean and rep["wanted_intervals"] == r.intervals   # around the clock
    # read the duties directly: an interval counts when a Korean speaker is on duty
    on = [0] * r.intervals
    for (pid, day), duty in r.duties.items():
        if pid in korean:
            s, e = r.duty_span(day, duty)
            for i in range(s // r.interval_min, e // r.interval_min):
                on[i] = 1
    assert rep["short_intervals"] == r.intervals - sum(on)
    # two speakers at 5 shifts a week can hold 10 of the 21 shifts: not both on the same one
    assert sum(on) >= 10 * 8 * 60 // r.interval_min - 16
    assert "ko" in flat(out.stdout) and f"{rep['coverage_pct']}%" in out.stdout
    check = seats("roster", "check", str(path))
    assert re.search(r"yanbian\s*│\s*ko\s*│\s*2\s*│", check.stdout), check.stdout


def test_headcount_message_comes_before_the_solve_with_the_figure(built):
    _, out = built("yanbian")
    text = flat(out.stdout)
    seats_n = SIZES["yanbian"].seats
    short_week = seats_n * (168 - 3 * 40)             # every seat staffed: 48 h a seat a week missing
    line = (f"3 call-takers per seat at 40 h/week cover 120 of 168 seat-hours (71%); "
            f"the roster will be short by at least {short_week} agent-hours a week")
    assert text.startswith(line), text[:300]
    assert text.index(line) < text.index("Coverage (")


def test_final_line_says_how_short_and_where(built):
    path, out = built("liaoyuan")
    cov = checks.coverage_report(rmod.load(path))["liaoyuan"]
    assert cov["short_intervals"] > 0
    tail = flat(out.stdout)[-400:]
    assert not tail.endswith(f"roster saved to {path}")
    assert (f"roster saved to {path}: {cov['short_intervals']} of {cov['intervals']} center-intervals short by "
            f"{cov['short_agent_hours']:g} agent-hours") in tail, tail
    w = cov["worst"]
    assert f"worst: liaoyuan {w['at']}, {w['on_duty']} of {w['needed']} on duty" in tail


def test_headcount_that_covers_says_so_before_and_after(tmp_path):
    conf = tmp_path / "seats.yaml"
    conf.write_text((ROOT / "config" / "seats.yaml").read_text(encoding="utf-8")
                    .replace("operators_per_seat: 3", "operators_per_seat: 5"), encoding="utf-8")
    for beside in ("forecast-sample.csv", "calendar.yaml"):   # files seats.yaml names, read beside it
        if (ROOT / "config" / beside).is_file():
            (tmp_path / beside).write_bytes((ROOT / "config" / beside).read_bytes())
    path = tmp_path / "r.json"
    out = seats("--config", str(conf), "roster", "new", "--out", str(path), "--center", "changbaishan", *SOLVE)
    assert out.returncode == 0, out.stderr
    text = flat(out.stdout)
    assert text.startswith("5 call-takers per seat at 40 h/week cover 168 of 168 seat-hours (100%); "
                           "the headcount can cover the requirement")
    assert text.endswith(f"roster saved to {path}: every interval covered")


def test_on_duty_lists_acd_ids_and_adherence_matches_them(built, tmp_path):
    path, _ = built("liaoyuan")
    r = rmod.load(path)
    day, duty = r.person_duties("1701")[0]
    s, e = r.duty_span(day, duty)
    base = dt.datetime.combine(r.start, dt.time())
    at = base + dt.timedelta(minutes=s + 60)
    out = seats("roster", "on-duty", str(path), "--at", at.strftime("%Y-%m-%dT%H:%M"), "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["centers"]["liaoyuan"]
    assert "1701" in [row["agent_id"] for row in rows]
    assert all(row["agent_id"] == row["person"] or (row["agent_id"] == "" and row["person"].startswith("new-"))
               for row in rows)
    text = seats("roster", "on-duty", str(path), "--at", at.strftime("%Y-%m-%dT%H:%M")).stdout
    assert re.search(r"^\s+1701\s", text, re.MULTILINE) and "not yet in acd.yaml" in text
    # the ACD's log-ins carry the same id: 1701 on time is no absence, the new people are not judged
    log = tmp_path / "agents.csv"
    t0, t1 = base + dt.timedelta(minutes=s - 2), base + dt.timedelta(minutes=e + 1)
    log.write_text(f"agent_id,event,ts\n1701,login,{t0.isoformat()}\n1701,logout,{t1.isoformat()}\n",
                   encoding="utf-8")
    day_start = (base + dt.timedelta(days=day)).date().isoformat()
    rep = json.loads(seats("adherence", str(path), "--log", str(log), "--from", day_start, "--to", day_start,
                           "--json").stdout)
    mine = [d for d in rep["duties"] if d["agent_id"] == "1701"]
    assert [d["status"] for d in mine] == ["ok"] and rep["unrostered_agents"] == []
    assert all(d["agent_id"] for d in rep["duties"]) and rep["duties_without_agent"] > 0
