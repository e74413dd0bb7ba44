"""An overloaded Asterisk: new callers are told and called back; calls already held go on."""

from __future__ import annotations

import asyncio
import os

from acd.model import CallKind
from ivr import settings as settings_mod
from ivr.demo import DemoOptions, _acd_and_prompts
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx
from ivr.pbx.scripts import AgentBehaviour, CallerScript
from ivr.runtime import build_runtime


async def until(predicate, timeout=20.0, what="condition"):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_new_callers_are_shed_with_a_callback_while_asterisk_is_slow():
    speed = 20.0
    secret = os.urandom(8).hex()
    acd_config, prompts = _acd_and_prompts(DemoOptions(agents=1))
    pbx = Pbx(PbxConfig.load(speed=speed, seed=3, secret=secret),
              agents={a.dial: AgentBehaviour(kind="answer", answer_after_s=1.0, talk_s=600.0, ends="agent")
                      for a in acd_config.agents})
    pbx.config.prompts.update(prompts)
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, port, True
    runtime = await build_runtime(settings, secret=secret, acd_store="memory", acd_config=acd_config,
                                  login_all=True, speed=speed, node="shed-test")
    await runtime.start()
    engine, link = runtime.engine, runtime.link
    try:
        link.liveness.slow_s, link.liveness.overload_s = 0.05, 0.1
        first = pbx.place_call(CallerScript(number="13912345601", keys=[(0.5, "1")]))
        await until(lambda: any(d.status == "ANSWER" for d in first.record.dials), what="the one agent talking")
        pbx.faults.slow(60, 0.15)      # Asterisk answers every action 150 ms late
        for _ in range(6):             # the engine measures the delay of every answer
            await link.action("Ping")
        assert link.overloaded
        second = pbx.place_call(CallerScript(number="13912345602", keys=[(0.5, "1")]))
        rec = await second.wait(30)
        await until(lambda: any(r.call_id == rec.call_id for r in engine.finished), what="second recorded")
        shed = next(r for r in engine.finished if r.call_id == rec.call_id)
        assert shed.outcome == "shed" and "callback registered" in shed.reason
        assert rec.hangup_by == "engine"
        task = await runtime.acd.get_call(rec.call_id)
        assert task is not None and (task.kind == CallKind.CALLBACK or task.callback_requested)
        # The call already held was never let go.
        assert rec.call_id != first.record.call_id and first.record.call_id in engine.records
        assert engine.status()["shed"] == 1
    finally:
        await runtime.stop()
        await pbx.stop()
