"""The province center is sized by the load it takes (rule.by_load), and `seats size` says how."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from hotline import paths
from seats.config import load_centers, load_seats_config
from seats.errors import SeatsError
from seats.sizing import size_province

SEATS = [sys.executable, "-m", "seats.cli"]


def run(*args):
    return subprocess.run([*SEATS, *args], capture_output=True, text=True)


def test_shipped_province_gets_seats_from_its_load(cfg):
    res = size_province(load_centers(), cfg)
    prov = next(r for r in res["centers"] if r.center == "province")
    assert prov.basis == "load" and prov.population == 0
    assert prov.seats > 0 and prov.operators == 3 * prov.seats
    assert prov.load["share"] == 0.10 and prov.load["cities_population"] == 24_073_453
    assert prov.reason.startswith("from load: 10% of the cities' calls") and "erlangs at the peak" in prov.reason
    assert prov.seats >= prov.load["erlangs"]               # Erlang: more agents than the load, always
    assert res["total"]["seats"] == res["total"]["by_rule"]["seats"] + prov.seats


def test_size_text_and_json_give_the_province_figure_and_its_reason():
    out = subprocess.run([*SEATS, "size"], capture_output=True, text=True, env={"COLUMNS": "250", **_env()})
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if "province " in l and "from load" in l)
    data = json.loads(run("size", "--json").stdout)
    prov = next(c for c in data["centers"] if c["id"] == "province")
    assert prov["seats"] > 0 and prov["basis"] == "load" and prov["reason"] in line
    assert f" {prov['seats']} " in line
    assert {"erlangs", "peak", "share", "forecast", "target_sl", "within_s"} <= set(prov["load"])
    cc = next(c for c in data["centers"] if c["id"] == "changchun")
    assert cc["basis"] == "population" and cc["reason"] == "15/M × 9,066,906 = 136.00, ceil"


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


def test_a_larger_share_gives_more_seats_and_fixed_wins_by_name(tmp_path):
    folder = tmp_path
    shutil.copy(paths.DEFAULTS / "forecast-sample.csv", folder / "forecast-sample.csv")
    conf = folder / "seats.yaml"
    base = "rule:\n  by_load:\n    province: {share: %s, forecast: forecast-sample.csv, forecast_population: 1302778}\n"
    conf.write_text(base % "0.05", encoding="utf-8")
    small = run("--config", str(conf), "size", "--json")
    conf.write_text(base % "0.20", encoding="utf-8")
    large = run("--config", str(conf), "size", "--json")
    pick = lambda out: next(c for c in json.loads(out.stdout)["centers"] if c["id"] == "province")  # noqa: E731
    assert 0 < pick(small)["seats"] < pick(large)["seats"]
    conf.write_text("rule:\n  fixed_seats: {province: 40}\n", encoding="utf-8")
    fixed = pick(run("--config", str(conf), "size", "--json"))
    assert (fixed["seats"], fixed["basis"], fixed["reason"]) == (40, "fixed", "fixed in seats.yaml (rule.fixed_seats)")


def test_both_ways_at_once_or_a_missing_forecast_names_the_line(tmp_path):
    conf = tmp_path / "seats.yaml"
    conf.write_text("rule:\n  fixed_seats: {province: 4}\n  by_load:\n"
                    "    province: {share: 0.1, forecast: f.csv, forecast_population: 1000000}\n", encoding="utf-8")
    with pytest.raises(SeatsError, match=r"seats.yaml:4:5: center 'province' is under both"):
        load_seats_config(conf)
    conf.write_text("rule:\n  by_load:\n    province: {share: 0.1, forecast: f.csv, forecast_population: 1000000}\n",
                    encoding="utf-8")
    out = run("--config", str(conf), "size")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{conf}:3:38: rule.by_load.province.forecast: no such file" in out.stderr


def test_commands_that_refused_the_province_now_work(tmp_path):
    out = run("compare", "--forecast", str(paths.DEFAULTS / "forecast-sample.csv"), "--center", "province",
              "--share", "1.5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["center"] == "province" and data["seats"] > 0
