"""Faults that left callers in silence (issue 8), on the built-in PBX over real sockets.

Each test injects one fault the issue found by trying it and checks that every
call reaches a defined end and that its record tells the truth.
"""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from ivr.ami.protocol import encode
from ivr.engine.minimal import FirstFreeAgents, MinimalProgram
from ivr.pbx.scripts import AgentBehaviour, CallerScript

from engine_harness import hotline

A1, A2, A3 = "Local/1001@agents", "Local/1002@agents", "Local/1003@agents"


def talker(talk_s=20.0, answer_after_s=1.0):
    return AgentBehaviour(kind="answer", answer_after_s=answer_after_s, talk_s=talk_s, ends="agent")


async def all_ended(h, handles, timeout=30.0):
    for handle in handles:
        await handle.wait(timeout)
    await h.until(lambda: not h.engine.calls, timeout=timeout, what="engine holds no call")
    return {r.call_id: r for r in h.engine.finished}


async def test_short_ami_drops_during_calls_strand_no_call():
    """Nine drops of 0.3-0.45 s during six calls left four hanging and two never answered."""
    program = MinimalProgram(FirstFreeAgents([A1, A2, A3]))
    async with hotline(program, {a: talker() for a in (A1, A2, A3)}, speed=10) as h:
        handles = [h.pbx.place_call(CallerScript(number=f"1380000100{i}", keys=[(0.5, "1")])) for i in range(6)]
        for n in range(9):
            await h.until(lambda: h.link.connected, what="link up before the next drop")
            await h.pbx.drop_ami(0.3 + 0.15 * (n % 2))
        records = await all_ended(h, handles, timeout=60)
    assert len(records) == 6
    assert sorted(r.outcome for r in records.values()) == ["answered"] * 6
    assert h.link.status["reconnects"] >= 9
    assert all(p.end is not None for p in h.pbx.records)


async def test_a_caller_who_arrives_while_the_link_is_down_is_taken_up():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=4)}, speed=10) as h:
        down = h.pbx.drop_ami(1.0)
        handle = h.pbx.place_call(CallerScript(number="13800001010", keys=[(0.2, "1")]))
        await down
        records = await all_ended(h, [handle])
    (rec,) = records.values()
    assert rec.outcome == "answered" and rec.agent == A1
    assert h.engine.taken_up == 1


async def test_pbx_crash_mid_talk_is_recorded_answered_with_pbx_lost():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=600)}) as h:
        h.pbx.place_call(CallerScript(number="13800001011", keys=[(0.1, "1")]))
        await h.until(lambda: any(d.status == "ANSWER" for r in h.pbx.records for d in r.dials), what="talking")
        await h.pbx.restart(down_s=0.2)
        await h.until(lambda: not h.engine.calls, timeout=10, what="call closed out")
    rec = h.engine.finished[0]
    assert rec.outcome == "answered" and rec.agent == A1
    assert rec.reason == "pbx lost"
    assert rec.talk_s > 0


async def test_talk_time_is_the_conversation_not_the_channel_up_time():
    """ANSWEREDTIME on a real Asterisk counts from the caller's answer (IVR and wait included)."""
    program = MinimalProgram(FirstFreeAgents([A1]), ring_timeout_s=15)
    speed = 20.0
    async with hotline(program, {A1: talker(talk_s=20.5, answer_after_s=2.0)}, speed=speed) as h:
        handle = h.pbx.place_call(CallerScript(number="13800001012", keys=[(1.5, "1")]))
        records = await all_ended(h, [handle])
    (rec,) = records.values()
    talk_pbx_s = rec.talk_s * speed
    assert 19.5 <= talk_pbx_s <= 22.0, talk_pbx_s
    up_pbx_s = (rec.ended - rec.answered) * speed
    assert up_pbx_s - talk_pbx_s > 2.0   # the IVR and the ring are not talk


async def test_a_second_agi_start_for_an_ended_channel_is_ignored_with_a_log_line():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=2)}) as h:
        handle = h.pbx.place_call(CallerScript(number="13800001013", keys=[(0.1, "1")]))
        records = await all_ended(h, [handle])
        (rec,) = records.values()
        with capture_logs() as logs:
            h.pbx.inject(encode([("Event", "AsyncAGIStart"), ("Privilege", "agi,all"), ("Channel", rec.channel),
                                 ("Context", "hotline-in"), ("Exten", "12345"), ("Uniqueid", rec.call_id),
                                 ("Env", "agi_request%3A%20async%0A%0A")]))
            await h.until(lambda: any(e["event"] == "call.restart_ignored" for e in logs), what="log line")
        assert len(h.engine.finished) == 1 and not h.engine.calls


async def test_stopping_with_calls_talking_hands_them_over_within_the_drain_time():
    program = MinimalProgram(FirstFreeAgents([A1]))
    async with hotline(program, {A1: talker(talk_s=600)}) as h:
        h.pbx.place_call(CallerScript(number="13800001014", keys=[(0.1, "1")]))
        h.pbx.place_call(CallerScript(number="13800001015", keys=[(0.1, "1")]))
        await h.until(lambda: any(d.status == "ANSWER" for r in h.pbx.records for d in r.dials), what="talking")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with capture_logs() as logs:
            await asyncio.wait_for(h.engine.drain(1.0, report_every_s=0.1), 5)
        assert loop.time() - started < 3
        assert not h.engine.calls
        assert {r.outcome for r in h.engine.finished} == {"handed_over"}
        assert any(e["event"] == "engine.handing_over" for e in logs)
        # The channels are still there, left in Asterisk for another node.
        assert len([r for r in h.pbx.records if r.end is None]) == 2


async def test_caller_ids_with_cr_lf_are_served_clean():
    """An Asterisk that does not clean caller ids: the engine ignored such a call, silently."""
    program = MinimalProgram(FirstFreeAgents([A1, A2]))
    async with hotline(program, {A1: talker(talk_s=2), A2: talker(talk_s=2)},
                       pbx_options={"raw_caller_id": True}) as h:
        with capture_logs() as logs:
            cut = h.pbx.place_call(CallerScript(number="13800001016", name="张三\r\n", keys=[(0.3, "1")]))
            inner = h.pbx.place_call(CallerScript(number="13800001017", name="李\r\n四", keys=[(0.3, "1")]))
            records = await all_ended(h, [cut, inner])
    by_number = {r.caller: r for r in records.values()}
    assert by_number["13800001016"].outcome == "answered" and by_number["13800001016"].caller_name == "张三"
    assert by_number["13800001017"].outcome == "answered"
    assert "\r" not in by_number["13800001017"].caller_name and "\n" not in by_number["13800001017"].caller_name
    events = [e["event"] for e in logs]
    assert "call.caller_id_repaired" in events


async def test_shedding_never_takes_an_agents_callback_leg():
    """Under overload a callback's agent leg entered the shed program: the agent heard the notice."""
    ran: list[str] = []

    async def callback_leg(call, record):
        ran.append("callback")
        await call.hangup()

    async def shed(call, record):
        ran.append("shed")
        await call.hangup()

    async with hotline(MinimalProgram(FirstFreeAgents([A1]))) as h:
        h.engine.context_programs["hotline-callback"] = callback_leg
        h.engine.shed_program, h.engine.max_calls = shed, 0     # every new caller is shed
        leg = h.pbx.place_call(CallerScript(number="12345", did="13800001018", context="hotline-callback"))
        caller = h.pbx.place_call(CallerScript(number="13800001019"))
        await all_ended(h, [leg, caller])
    assert sorted(ran) == ["callback", "shed"]
