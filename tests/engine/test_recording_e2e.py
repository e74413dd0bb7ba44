"""Recording and supervisors on the built-in PBX over real sockets: the file Asterisk would
write, its length, the notice before it; a supervisor's phone rung into ChanSpy, audited."""

from __future__ import annotations

import asyncio
import dataclasses
import wave

import pytest

from acd.model import AcdError
from ivr.pbx.scripts import CallerScript
from ivr.pbx.spy import spies_on

from engine_harness import engine_on_pbx

SPEED = 20.0
TALK_S = 24.0


def config(record: bool = True):
    from ivr.demo import DemoOptions, _acd_and_prompts

    cfg, prompts = _acd_and_prompts(DemoOptions(agents=1))
    queues = {k: dataclasses.replace(q, record=record) for k, q in cfg.queues.items()}
    supervisors = {"9001": "Local/9001@supervisor", "9002": "Local/9002@supervisor"}
    return dataclasses.replace(cfg, queues=queues, supervisors=supervisors), prompts


async def until(predicate, timeout=20.0, what="condition"):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def finished(runtime, call_id):
    return next((r for r in runtime.engine.finished if r.call_id == call_id), None)


async def test_a_recorded_call_has_its_file_of_the_conversations_length_and_the_caller_was_told(tmp_path):
    cfg, prompts = config()
    async with engine_on_pbx(cfg, prompts, speed=SPEED, seed=3, talk_s=TALK_S,
                             recordings_dir=str(tmp_path)) as (pbx, runtime):
        handle = pbx.place_call(CallerScript(number="13912345601", keys=[(0.5, "1")]))
        pbx_rec = await handle.wait(60)
        await until(lambda: finished(runtime, pbx_rec.call_id), what="the record")
        rec = finished(runtime, pbx_rec.call_id)
    assert any(p.endswith("/recording_notice") for p in pbx_rec.played)
    assert rec.recording_path.startswith(str(tmp_path)) and rec.recording_path.endswith(f"/{pbx_rec.call_id}.wav")
    assert rec.recording_s * SPEED == pytest.approx(TALK_S, abs=1.5)     # the engine's clock is the wall's
    with wave.open(rec.recording_path) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() / 8000 == pytest.approx(TALK_S, abs=1.5)      # the bridge, not the survey after


async def test_a_queue_that_does_not_record_says_nothing_and_writes_nothing(tmp_path):
    cfg, prompts = config(record=False)
    async with engine_on_pbx(cfg, prompts, speed=SPEED, seed=3, talk_s=TALK_S,
                             recordings_dir=str(tmp_path)) as (pbx, runtime):
        pbx_rec = await pbx.place_call(CallerScript(number="13912345602", keys=[(0.5, "1")])).wait(60)
        await until(lambda: finished(runtime, pbx_rec.call_id), what="the record")
        rec = finished(runtime, pbx_rec.call_id)
    assert rec.agent and not rec.recording_path and rec.recording_s == 0
    assert not any(p.endswith("/recording_notice") for p in pbx_rec.played)
    assert list(tmp_path.rglob("*.wav")) == []


@pytest.mark.parametrize("mode, options", [("listen", "qE"), ("whisper", "qEw"), ("barge", "qEB")])
async def test_a_supervisor_is_rung_into_chanspy_on_the_agents_leg_and_audited(tmp_path, mode, options):
    cfg, prompts = config()
    audit: list[dict] = []
    async with engine_on_pbx(cfg, prompts, speed=SPEED, seed=3, talk_s=600.0) as (pbx, runtime):
        runtime.acd.attach_records(lambda kind, row: audit.append(row) if kind == "audit" else None)
        handle = pbx.place_call(CallerScript(number="13912345603", keys=[(0.5, "1")]))
        await until(lambda: any(d.status == "ANSWER" and d.end is None for d in handle.record.dials), what="talking")
        call_id = handle.record.call_id
        await until(lambda: runtime.engine.calls[call_id].dial_peer, what="the agent's leg")
        agent_leg = runtime.engine.calls[call_id].dial_peer
        for _ in range(100):                      # the ACD hears of the answer a moment after the PBX
            try:
                await runtime.acd.request_spy(call_id, "9001", mode)
                break
            except AcdError:
                await asyncio.sleep(0.02)
        await runtime.acd.request_spy(call_id, "9002", "barge")          # two at once
        leg = pbx.channels[agent_leg]
        await until(lambda: len(spies_on(leg)) >= 2, what="both supervisors in ChanSpy")
        spies = sorted((s.spyer.name.rsplit("-", 1)[0], s.options) for s in spies_on(leg))
        assert spies == [("Local/9001@supervisor", options), ("Local/9002@supervisor", "qEB")]
        with pytest.raises(AcdError, match="already asked"):
            await runtime.acd.request_spy(call_id, "9001", mode)
        assert [(r["user"], r["action"]) for r in audit] == [("9001", f"call_{mode}"), ("9002", "call_barge")]
        assert all(f'"call_id": "{call_id}"' in r["detail"] and '"outcome": "started"' in r["detail"] for r in audit)
