"""Past the holiday calendar's last day, ``ivr check`` fails but the hotline keeps answering.

A calendar that ran out makes a holiday branch wrong; refusing to start or to
reload would leave every caller unanswered, which is far worse.
"""

from __future__ import annotations

import pytest
from flow_paths import CONFIG, FLOWS

from ivr.cli import main
from ivr.flows.registry import FlowRegistry, FlowsBroken


def test_an_ended_calendar_fails_the_check_and_still_serves(monkeypatch, capsys):
    monkeypatch.setenv("HOTLINE_TODAY", "2030-01-05")
    assert main(["check", str(FLOWS), str(CONFIG)]) == 1
    out = capsys.readouterr().out
    assert "the holiday calendar ended on" in out
    registry = FlowRegistry(FLOWS, CONFIG)
    flowset = registry.load()
    assert "city" in flowset.flows and registry.version


def test_a_broken_flow_still_refuses_to_serve(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTLINE_TODAY", "2030-01-05")
    for f in FLOWS.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "city.yaml").write_text("flow: city\nentry: nowhere\nnodes: {}\n", encoding="utf-8")
    with pytest.raises(FlowsBroken):
        FlowRegistry(tmp_path, CONFIG).load()
