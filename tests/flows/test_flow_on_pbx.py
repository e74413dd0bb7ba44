"""The interpreter on a live call: AsyncAGI call control against the built-in PBX over real sockets."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from ivr.agi.interface import DialResult
from ivr.flows.audio_len import sound_lengths
from ivr.flows.runner import QueueResult, dial_out, run_call
from ivr.pbx.scripts import AgentBehaviour, CallerScript

from flow_paths import ROOT

sys.path.insert(0, str(ROOT / "tests" / "engine"))
from engine_harness import hotline  # noqa: E402  (the engine tests' PBX + AMI harness)

AT = dt.datetime(2026, 11, 27, 10, 0)
AGENT = "Local/1001@agents"


class AgentServices:
    """Queue = dial the one agent; transfers go out through the PBX's 'agents' context."""

    def __init__(self):
        self.queued, self.transfers, self.results = [], [], []

    async def enqueue(self, call, queue, skills, priority, context):
        self.queued.append((queue, tuple(skills), priority, context.get("center")))
        res = await call.dial(AGENT, timeout_s=10)
        return QueueResult(talked=res.status == "ANSWER", agent=AGENT)

    async def transfer(self, call, target, mode) -> DialResult:
        self.transfers.append((target, mode))
        return await dial_out(call, target, template="Local/{number}@agents", timeout_s=10)

    async def record(self, call, result):
        self.results.append(result)


async def place(shipped, script, agents):
    services = AgentServices()

    async def program(call, record):
        await run_call(shipped, call, services, now=AT)

    async with hotline(program, agents, speed=40) as h:
        h.pbx.config.prompts.update(sound_lengths(shipped))
        pbx_record = await h.pbx.place_call(script).wait(20)
        await h.until(lambda: services.results, what="flow result")
    return pbx_record, services


async def test_changchun_caller_chooses_province_talks_and_rates(shipped):
    script = CallerScript(number="043188881234", did="12345", keys=[(0.2, "1"), (0.2, "2")])
    pbx_record, services = await place(shipped, script, {AGENT: AgentBehaviour(kind="answer", talk_s=3, ends="agent")})
    result = services.results[0]
    assert services.queued == [("province", ("zh",), 0, "changchun")]
    assert result.outcome["kind"] == "queue" and result.outcome["talked"] is True
    assert result.survey == "基本满意"
    assert [s.node for s in result.path] == ["welcome", "to_province", "survey", "rate", "back", "goodbye"]
    assert result.keys == ["1", "2"] and pbx_record.digits == "12"
    assert pbx_record.talked_to == AGENT
    assert result.call_id == pbx_record.call_id
    assert result.path[1].at_s > 0 and result.to_queue_s is not None


async def test_emergency_transfer_goes_out_through_the_pbx(shipped):
    script = CallerScript(number="043488881234", did="043412345", keys=[(0.2, "9"), (0.2, "3")])
    pbx_record, services = await place(shipped, script, {})
    result = services.results[0]
    assert services.transfers == [("120", "blind")]
    assert result.outcome["kind"] == "transfer" and result.outcome["status"] == "ANSWER"
    assert [d.target if hasattr(d, "target") else d for d in pbx_record.dials][0] in ("Local/120@agents", pbx_record.dials[0])


async def test_caller_hanging_up_during_the_menu_is_recorded(shipped):
    script = CallerScript(number="13900001111", did="043212345", hangup_during_prompt=1)
    pbx_record, services = await place(shipped, script, {})
    result = services.results[0]
    assert result.hung_up_by == "caller" and result.outcome == {"kind": "abandoned", "node": "welcome"}
    assert pbx_record.hangup_by == "caller" and not services.queued
