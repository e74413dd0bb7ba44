"""Forecast CSV: good files parse, broken ones name the line; rule against load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seats.compare import chart, compare, summary
from seats.errors import SeatsError
from seats.forecast import read_forecast
from seats.staffing import ServiceTarget, needs

import pathlib

SAMPLE_FORECAST = pathlib.Path(__file__).resolve().parents[2] / "config" / "forecast-sample.csv"


def write(tmp_path, text):
    p = tmp_path / "f.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_sample_forecast_parses():
    f = read_forecast(SAMPLE_FORECAST)
    assert f.interval_min == 30 and len(f) == 7 * 48
    assert f.start.isoformat() == "2026-01-05T00:00:00"
    assert max(f.calls) > 5 * min(f.calls)  # the day/night curve is there


@pytest.mark.parametrize("text,line,msg", [
    ("begin,calls\n", 1, "header"),
    ("start,calls\n2026-01-05T00:00,3\n2026-01-05T00:30,x\n", 3, "not a number"),
    ("start,calls\n2026-01-05T00:00,3\n2026-01-05T00:30,-1\n", 3, ">= 0"),
    ("start,calls\n2026-01-05T00:00,3\n2026-01-05T00:20,1\n", 3, "15 or 30"),
    ("start,calls\n2026-01-05T00:00,3\n2026-01-05T00:30,1\n2026-01-05T01:30,1\n", 4, "gap"),
    ("start,calls\n2026-01-05T00:00,3\nyesterday,1\n", 3, "ISO"),
    ("start,calls\n2026-01-05T00:00,3,4\n", 2, "columns"),
    ("start,calls,aht_s\n2026-01-05T00:00,3,0\n2026-01-05T00:30,3,\n", 2, "aht_s"),
])
def test_malformed_forecast_names_the_line(tmp_path, text, line, msg):
    p = write(tmp_path, text)
    with pytest.raises(SeatsError) as err:
        read_forecast(p)
    assert f"{p}:{line}" in str(err.value) and msg in str(err.value)


def test_impossible_interval_names_its_line(tmp_path):
    p = write(tmp_path, "start,calls\n2026-01-05T00:00,3\n2026-01-05T00:30,900000\n")
    f = read_forecast(p)
    with pytest.raises(SeatsError) as err:
        needs(f, ServiceTarget(max_agents=500))
    assert f"{p}:3" in str(err.value) and "2026-01-05 00:30" in str(err.value)


def test_per_row_aht_is_used(tmp_path):
    p = write(tmp_path, "start,calls,aht_s\n2026-01-05T00:00,100,180\n2026-01-05T00:30,100,\n")
    rows = needs(read_forecast(p), ServiceTarget(aht_s=360, target_sl=0.8, within_s=20, max_occupancy=1.0))
    assert rows[0].result.agents == 14      # the 80/20 reference example
    assert rows[1].result.agents > 14       # twice the handling time


def test_rule_against_load_marks_short_and_idle():
    f = read_forecast(SAMPLE_FORECAST)
    target = ServiceTarget()
    rows = compare(f, target, seats=15, operators=45, hours_week=40)
    verdicts = {r.verdict for r in rows}
    assert verdicts == {"short", "idle"} or verdicts == {"short", "idle", "ok"}
    for r in rows:
        assert (r.verdict == "short") == (r.need > 15)
        if r.verdict == "short":
            assert r.rule_sl < target.target_sl     # callers wait where the rule is short
    s = summary(rows, 30)
    assert s["short_intervals"] + s["idle_intervals"] <= len(rows)
    assert rows[0].sustainable == pytest.approx(45 * 40 / 168 * 0.7, abs=0.05)


def test_chart_is_a_real_png(tmp_path):
    f = read_forecast(SAMPLE_FORECAST)
    rows = compare(f, ServiceTarget(), seats=20, operators=60, hours_week=40)
    path = chart(rows, tmp_path / "c.png", "test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    svg = chart(rows, tmp_path / "c.svg", "test").read_text()
    assert "<svg" in svg


def test_cli_compare_json_and_chart(tmp_path):
    out = subprocess.run([sys.executable, "-m", "seats.cli", "compare", "--forecast", str(SAMPLE_FORECAST),
                          "--center", "tonghua", "--chart", str(tmp_path / "c.png"), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["seats"] == 20 and len(d["intervals"]) == 336
    assert (tmp_path / "c.png").stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "seats.cli", "compare", "--forecast", str(SAMPLE_FORECAST),
                          "--center", "atlantis"], capture_output=True, text=True)
    assert bad.returncode == 2 and "atlantis" in bad.stderr and "Traceback" not in bad.stderr


def test_chart_needs_png_or_svg(tmp_path):
    f = read_forecast(SAMPLE_FORECAST)
    rows = compare(f, ServiceTarget(), seats=20, operators=60, hours_week=40)
    with pytest.raises(SeatsError, match=r"\.png or \.svg"):
        chart(rows, tmp_path / "c.jpg", "test")
    assert not (tmp_path / "c.jpg").exists()


def test_cli_need_json():
    out = subprocess.run([sys.executable, "-m", "seats.cli", "need", "--forecast", str(SAMPLE_FORECAST),
                          "--patience-s", "90", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 336
    assert all(r["service_level"] >= 0.9 and r["occupancy"] <= 0.85 + 1e-9 for r in rows if r["calls"] > 0)
    assert all(r["rostered"] >= r["agents"] for r in rows)
