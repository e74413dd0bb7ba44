"""The province's roster under a forecast: its share of the cities' calls, not a share of no people."""

from __future__ import annotations

import json

from seats.cli import main


def test_province_roster_from_a_forecast_needs_people(tmp_path, capsys):
    out = tmp_path / "province.json"
    code = main(["roster", "new", "--center", "province", "--forecast", "config/forecast-sample.csv",
                 "--forecast-population", "1302778", "--days", "1", "--time-limit", "1", "--out", str(out),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    requirement = json.loads(out.read_text(encoding="utf-8"))["requirement"]["province"]
    assert max(requirement) > 0


def test_province_alone_names_the_missing_forecast_population(capsys):
    code = main(["roster", "new", "--center", "province", "--forecast", "config/forecast-sample.csv",
                 "--days", "1", "--out", "/tmp/unused.json", "--no-progress"])
    assert code == 2 and "--forecast-population" in capsys.readouterr().err
