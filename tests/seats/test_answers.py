"""Issue 14 for seats: answers that were wrong or confusing, each run through the real command."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

from seats import checks, roster as rmod
from seats_helpers import make_roster

ERLANG = ["erlang", "--calls", "100", "--interval-min", "30", "--aht-s", "300"]


def seats(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seats.cli", *args], capture_output=True, text=True)


def last_line(out: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    return out.stderr.strip().splitlines()[-1]


# ---------------------------------------------------------------- 2: one rule for --target-sl
@pytest.mark.parametrize("given,shown", [("0.9", "90%"), ("90", "90%"), ("90%", "90%"), ("85.5", "85.5%"),
                                         ("0.855", "85.5%"), ("99.9", "99.9%")])
def test_target_sl_fraction_or_percentage_printed_as_given(given, shown):
    out = seats(*ERLANG, "--target-sl", given)
    assert out.returncode == 0, out.stderr
    assert f"(target {shown})" in out.stdout


@pytest.mark.parametrize("given,words", [("1.5", "means 1.5%"), ("100", "100%"), ("1", "100%"), ("0", "means 0%"),
                                         ("101", "over 100%"), ("-5", "not a share"), ("abc", "not a number")])
def test_target_sl_that_makes_no_sense_is_refused_naming_the_flag(given, words):
    out = seats(*ERLANG, "--target-sl", given)
    assert out.returncode == 2
    line = last_line(out)
    assert "--target-sl" in line and words in line


def test_help_states_the_rule():
    text = " ".join(seats("erlang", "--help").stdout.split())
    assert "a plain number up to 1 is a fraction, above 1 a percentage" in text
    assert "from 10% to below 100%" in text


# ---------------------------------------------------------------- 3: a queue that never clears
def test_unstable_queue_is_valid_json_with_an_explicit_field():
    out = seats(*ERLANG, "--agents", "10", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert data["mean_wait_s"] is None and data["stable"] is False
    ok = json.loads(seats(*ERLANG, "--agents", "20", "--json").stdout)
    assert ok["stable"] is True and ok["mean_wait_s"] > 0


def test_unstable_queue_is_said_in_words():
    out = seats(*ERLANG, "--agents", "10")
    text = " ".join(out.stdout.split())
    assert "inf" not in text
    assert "the queue never clears" in text and "at least 17 agents are needed" in text


# ---------------------------------------------------------------- 4: nan and inf
@pytest.mark.parametrize("args,flag", [
    (["erlang", "--calls", "nan", "--interval-min", "30", "--aht-s", "300"], "--calls"),
    (["erlang", "--calls", "10", "--interval-min", "inf", "--aht-s", "300"], "--interval-min"),
    (["erlang", "--calls", "10", "--interval-min", "30", "--aht-s", "300", "--within-s", "inf"], "--within-s"),
    (["erlang", "--calls", "10", "--interval-min", "30", "--aht-s", "300", "--patience-s", "nan"], "--patience-s"),
    (["erlang", "--calls", "10", "--interval-min", "30", "--aht-s", "300", "--shrinkage", "nan"], "--shrinkage"),
    (["size", "--rate", "inf"], "--rate"), (["size", "--rate", "nan"], "--rate"),
])
def test_nan_and_inf_are_one_line_naming_the_flag(args, flag):
    out = seats(*args)
    assert out.returncode == 2
    line = last_line(out)
    assert flag in line and ("finite" in line or "not a share" in line)


# ---------------------------------------------------------------- 5: --out checked before the solve
def test_roster_out_in_a_missing_folder_is_refused_before_solving(tmp_path, monkeypatch, capsys):
    from seats import cli

    def solve(*a, **k):
        raise AssertionError("solved before --out was checked")

    monkeypatch.setattr("seats.solver.solve_center", solve)
    out = tmp_path / "missing" / "r.json"
    assert cli.main(["roster", "new", "--out", str(out), "--center", "changbaishan", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "does not exist" in err
    assert cli.main(["roster", "new", "--out", str(tmp_path), "--center", "changbaishan"]) == 2
    assert "is a folder" in capsys.readouterr().err


# ---------------------------------------------------------------- 6: files that are not text
def _bad_files(tmp_path):
    gbk = "start,calls\n2026-01-05T00:00,12\n# 国庆\n".encode("gbk")
    (tmp_path / "gbk.csv").write_bytes(gbk)
    (tmp_path / "gbk.json").write_bytes('{\n "format": "长春"\n}'.encode("gbk"))
    (tmp_path / "empty").write_bytes(b"")


@pytest.mark.parametrize("args,where,words", [
    (["need", "--forecast", "{d}/gbk.csv"], "gbk.csv:3:", "not UTF-8"),
    (["roster", "check", "{d}/gbk.json"], "gbk.json:2:", "not UTF-8"),
    (["need", "--forecast", "{d}/empty"], "empty:", "empty"),
    (["roster", "show", "{d}/empty"], "empty:", "empty"),
    (["adherence", "{d}/gbk.json", "--log", "{d}/gbk.csv"], "gbk.json:2:", "not UTF-8"),
    (["roster", "check", "{d}"], "", "cannot read roster: Is a directory"),
])
def test_undecodable_empty_or_unreadable_file_is_one_line(tmp_path, args, where, words):
    _bad_files(tmp_path)
    out = seats(*[a.format(d=tmp_path) for a in args])
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    line = last_line(out)
    assert where in line and words in line


def test_people_and_agent_log_not_utf8(tmp_path, cfg):
    from seats.adherence import read_agent_log
    from seats.build import read_people
    from seats.errors import SeatsError

    bad = tmp_path / "people.csv"
    bad.write_bytes("id,name,center\np1,张三,tonghua\n".encode("gbk"))
    with pytest.raises(SeatsError, match=r"people.csv:2: people list is not UTF-8"):
        read_people(bad, {})
    with pytest.raises(SeatsError, match=r"people.csv:2: agent log is not UTF-8"):
        read_agent_log(bad)


# ---------------------------------------------------------------- 7: a center with no seats
@pytest.mark.parametrize("args", [["roster", "new", "--out", "{d}/r.json", "--center", "province"],
                                  ["roster", "new", "--out", "{d}/r.json", "--center", "tonghua", "--center", "province"],
                                  ["compare", "--forecast", "config/forecast-sample.csv", "--center", "province"]])
def test_center_without_seats_says_why(tmp_path, args):
    # the shipped province is sized by its load (tests/seats/test_province_sizing.py); fixed at 0 it has none
    conf = tmp_path / "seats.yaml"
    conf.write_text("rule:\n  fixed_seats: {province: 0}\n", encoding="utf-8")
    out = seats("--config", str(conf), *[a.format(d=tmp_path) for a in args])
    assert out.returncode == 2
    line = last_line(out)
    assert "give --center" not in line
    assert "--center province: the rule gives it no seats (fixed at 0 under rule.fixed_seats in" in line
    assert "fixed_seats" in line


# ---------------------------------------------------------------- 8: one unit for the shortfall
def test_progress_and_table_say_the_same_agent_hours(tmp_path):
    out_file = tmp_path / "r.json"
    # Changbaishan: 1 seat by the rule, 3 call-takers for 168 staffed hours a week: short by design
    out = seats("roster", "new", "--out", str(out_file), "--center", "changbaishan", "--days", "7",
                "--start", "2026-01-05", "--time-limit", "20", "--gap", "1")
    assert out.returncode == 0, out.stderr
    progress = re.findall(r"short ([\d.]+) agent-hours", out.stderr)
    assert progress, out.stderr
    table = checks.coverage_report(rmod.load(out_file))["changbaishan"]["short_agent_hours"]
    assert table > 0 and float(progress[-1]) == table
    assert f"{table:g} " in out.stdout       # the table prints the same figure the same way


# ---------------------------------------------------------------- 9: services that do not answer
def _through_shared_runner(argv):
    from seats.cli import main

    return main(argv)


@pytest.mark.parametrize("address,reason", [("127.0.0.1:1", "connection refused"),
                                            ("no-such-host.invalid:6379", "unknown host name")])
def test_unreachable_redis_is_exit_3_in_words(cfg, tmp_path, capsys, address, reason):
    path = tmp_path / "r.json"
    rmod.save(make_roster(cfg, 2), path)
    assert _through_shared_runner(["adherence", str(path), "--redis", address]) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"seats adherence: Redis at {address} did not answer: {reason}" + (
        " (nothing listens there)" if "refused" in reason else "")


def test_unreachable_records_database_is_exit_3(cfg, tmp_path, capsys):
    path = tmp_path / "r.json"
    rmod.save(make_roster(cfg, 2), path)
    url = "postgresql://seats@127.0.0.1:1/records"
    assert _through_shared_runner(["adherence", str(path), "--records-db", url]) == 3
    err = capsys.readouterr().err.strip()
    assert "records database at" in err and "127.0.0.1:1" in err and "connection refused" in err
    assert "Errno" not in err and "Connect call failed" not in err


def test_export_into_a_missing_folder_is_one_line(cfg, tmp_path):
    path = tmp_path / "r.json"
    rmod.save(make_roster(cfg, 2), path)
    out = seats("roster", "export", str(path), "--csv", str(tmp_path / "missing" / "d.csv"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert last_line(out).startswith(f"seats roster export: --csv {tmp_path / 'missing' / 'd.csv'}: cannot write")


# ---------------------------------------------------------------- 12: docs show the plain commands
@pytest.mark.parametrize("doc", ["acd.md", "seats.md"])
def test_docs_show_no_machine_paths(doc):
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / doc).read_text(encoding="utf-8")
    assert not re.search(r"/work/|\.venv/|venv/bin", text)
