"""The interpreter on a live call: AsyncAGI call control against the built-in PBX over real sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sys


from ivr.agi.interface import DialResult
from ivr.flows.audio_len import sound_lengths
from ivr.flows.runner import QueueResult, dial_out, run_call, run_flow
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

    async def scenario():
        async with hotline(program, agents, speed=40) as h:
            h.pbx.config.prompts.update(sound_lengths(shipped))
            pbx_record = await h.pbx.place_call(script).wait(20)
            await h.until(lambda: services.results, what="flow result")
        return pbx_record

    return await asyncio.wait_for(scenario(), 40), services


async def test_changchun_caller_chooses_province_talks_and_rates(shipped):
    script = CallerScript(number="043188881234", did="12345", keys=[(0.2, "1"), (0.2, "2")])
    pbx_record, services = await place(shipped, script, {AGENT: AgentBehaviour(kind="answer", talk_s=3, ends="agent")})
    result = services.results[0]
    assert services.queued == [("province", ("zh",), 0, "changchun")]
    assert result.outcome["kind"] == "queue" and result.outcome["talked"] is True
    assert result.survey == "满意"
    assert [s.node for s in result.path] == ["welcome", "to_province", "survey", "rate", "back", "goodbye"]
    assert result.keys == ["1", "2"] and pbx_record.digits == "12"
    assert pbx_record.talked_to == AGENT
    assert result.call_id == pbx_record.call_id
    assert result.path[1].at_s > 0 and result.to_queue_s is not None


async def test_emergency_transfer_goes_out_through_the_pbx(shipped):
    script = CallerScript(number="043488881234", did="043412345", keys=[(0.2, "9"), (0.2, "3")], hangup_after_s=40)
    pbx_record, services = await place(shipped, script, {})
    result = services.results[0]
    assert services.transfers == [("120", "blind")]
    assert result.outcome["kind"] == "transfer" and result.outcome["number"] == "120"
    assert result.hung_up_by == "caller" and pbx_record.hangup_by == "caller"   # the caller ended the emergency call
    assert [s.node for s in result.path] == ["welcome", "emergency", "which_line", "ambulance"]
    assert pbx_record.digits == "93" and len(pbx_record.dials) == 1
    assert (pbx_record.dials[0].target, pbx_record.dials[0].status) == ("Local/120@agents", "ANSWER")


async def test_caller_hanging_up_during_the_menu_is_recorded(shipped):
    script = CallerScript(number="13900001111", did="043212345", hangup_during_prompt=1)
    pbx_record, services = await place(shipped, script, {})
    result = services.results[0]
    assert result.hung_up_by == "caller" and result.outcome == {"kind": "abandoned", "node": "welcome"}
    assert pbx_record.hangup_by == "caller" and not services.queued


async def test_reload_while_calls_run_on_the_pbx_drops_no_call(tmp_path):
    """Twenty callers in the Changchun menu; a broken edit is refused and a good one swapped in
    meanwhile.  Every call ends with an agent, on the version it started with."""
    from ivr.flows.registry import FlowRegistry
    from flow_paths import CONFIG, FLOWS

    shutil.copytree(FLOWS, tmp_path / "flows")
    shutil.copytree(CONFIG, tmp_path / "config")
    reg = FlowRegistry(tmp_path / "flows", tmp_path / "config", prompts_dir=None)
    reg.load()
    v1 = reg.version
    results = []

    class PerCallAgent(AgentServices):
        async def enqueue(self, call, queue, skills, priority, context):
            self.queued.append(queue)
            res = await call.dial(f"Local/{len(self.queued) + 1999}@agents", timeout_s=10)
            return QueueResult(talked=res.status == "ANSWER")

    services = PerCallAgent()

    planned = []

    async def program(call, record):
        plan = reg.plan(call.dialled, call.caller)     # the call's snapshot, taken as it starts
        planned.append(plan.flowset.version)
        results.append(await run_flow(plan.flow, call, services, now=AT, variables=plan.route.vars))

    changchun = tmp_path / "flows" / "changchun.yaml"
    text = changchun.read_text(encoding="utf-8")

    async def scenario():
        agents = {f"Local/{n}@agents": AgentBehaviour(kind="answer", talk_s=5, ends="agent") for n in range(2000, 2025)}
        async with hotline(program, agents, speed=40) as h:
            h.pbx.config.prompts.update(sound_lengths(reg.snapshot()))
            first = [h.pbx.place_call(CallerScript(number=f"0431888{i:05d}", did="12345", keys=[(1.0, "1")])) for i in range(20)]
            await h.until(lambda: len(planned) == 20, what="twenty calls in the flow")
            changchun.write_text(text.replace("on_failure: to_changchun", "on_failure: nowhere"), encoding="utf-8")
            refused = reg.reload()
            changchun.write_text(text.replace('"1": to_province', '"1": to_changchun'), encoding="utf-8")
            swapped = reg.reload()
            later = [h.pbx.place_call(CallerScript(number=f"0431999{i:05d}", did="12345", keys=[(0.2, "1")])) for i in range(5)]
            pbx_records = [await c.wait(30) for c in first + later]
            await h.until(lambda: len(results) == 25, timeout=20, what="all flow results")
        return refused, swapped, pbx_records

    refused, swapped, pbx_records = await asyncio.wait_for(scenario(), 60)
    assert refused and "no node 'nowhere'" in str(refused[0]) and swapped == []
    assert all(r.outcome["kind"] == "queue" and r.outcome["talked"] and r.hung_up_by == "flow" for r in results), \
        [(r.outcome, r.survey, r.keys, r.hung_up_by) for r in results]
    old = [r for r in results if r.version == v1]
    new = [r for r in results if r.version == reg.version]
    assert len(old) == 20 and len(new) == 5
    assert {r.outcome["queue"] for r in old} == {"province"} and {r.outcome["queue"] for r in new} == {"changchun"}
    assert all(p.talked_to for p in pbx_records)


async def test_flow_program_is_the_engines_per_call_program(tmp_path):
    """FlowProgram plugs into the engine as-is: the engine's record tells the flow's story."""
    from ivr.flows.program import FlowProgram
    from ivr.flows.registry import FlowRegistry
    from flow_paths import CONFIG, FLOWS

    registry = FlowRegistry(FLOWS, CONFIG, prompts_dir=None)
    registry.load()
    services = AgentServices()
    program = FlowProgram(registry, services, now=AT)

    async def scenario():
        async with hotline(program, {AGENT: AgentBehaviour(kind="answer", talk_s=3, ends="agent")}, speed=40) as h:
            h.pbx.config.prompts.update(sound_lengths(registry.snapshot()))
            pbx_record = await h.pbx.place_call(CallerScript(number="043288881234", did="12345",
                                                             keys=[(0.2, "1"), (0.2, "3")])).wait(20)
            await h.until(lambda: h.record(pbx_record.call_id) is not None, what="engine record")
            return h.record(pbx_record.call_id)

    record = await asyncio.wait_for(scenario(), 40)
    assert record.outcome == "answered" and record.queue == "jilin" and record.survey == "基本满意"
    assert (record.flow, record.flow_version) == ("city", str(registry.version))
    assert [p["node"] for p in record.path] == ["welcome", "to_city", "survey", "rate", "back", "goodbye"]
    assert record.queued is not None and record.queued >= record.answered
    assert program.reload() == []
