"""How long a caller heard nothing: ``CallRecord.max_silence_s``.

An answered call is silent while no prompt, hold music, ringback or conversation
plays on it, and no menu waits (with a time limit) for the key it just asked for:
between AGI commands, during ``Wait()``, while the AGI session waits for an engine
that has gone away.  The PBX runs at speed 20 (fixture), so a ``Wait(3)``
is 3 PBX seconds of silence in 0.15 s of test time; the gaps between the test's
commands add a few PBX tenths.
"""

from __future__ import annotations

import json

from ivr.pbx import AgentBehaviour, CallerScript

from pbx_client import agi, next_call

SLOP = 1.0    # PBX seconds the test's own round trips between commands may add


async def test_a_wait_between_prompts_is_the_longest_silence(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert (await agi(client, ch, 'STREAM FILE demo-congrats ""')).startswith("200 result=0")   # 8 s of prompt
    assert await agi(client, ch, "EXEC Wait 3") == "200 result=0"                               # 3 s of nothing
    assert await agi(client, ch, "EXEC MusicOnHold default,6") == "200 result=0"                # 6 s of music
    assert await agi(client, ch, "EXEC Wait 1") == "200 result=0"
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert 3.0 <= rec.max_silence_s <= 3.0 + SLOP, rec.max_silence_s
    # it began after the 8 s prompt, and ended 3 PBX seconds later
    assert rec.answered + 8 / pbx.speed <= rec.max_silence_at <= rec.end - 3 / pbx.speed


async def test_hold_music_ringback_and_talk_are_not_silence(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=4.0, talk_s=6.0, ends="agent")
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert await agi(client, ch, "SET MUSIC on default") == "200 result=0"
    assert await agi(client, ch, "EXEC Wait 5") == "200 result=0"          # music still plays
    assert await agi(client, ch, "SET MUSIC off") == "200 result=0"
    assert await agi(client, ch, "EXEC Dial Local/1001@agents,20") == "200 result=-1"   # 4 s ring, 6 s talk
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert rec.dials[0].status == "ANSWER"
    assert (rec.end - rec.answered) * pbx.speed > 14          # a long call...
    assert rec.max_silence_s <= SLOP, rec.max_silence_s       # ...with no silence in it


async def test_before_the_answer_the_caller_hears_ringing_not_silence(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "EXEC Wait 4") == "200 result=0"           # not answered yet
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert (await agi(client, ch, "STREAM FILE hello-world \"\"")).startswith("200 result=0")
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert rec.max_silence_s <= SLOP, rec.max_silence_s


async def test_a_caller_left_in_silence_until_they_hang_up(pbx, client):
    """Nobody sends a command after the answer (an engine that lost the call): the
    stretch runs to the caller's hang-up, and a live call reports it so far."""
    handle = pbx.place_call(CallerScript(number="13804310000", hangup_after_s=12))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    run = pbx.find(ch).run
    assert await agi(client, ch, "EXEC Wait 4") == "200 result=0"
    assert 4.0 <= run.note_silence() <= 4.0 + SLOP          # so far, while the call is up
    rec = await handle.wait(5)
    assert rec.hangup_by == "caller"
    answered_after = (rec.answered - rec.start) * pbx.speed
    assert 12 - answered_after - SLOP <= rec.max_silence_s <= 12 - answered_after + 0.2, rec.max_silence_s


async def test_a_missing_prompt_is_silence_and_the_dialplan_wait_too(pbx, client):
    """STREAM FILE of a missing sound plays nothing and ends AGI; the shipped dialplan
    waits a second before AGI starts again: all of it silence."""
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    start = len(client.messages)
    assert await agi(client, ch, 'STREAM FILE no-such-sound ""') == "200 result=-1 endpos=0"
    await next_call(client, start)                           # back in AGI after Wait(1)
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert 1.0 <= rec.max_silence_s <= 1.0 + SLOP, rec.max_silence_s


async def test_a_menus_wait_for_a_key_is_not_silence_but_an_endless_wait_is(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000", keys=[(0.0, None), (0.0, None)]))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert await agi(client, ch, "GET DATA hello-world 5000 1") == "200 result= (timeout)"   # 5 s for a key
    assert await agi(client, ch, "WAIT FOR DIGIT 4000") == "200 result=0"
    run = pbx.find(ch).run
    assert run.note_silence() <= SLOP
    client.send([("Action", "AGI"), ("Channel", ch), ("Command", "WAIT FOR DIGIT -1"), ("CommandID", "forever")])
    await client.wait_for(lambda m: m.event == "AGIExecStart" and "WAIT FOR DIGIT -1" in m["Command"])
    pbx.later(3.0, handle.hang_up)                  # 3 PBX seconds of a wait with no end
    rec = await handle.wait(5)
    assert 3.0 <= rec.max_silence_s <= 3.0 + SLOP, rec.max_silence_s


async def test_the_records_file_carries_the_silence(tmp_path):
    from ivr.pbx.__main__ import RecordFile
    from ivr.pbx.records import CallRecord

    path = tmp_path / "calls.jsonl"
    sink = RecordFile(str(path))
    sink(CallRecord(call_id="pbx1-1.0", channel="c;2", caller_channel="c;1", caller="139", caller_name="",
                    dialled="12345", start=1.0, answered=2.0, end=9.0, max_silence_s=4.25))
    sink.close()
    assert json.loads(path.read_text())["max_silence_s"] == 4.25
