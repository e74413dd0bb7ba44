"""A hostile flow edit under a running engine: the reload runs off the event loop with a time limit,
fails as one log line, and the old version keeps answering calls while the loop keeps running."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil

import pytest
import structlog

from ivr.flows.program import FlowProgram
from ivr.flows.registry import FlowRegistry
from ivr.flows.runner import run_flow
from ivr.flows.simulate import ScriptedCall, SimServices

from flow_paths import CONFIG, FLOWS

AT = dt.datetime(2026, 11, 27, 10, 0)
DEEP = "flow: deep\nentry: a\nnodes: " + "[" * 20000 + "\n"   # each costs the YAML scanner a good fraction of a second


def laughs(levels: int = 9) -> str:
    text = 'flow: city\nentry: a\nnodes: {a: {hangup: goodbye}}\nl0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return text


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(FLOWS, tmp_path / "flows")
    shutil.copytree(CONFIG, tmp_path / "config")
    return tmp_path


class Ticker:
    """Counts turns of the event loop: a blocked loop shows as a long gap between ticks."""

    def __init__(self):
        self.times: list[float] = []

    async def run(self):
        loop = asyncio.get_running_loop()
        while True:
            self.times.append(loop.time())
            await asyncio.sleep(0.005)

    def since(self, t: float) -> int:
        return sum(1 for x in self.times if x >= t)

    def longest_gap(self, t: float) -> float:
        xs = [x for x in self.times if x >= t]
        return max((b - a for a, b in zip(xs, xs[1:])), default=0.0)


async def until(predicate, timeout_s: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def one_call(reg: FlowRegistry):
    plan = reg.plan("12345", "043188881234")
    call = ScriptedCall(plan.flowset, caller="043188881234", dialled="12345", presses=["2", "1"])
    return await run_flow(plan.flow, call, SimServices(), now=AT, variables=plan.route.vars, clock=call.clock)


def refusals(logs):
    return [line for line in logs if line["event"] == "flows.reload_refused"]


def test_alias_bomb_during_a_watch_is_refused_and_the_old_version_serves(tree):
    reg = FlowRegistry(tree / "flows", tree / "config", None, reload_timeout_s=3.0)
    version = reg.load().version

    async def scenario():
        ticker = Ticker()
        tick_task = asyncio.create_task(ticker.run())
        watch = asyncio.create_task(reg.watch(0.02))
        loop = asyncio.get_running_loop()
        edited = loop.time()
        (tree / "flows" / "city.yaml").write_text(laughs(), encoding="utf-8")
        await until(lambda: reg.refused >= 1, 10, "the refusal")
        result = await one_call(reg)
        watch.cancel()
        tick_task.cancel()
        return ticker, edited, result

    with structlog.testing.capture_logs() as logs:
        ticker, edited, result = asyncio.run(scenario())
    [line] = refusals(logs)
    assert line["reason"] == "errors" and line["kept_version"] == version
    assert any("city.yaml:8:" in p and "aliases repeat more than" in p for p in line["problems"]), line["problems"]
    assert reg.version == version and reg.snapshot().flow("city").entry == "welcome"
    assert result.version == version and result.outcome["kind"] == "queue"
    assert ticker.since(edited) > 3 and ticker.longest_gap(edited) < 0.5


def test_a_reload_past_its_time_limit_is_refused_while_calls_go_on(tree):
    """Forty deep files take many seconds to refuse: after 0.5 s the old version is kept, the thread is
    told to stop (and does, long before it would have finished), and calls are answered meanwhile."""
    reg = FlowRegistry(tree / "flows", tree / "config", None, reload_timeout_s=0.5)
    version = reg.load().version
    for i in range(40):
        (tree / "flows" / f"deep{i:02}.yaml").write_text(DEEP, encoding="utf-8")

    async def scenario():
        ticker = Ticker()
        tick_task = asyncio.create_task(ticker.run())
        loop = asyncio.get_running_loop()
        started = loop.time()
        reload = asyncio.create_task(reg.reload_async())
        during = await one_call(reg)                     # a new call while the reload is at work
        problems = await reload
        gap, ticks = ticker.longest_gap(started), ticker.since(started)
        busy = await reg.reload_async()                  # SIGHUP again at once: the old thread still runs
        await until(lambda: not reg.reloading, 10, "the stopped reload thread to end")
        for i in range(40):
            (tree / "flows" / f"deep{i:02}.yaml").unlink()
        after = await reg.reload_async()
        tick_task.cancel()
        return problems, busy, after, during, gap, ticks

    with structlog.testing.capture_logs() as logs:
        problems, busy, after, during, gap, ticks = asyncio.run(scenario())
    assert [str(p) for p in problems] == [f"{tree / 'flows'}:1:1: loading and checking the flows took longer than 0.5 s; nothing changed"]
    assert len(busy) == 1 and "still running" in busy[0].message
    assert after == [] and reg.version == version
    assert [(line["reason"], line["kept_version"]) for line in refusals(logs)] == [("timeout", version), ("busy", version)]
    assert during.version == version and during.outcome["kind"] == "queue"
    assert ticks > 20 and gap < 0.5, f"the loop stalled {gap:.2f} s"


def test_blocking_reload_is_bounded_too(tree):
    reg = FlowRegistry(tree / "flows", tree / "config", None, reload_timeout_s=0.3)
    version = reg.load().version
    for i in range(40):
        (tree / "flows" / f"deep{i:02}.yaml").write_text(DEEP, encoding="utf-8")
    errors = reg.reload()
    assert "took longer than 0.3 s" in errors[0].message and reg.version == version

    async def settle():
        await until(lambda: not reg.reloading, 10, "the stopped reload thread to end")

    asyncio.run(settle())


def test_sighup_path_reloads_off_the_loop(tree):
    reg = FlowRegistry(tree / "flows", tree / "config", None)
    version = reg.load().version
    program = FlowProgram(reg, SimServices())
    survey = tree / "flows" / "survey.yaml"
    survey.write_text(survey.read_text(encoding="utf-8").replace('"4": 不满意', '"4": 差评'), encoding="utf-8")

    async def scenario():
        good = await program.reload_async()
        survey.write_text("flow: survey\nentry: [\n", encoding="utf-8")
        bad = await program.reload_async()
        return good, bad

    with structlog.testing.capture_logs() as logs:
        good, bad = asyncio.run(scenario())
    assert good == [] and reg.version != version
    assert bad[0].file.endswith("survey.yaml") and "YAML syntax" in bad[0].message   # the cause first, then what follows
    assert len(bad) > 1 and refusals(logs)[0]["problem"] == str(bad[0])
    assert [line["reason"] for line in refusals(logs)] == ["errors"]
    assert reg.snapshot().flow("survey").nodes["rate"].scores["4"] == "差评"
