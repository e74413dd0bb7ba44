"""Sizing by the plan's rule: 15 seats per million, 3 call-takers a seat (domain.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seats.config import load_centers, load_seats_config
from seats.errors import SeatsError
from seats.sizing import round_seats, size_province

SEATS = [sys.executable, "-m", "seats.cli"]


def run(*args, **kw):
    return subprocess.run([*SEATS, *args], capture_output=True, text=True, **kw)


def test_changchun_rounding_is_a_policy(cfg):
    centers = {c.id: c for c in load_centers()}
    cc = centers["changchun"]
    exact = cc.population / 1e6 * 15
    assert exact == pytest.approx(136.0036, abs=1e-4)  # domain.md: 136.004
    assert round_seats(exact, "ceil") == 137
    assert round_seats(exact, "nearest") == 136
    assert round_seats(exact, "floor") == 136
    assert round_seats(136.0, "ceil") == 136  # an exact figure is not pushed up
    assert round_seats(7.5, "nearest") == 8   # half up, not to even


def test_province_totals_are_sums_of_centers(cfg):
    res = size_province(load_centers(), cfg)
    rows = res["centers"]
    assert res["total"]["population"] == 24_073_453 == sum(r.population for r in rows)
    assert res["total"]["by_rule"]["exact_seats"] == pytest.approx(361.10, abs=0.01)
    assert res["total"]["exact_seats"] == pytest.approx(sum(r.exact_seats for r in rows))
    assert res["total"]["seats"] == sum(r.seats for r in rows)
    assert all(r.operators == 3 * r.seats for r in rows)
    assert all(r.seats >= r.exact_seats - 1e-9 for r in rows)  # ceil never understaffs


def test_nearest_rounding_gives_the_plan_figure(cfg):
    cfg.rounding = "nearest"
    try:
        res = size_province(load_centers(), cfg)
    finally:
        cfg.rounding = "ceil"
    assert res["total"]["by_rule"]["seats"] == 361       # the province center is sized by its load
    assert res["total"]["by_rule"]["operators"] == 1083


def test_cli_size_json_lists_every_center_and_total():
    out = run("size", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    ids = {c["id"] for c in data["centers"]}
    assert {c.id for c in load_centers()} == ids
    for c in data["centers"]:
        assert {"population", "seats", "operators"} <= set(c)
    assert data["total"]["seats"] == sum(c["seats"] for c in data["centers"])
    cc = next(c for c in data["centers"] if c["id"] == "changchun")
    assert (cc["seats"], cc["operators"]) == (137, 411)


def test_cli_size_rate_and_rounding_flags():
    data = json.loads(run("size", "--json", "--rate", "20", "--rounding", "floor", "--per-seat", "4").stdout)
    cc = next(c for c in data["centers"] if c["id"] == "changchun")
    assert cc["seats"] == 181 and cc["operators"] == 724  # 9.066906 * 20 = 181.3


def test_broken_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "seats.yaml"
    bad.write_text("rule:\n  seats_per_million: 15\n  rounding: [oops\n", encoding="utf-8")
    out = run("--config", str(bad), "size")
    assert out.returncode == 2
    assert f"{bad}:" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_wrong_value_names_key_line(tmp_path):
    bad = tmp_path / "seats.yaml"
    bad.write_text("rule:\n  seats_per_million: 15\n  rounding: sideways\n", encoding="utf-8")
    with pytest.raises(SeatsError) as err:
        load_seats_config(bad)
    assert str(err.value).startswith(f"{bad}:3:13: rule.rounding must be one of") and "sideways" in str(err.value)
    bad.write_text("service:\n  target_sl: 1.5\n", encoding="utf-8")
    with pytest.raises(SeatsError, match=r":2:14: service.target_sl must be a number from 0 to under 1, not 1.5$"):
        load_seats_config(bad)


def test_wrong_flag_is_a_usage_error():
    out = run("size", "--rounding", "sideways")
    assert out.returncode == 2 and "invalid choice: 'sideways'" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "(see 'seats size --help')" in out.stderr
    out = run("size", "--no-such-flag")
    assert out.returncode == 2 and "unrecognized arguments: --no-such-flag" in out.stderr
