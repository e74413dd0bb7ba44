"""Safe reload: a broken edit is refused and the old version keeps serving; calls in progress
finish on the version they started with; no call is dropped while flows change under load."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil

import pytest

from ivr.flows.registry import FlowRegistry, FlowsBroken
from ivr.flows.runner import run_flow
from ivr.flows.simulate import ScriptedCall, SimServices

from flow_paths import CONFIG, FLOWS

AT = dt.datetime(2026, 11, 27, 10, 0)


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(FLOWS, tmp_path / "flows")
    shutil.copytree(CONFIG, tmp_path / "config")
    return tmp_path


def registry(tree):
    reg = FlowRegistry(tree / "flows", tree / "config", prompts_dir=None)
    reg.load()
    return reg


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_first_load_of_broken_flows_raises_with_the_problems(tree):
    edit(tree / "flows" / "city.yaml", "on_failure: to_city", "on_failure: to_cty")
    with pytest.raises(FlowsBroken) as exc:
        FlowRegistry(tree / "flows", tree / "config", prompts_dir=None).load()
    assert "city.yaml" in str(exc.value) and "no node 'to_cty'" in str(exc.value)


def test_broken_edit_refused_old_version_serves(tree):
    reg = registry(tree)
    before = reg.version
    edit(tree / "flows" / "changchun.yaml", '"1": to_province', '"1": to_provnce')
    errors = reg.reload()
    assert len(errors) == 1 and "no node 'to_provnce'" in str(errors[0]) and str(errors[0]).startswith(str(tree / "flows" / "changchun.yaml"))
    assert reg.version == before and reg.refused == 1
    plan = reg.plan("12345", "043188881234")
    assert plan.flow.nodes["welcome"].keys["1"] == "to_province"


def test_refused_reload_is_one_log_line_with_every_error_and_the_kept_version(tree):
    import structlog

    reg = registry(tree)
    edit(tree / "flows" / "survey.yaml", "next: back", "next: bak")
    edit(tree / "flows" / "callback.yaml", "next: noted", "next: notd")
    with structlog.testing.capture_logs() as logs:
        errors = reg.reload()
    assert len(errors) == 2
    assert [l["event"] for l in logs] == ["flows.reload_refused"]
    line = logs[0]
    assert line["log_level"] == "error" and line["reason"] == "errors" and line["errors"] == 2
    assert line["problems"] == [str(e) for e in errors] and line["problem"] == str(errors[0])
    assert any("no node 'bak'" in p for p in line["problems"]) and line["kept_version"] == reg.version


def test_a_crashing_check_keeps_the_old_version(tree, monkeypatch):
    reg = registry(tree)
    before = reg.version

    def boom(*a, **kw):
        raise RuntimeError("checker bug")

    monkeypatch.setattr("ivr.flows.registry.load_and_check", boom)
    errors = reg.reload()
    assert reg.version == before and "the check itself failed (RuntimeError: checker bug)" in str(errors[0])


def test_good_edit_swaps_and_changed_detects_it(tree):
    reg = registry(tree)
    before = reg.version
    assert not reg.changed()
    edit(tree / "flows" / "changchun.yaml", '"1": to_province', '"1": to_changchun')
    assert reg.changed()
    assert reg.reload() == []
    assert reg.version != before and not reg.changed()
    assert reg.plan("12345", "043188881234").flow.nodes["welcome"].keys["1"] == "to_changchun"


def test_broken_config_edit_refused_too(tree):
    reg = registry(tree)
    edit(tree / "config" / "numbers.yaml", "center_flows:\n  changchun: changchun", "center_flows:\n  changchun: changchn")
    errors = reg.reload()
    assert errors and "no flow named 'changchn'" in str(errors[0])
    assert reg.plan("12345", "043188881234").flow.name == "changchun"


class GatedCall(ScriptedCall):
    """A caller who waits at each menu until the test lets them press."""

    def __init__(self, *a, gate: asyncio.Event, **kw):
        super().__init__(*a, **kw)
        self.gate = gate

    async def collect(self, prompt, **kw):
        await self.gate.wait()
        return await super().collect(prompt, **kw)


def test_reload_under_load_drops_no_call(tree):
    """Forty calls wait inside the menu while a broken edit is refused and a good one swapped in;
    the callers already in the flow finish on the old version, later callers get the new one."""
    reg = registry(tree)
    v1 = reg.version
    services = SimServices()

    async def one_call(gate, press):
        plan = reg.plan("12345", "043188881234")       # the snapshot is taken when the call starts
        call = GatedCall(plan.flowset, caller="043188881234", dialled="12345", presses=[press, "1"], gate=gate)
        return await run_flow(plan.flow, call, services, now=AT, variables=plan.route.vars, clock=call.clock)

    async def scenario():
        gate_old = asyncio.Event()
        old_calls = [asyncio.create_task(one_call(gate_old, "1")) for _ in range(40)]
        await asyncio.sleep(0)
        edit(tree / "flows" / "changchun.yaml", "on_failure: to_changchun", "on_failure: nowhere")
        refused = reg.reload()
        edit(tree / "flows" / "changchun.yaml", "on_failure: nowhere", "on_failure: to_changchun")
        edit(tree / "flows" / "changchun.yaml", '"1": to_province', '"1": to_changchun')
        swapped = reg.reload()
        gate_new = asyncio.Event()
        gate_new.set()
        new_calls = [asyncio.create_task(one_call(gate_new, "1")) for _ in range(10)]
        gate_old.set()
        return refused, swapped, await asyncio.gather(*old_calls), await asyncio.gather(*new_calls)

    refused, swapped, old, new = asyncio.run(scenario())
    assert refused and swapped == [] and reg.version != v1
    assert len(old) == 40 and len(new) == 10
    assert all(r.version == v1 and r.outcome["queue"] == "province" for r in old)
    assert all(r.version == reg.version and r.outcome["queue"] == "changchun" for r in new)
    assert all(r.outcome["kind"] == "queue" and r.hung_up_by == "flow" and r.survey == "非常满意" for r in old + new)
    assert len(services.recorded) == 50


def test_watch_reloads_on_file_change(tree):
    reg = registry(tree)
    v1 = reg.version

    async def scenario():
        task = asyncio.create_task(reg.watch(interval_s=0.01))
        edit(tree / "flows" / "survey.yaml", '"4": 不满意', '"4": 差评')
        for _ in range(500):
            if reg.version != v1:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert reg.version != v1 and reg.snapshot().flow("survey").nodes["rate"].scores["4"] == "差评"
