"""Expert seats (专家座席) as the plan means them: department experts with hours, reached by the flows'
expert path in those hours and, outside them, a general agent at once: each flow's decision through
``ivr simulate``, then that request put to the real ACD with the shipped agents all logged in."""

from __future__ import annotations

import asyncio
import json

import pytest

from acd import config as acd_config
from acd.model import CallRequest
from acd.service import Acd
from acd.store import MemoryStore
from ivr.cli import main

from flow_paths import CONFIG

WORKDAY = "2026-11-27 10:00"      # a Friday
EVENING = "2026-11-27 18:30"
HOLIDAY = "2026-10-01 10:00"      # National Day
CITIES = [("12345", "043188881234"), ("043412345", "13900001111"), ("043312345", "043388881234")]


def simulate(capsys, did, caller, at) -> dict:
    status = main(["simulate", "--did", did, "--caller", caller, "--press", "4", "--at", at, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


async def first_agent(queue: str, skills: list[str]) -> str | None:
    """The agent the ACD offers this call to at once (no clock advanced: no escalation), if any."""
    cfg = acd_config.load(CONFIG / "acd.yaml")
    acd = Acd(MemoryStore(), cfg, "n1", clock=lambda: 1_790_000_000.0)
    await acd.start(loops=False)
    try:
        for agent in cfg.agents:
            await acd.login(agent.id)
        await acd.enqueue(CallRequest("x", queue, skills, priority=1, caller="13900001111"))
        offers = await acd.tick()
        return next((o.agent_id for o in offers if o.call_id == "x"), None)
    finally:
        await acd.stop(flush_s=1)


def experts(skill: str):
    return [a for a in acd_config.load(CONFIG / "acd.yaml").agents if skill in a.skills]


@pytest.mark.parametrize("did,caller", CITIES)
def test_in_hours_an_expert_takes_the_call_at_once(in_root, capsys, did, caller):
    out = simulate(capsys, did, caller, WORKDAY)
    assert out["outcome"]["queue"] == "province" and "expert_enterprise" in out["outcome"]["skills"]
    agent = asyncio.run(first_agent(out["outcome"]["queue"], out["outcome"]["skills"]))
    assert agent in {a.id for a in experts("expert_enterprise")}


@pytest.mark.parametrize("at", [EVENING, HOLIDAY])
@pytest.mark.parametrize("did,caller", CITIES)
def test_outside_hours_the_caller_is_told_and_a_general_agent_takes_it_at_once(in_root, capsys, did, caller, at):
    out = simulate(capsys, did, caller, at)
    heard = [p["id"] for p in out["prompts"]]
    assert "experts_closed" in heard
    assert not any(s.startswith("expert") for s in out["outcome"]["skills"])
    queue = out["outcome"]["queue"]
    assert queue != "province"                      # the caller's own center, not the experts' seats
    agent = asyncio.run(first_agent(queue, out["outcome"]["skills"]))
    cfg = acd_config.load(CONFIG / "acd.yaml")
    assert agent is not None and queue in next(a for a in cfg.agents if a.id == agent).queues


def test_the_flows_ask_for_experts_in_the_hours_the_experts_sit(shipped):
    """One truth in two files: the expert agents' hours (acd.yaml) and the flows' expert branch."""
    hours = {a.hours for a in experts("expert_enterprise") if a.hours}
    assert len(hours) == 1
    start, end, workdays = acd_config.parse_hours(hours.pop())
    for name in ("city", "changchun", "yanbian"):
        branch = shipped.flows[name].nodes["enterprise"]
        case = branch.cases[0]
        assert list(shipped.flows[name].nodes[case.goto].skills) == ["zh", "expert_enterprise"], name
        assert case.conditions["time"] == (start, end), name
        assert case.conditions.get("workday") is workdays, name


def test_every_department_expert_has_hours_and_a_seat_at_the_province():
    for skill in ("expert_enterprise", "expert_tax", "expert_social"):
        sitting = experts(skill)
        assert sitting, skill
        assert any(a.hours and "province" in a.queues for a in sitting), skill


@pytest.mark.parametrize("text,ok", [("08:30-17:00", True), ("08:30-17:00 workdays", True), ("17:00-08:30", False),
                                     ("8:30-17:00", False), ("08:30-17:00 weekends", False), ("", False)])
def test_hours_are_checked_where_they_are_written(text, ok):
    doc = f'queues: [{{id: a}}]\nagents:\n  - {{id: x, center: a, dial: PJSIP/1, hours: "{text}"}}\n'
    if ok:
        assert acd_config.parse(doc).agents[0].hours == text
    else:
        with pytest.raises(acd_config.ConfigError, match=r"<config>:3:\d+: agents\[x\]\.hours must be"):
            acd_config.parse(doc)
