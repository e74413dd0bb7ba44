"""The whole engine under faults: an overloaded Asterisk sheds new callers, a PBX crash keeps the records true."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from acd.model import CallKind
from ivr.pbx.scripts import CallerScript

from engine_harness import full_runtime


async def until(predicate, timeout=20.0, what="condition"):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_new_callers_are_shed_with_a_callback_while_asterisk_is_slow():
    async with full_runtime(agents=1) as (pbx, runtime):
        engine, link = runtime.engine, runtime.link
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
        assert task is not None and task.kind == CallKind.CALLBACK
        # The call already held was never let go.
        assert first.record.call_id in engine.records
        assert engine.status()["shed"] == 1


async def test_a_pbx_crash_mid_talk_reaches_the_acd_record_and_statistics_as_answered():
    async with full_runtime(agents=1) as (pbx, runtime):
        engine = runtime.engine
        handle = pbx.place_call(CallerScript(number="13912345603", keys=[(0.5, "1")]))
        await until(lambda: any(d.status == "ANSWER" for d in handle.record.dials), what="talking")
        call_id = handle.record.call_id
        await pbx.restart(down_s=0.2)
        await until(lambda: any(r.call_id == call_id for r in engine.finished), what="call closed out")
        rec = next(r for r in engine.finished if r.call_id == call_id)
        assert rec.outcome == "answered" and rec.reason == "pbx lost" and rec.agent == "1001"
        exported = {r["call_id"]: r for r in await runtime.acd.store.records(0)}
        assert exported[call_id]["outcome"]["talked"] is True
        stats = await runtime.acd.stats()
        assert stats["total"]["answered"] == 1
        agent = next(a for a in await runtime.acd.store.agents() if a.id == "1001")
        assert agent.state != "talking"


async def test_callers_reach_a_person_when_the_menu_and_the_queue_announcement_are_missing_on_the_pbx():
    """GET DATA of a missing file answered result=-1 and the engine hung up; STREAM FILE of the
    queue announcement ended AGI and the dialplan hung up every caller who waited 30 s."""
    async with full_runtime(agents=1, talk_s=45.0) as (pbx, runtime):
        for name in [n for n in pbx.config.prompts if n.endswith("_menu") or "/queue_" in n]:
            del pbx.config.prompts[name]
        with capture_logs() as logs:
            # no key: the menu is not heard, and the callback offer (a long wait) is let pass
            first = pbx.place_call(CallerScript(number="13912345604"))
            second = pbx.place_call(CallerScript(number="13912345605"))
            first_rec, second_rec = await first.wait(60), await second.wait(60)
            await until(lambda: not runtime.engine.calls, what="both calls ended")
    records = {r.call_id: r for r in runtime.engine.finished}
    assert records[first_rec.call_id].outcome == records[second_rec.call_id].outcome == "answered"
    missing = {e["sound"] for e in logs if e["event"] == "call.prompt_missing"}
    assert any(name.startswith("ivr/zh/queue_") for name in missing) and any(name.endswith("_menu") for name in missing)
