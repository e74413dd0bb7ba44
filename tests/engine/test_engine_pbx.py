"""The engine against the built-in PBX over real sockets: the call stories both sides tell."""

from __future__ import annotations

import asyncio

import pytest

from ivr.ami.errors import ProtocolError
from ivr.engine.minimal import FirstFreeAgents, MinimalProgram
from ivr.pbx.scripts import AgentBehaviour, CallerScript

from engine_harness import hotline

A1, A2, A3 = "Local/1001@agents", "Local/1002@agents", "Local/1003@agents"


def talker(talk_s=4.0, ends="agent", answer_after_s=1.0):
    return AgentBehaviour(kind="answer", answer_after_s=answer_after_s, talk_s=talk_s, ends=ends)


async def finish(h, handle, timeout=15):
    pbx_record = await handle.wait(timeout)
    await h.until(lambda: h.record(pbx_record.call_id) is not None, what="engine record")
    return pbx_record, h.record(pbx_record.call_id)


async def test_answered_call_story_matches_the_pbx():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker()}) as h:
        handle = h.pbx.place_call(CallerScript(number="043188886666", name="张三", keys=[(0.3, "1")]))
        pbx_rec, rec = await finish(h, handle)
    assert rec.outcome == "answered" and rec.agent == A1
    assert rec.caller == "043188886666" and rec.caller_name == "张三" and rec.dialled == "12345"
    assert rec.path[0]["key"] == "1" and pbx_rec.digits == "1"
    assert pbx_rec.talked_to == A1 and pbx_rec.hangup_by in ("agent", "engine")
    assert rec.to_person_s is not None and rec.to_person_s > 0


async def test_no_answer_then_next_agent():
    program = MinimalProgram(FirstFreeAgents([A1, A2]), ring_timeout_s=3)
    async with hotline(program, {A1: AgentBehaviour(kind="noanswer"), A2: talker()}) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000001", keys=[(0.2, "2")])))
    assert [d["status"] for d in rec.dial_attempts] == ["NOANSWER", "ANSWER"]
    assert [d.status for d in pbx_rec.dials] == ["NOANSWER", "ANSWER"]
    assert rec.outcome == "answered" and rec.agent == A2


async def test_busy_agents_end_in_failure_not_a_lost_call():
    program = MinimalProgram(FirstFreeAgents([A1]), max_tries=2)
    async with hotline(program, {A1: AgentBehaviour(kind="busy")}) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000002")))
    assert [d["status"] for d in rec.dial_attempts] == ["BUSY", "BUSY"]
    assert rec.outcome == "failed" and rec.reason == "no agent answered"
    assert pbx_rec.ended and pbx_rec.hangup_by == "engine"


async def test_unavailable_endpoint_reports_chanunavail():
    program = MinimalProgram(FirstFreeAgents(["Local/1004@nosuchcontext"]), max_tries=1)
    async with hotline(program) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000003")))
    assert rec.dial_attempts[0]["status"] == "CHANUNAVAIL" and rec.outcome == "failed"


async def test_caller_hangs_up_mid_prompt():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker()}) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000004", hangup_during_prompt=1)))
        assert not h.engine.calls
    assert rec.outcome == "abandoned" and rec.agent == "" and not pbx_rec.dials
    assert pbx_rec.hangup_by == "caller"


async def test_waiting_caller_is_taken_off_hold_music_by_redirect():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=20)}) as h:
        first = h.pbx.place_call(CallerScript(number="13800000005", keys=[(0.1, "1")]))
        await h.until(lambda: any(r.dials for r in h.pbx.records), what="first call ringing")
        second = h.pbx.place_call(CallerScript(number="13800000006", keys=[(0.1, "1")]))
        (p1, r1), (p2, r2) = await asyncio.gather(finish(h, first, 30), finish(h, second, 30))
    assert r1.outcome == r2.outcome == "answered"
    # The second caller's hold music (a 60 s chunk) was cut short: a new AGI session began.
    assert p2.agi_sessions == 2 and p1.agi_sessions == 1
    # ... and it was dialled right after the first conversation ended, not a minute later.
    gap = p2.dials[0].start - p1.end
    assert gap < 60 / h.pbx.speed / 2


async def test_pbx_restart_mid_call_closes_out_and_recovers():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=600)}) as h:
        handle = h.pbx.place_call(CallerScript(number="13800000007", keys=[(0.1, "1")]))
        await h.until(lambda: any(d.status == "ANSWER" for r in h.pbx.records for d in r.dials), what="talking")
        await h.pbx.restart(down_s=0.2)
        await h.until(lambda: not h.engine.calls, timeout=10, what="call closed out")
        rec = h.engine.finished[0]
        assert rec.ended is not None and rec.outcome == "answered"
        assert h.link.status["reconnects"] >= 1
        await h.until(lambda: h.link.connected, what="reconnected")
        # The engine serves new calls after the restart.
        pbx_rec, rec2 = await finish(h, h.pbx.place_call(
            CallerScript(number="13800000008", keys=[(0.1, "1")], hangup_talk_after_s=2)))
        await handle.wait(1)
    assert rec2.outcome == "answered"
    assert h.engine.supervisor.failures == 0


@pytest.mark.parametrize("junk", [
    b"\x00\xff\xfe garbage \x80\x81\r\n\r\n",
    b"Event: Junk\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n",
    b"no colon here at all\n\n\n\n",
], ids=["garbage", "100KB-header", "headerless"])
async def test_junk_on_the_socket_loses_no_call(junk):
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=3)}) as h:
        handle = h.pbx.place_call(CallerScript(number="13800000009", keys=[(0.5, "1")]))
        await h.until(lambda: bool(h.engine.calls), what="call started")
        assert h.pbx.inject(junk) == 1
        pbx_rec, rec = await finish(h, handle)
        assert h.link.connected
    assert rec.outcome == "answered" and pbx_rec.talked_to == A1


async def test_program_failure_is_logged_with_call_id_and_the_call_still_ends(capsys):
    from hotline import log

    log.setup("info", json=True)

    async def broken(call, record):
        await call.answer()
        raise RuntimeError("flow bug")

    async with hotline(broken) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000010")))
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if "call.program_failed" in l)
    assert rec.call_id in line and "flow bug" in line
    assert rec.outcome == "failed" and pbx_rec.hangup_by == "engine"


async def test_caller_controlled_values_cannot_inject_ami_headers():
    seen = {}

    async def program(call, record):
        await call.answer()
        try:
            await call.set_var("CALLER_NOTE", "x\r\nAction: Originate\r\nChannel: Local/110@x")
        except ProtocolError as exc:
            seen["refused"] = str(exc)
        await call.set_var("CALLER_NOTE", "plain")
        seen["value"] = await call.get_var("CALLER_NOTE")

    async with hotline(program) as h:
        pbx_rec, rec = await finish(h, h.pbx.place_call(CallerScript(number="13800000011")))
        originated = len(h.pbx.records)
    assert "CR or LF" in seen["refused"] and seen["value"] == "plain"
    assert originated == 1  # no second channel was ever created


async def test_events_of_a_call_arrive_in_order():
    order = []

    async def program(call, record):
        await call.answer()
        for _ in range(5):
            await call.wait_for_digit(0.05)
        order.extend(s.command for s in call.steps)

    async with hotline(program) as h:
        await finish(h, h.pbx.place_call(CallerScript(number="13800000012")))
    assert order == ["ANSWER"] + ["WAIT FOR DIGIT 50"] * 5
