"""Scripted callers and agents, driven by a hand-written AGI 'engine' over raw AMI."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import pytest

from ivr.pbx import AgentBehaviour, CallerScript

from pbx_client import Client, agi, next_call


def env_of(start) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in unquote(start["Env"]).splitlines() if ": " in line)


async def test_caller_keys_agent_answers_and_ends(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=1.0, talk_s=5.0, ends="agent")
    handle = pbx.place_call(CallerScript(number="043188886666", name="张三", keys=[(0.5, "1")]))
    start = await next_call(client)
    env = env_of(start)
    assert env["agi_callerid"] == "043188886666"
    assert env["agi_calleridname"] == "张三"
    assert env["agi_dnid"] == "12345" and env["agi_extension"] == "12345"
    assert env["agi_language"] == "zh"
    ch = start["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert await agi(client, ch, "GET DATA vm-press 3000 1") == "200 result=1"
    assert await agi(client, ch, "EXEC Dial Local/1001@agents,20") == "200 result=-1"
    assert await agi(client, ch, "GET FULL VARIABLE ${DIALSTATUS}") == "200 result=1 (ANSWER)"
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert rec.call_id == start["Uniqueid"]
    assert rec.digits == "1"
    assert rec.hangup_by == "engine"
    assert rec.answered is not None and rec.end >= rec.answered
    (dial,) = rec.dials
    assert dial.target == "Local/1001@agents" and dial.status == "ANSWER" and dial.hangup_by == "agent"
    assert dial.answered - dial.start > 0.02     # it rang first (1 s at speed 20)
    assert [m.event for m in client.events() if m.event == "DialState"] == ["DialState"]


async def test_timeout_step_then_key(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000", keys=[(0.0, None), (0.3, "2")]))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "GET DATA beep 1000 1") == "200 result= (timeout)"
    assert await agi(client, ch, "WAIT FOR DIGIT 3000") == f"200 result={ord('2')}"
    handle.hang_up()
    rec = await handle.wait(5)
    assert rec.digits == "2" and rec.hangup_by == "caller"


async def test_multi_digit_entry_and_escape_digit_barge_in(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000", keys=[(0.2, "7"), (0.2, "42")], barge_in=True))
    ch = (await next_call(client))["Channel"]
    res = await agi(client, ch, 'STREAM FILE demo-congrats "0123456789"')
    assert res.startswith(f"200 result={ord('7')} endpos=")
    assert await agi(client, ch, "GET DATA beep 3000 2") == "200 result=42"
    handle.hang_up()
    await handle.wait(5)


async def test_caller_hangs_up_during_second_prompt(pbx, client):
    handle = pbx.place_call(CallerScript(number="043112345678", hangup_during_prompt=2))
    ch = (await next_call(client))["Channel"]
    assert (await agi(client, ch, 'STREAM FILE hello-world ""')).startswith("200 result=0 endpos=")
    res = await agi(client, ch, 'STREAM FILE demo-congrats ""')
    assert res.startswith("200 result=-1 endpos=")
    await client.wait_for(lambda m: m.event == "AsyncAGIEnd")
    r = await client.action("AGI", Channel=ch, Command="ANSWER")
    assert r.response == "Error" and r["Message"] == f"Channel {ch} does not exist."
    rec = await handle.wait(5)
    assert rec.hangup_by == "caller" and rec.cause == 16


async def test_caller_gives_up_on_hold(pbx, client):
    handle = pbx.place_call(CallerScript(number="043112345678", hangup_on_hold_after_s=2.0))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "EXEC MusicOnHold default,60") == "200 result=-1"
    names = [m.event for m in client.events() if m.event and m.event.startswith("MusicOnHold")]
    assert names == ["MusicOnHoldStart", "MusicOnHoldStop"]
    rec = await handle.wait(5)
    assert rec.hangup_by == "caller"


@pytest.mark.parametrize("target,behaviour,status", [
    ("Local/2001@agents-noanswer", None, "NOANSWER"),
    ("Local/2002@agents-busy", None, "BUSY"),
    ("Local/2003@nosuchcontext", None, "CHANUNAVAIL"),
    ("PJSIP/1009", None, "CHANUNAVAIL"),
    ("PJSIP/1010", AgentBehaviour(kind="noanswer"), "NOANSWER"),
    ("PJSIP/1011", AgentBehaviour(kind="busy"), "BUSY"),
    ("PJSIP/1012", AgentBehaviour(kind="congestion"), "CONGESTION"),
    ("Local/1001@agents", AgentBehaviour(kind="unavailable"), "CHANUNAVAIL"),
])
async def test_dial_outcomes(pbx, client, target, behaviour, status):
    if behaviour is not None:
        pbx.agents[target] = behaviour
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, f"EXEC Dial {target},2") == "200 result=0"
    assert await agi(client, ch, "GET FULL VARIABLE ${DIALSTATUS}") == f"200 result=1 ({status})"
    ends = [m["DialStatus"] for m in client.events("DialEnd") if m.get("Channel") == ch]
    assert ends == ([] if status == "CHANUNAVAIL" else [status])
    handle.hang_up()
    rec = await handle.wait(5)
    assert [d.status for d in rec.dials] == [status]


async def test_caller_ends_conversation_with_pjsip_agent(pbx, client):
    pbx.agents["PJSIP/1001"] = AgentBehaviour(answer_after_s=0.0, talk_s=3.0, ends="caller")
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "EXEC Dial PJSIP/1001,20") == "200 result=-1"
    rec = await handle.wait(5)
    assert rec.hangup_by == "caller"
    assert rec.dials[0].status == "ANSWER" and rec.dials[0].hangup_by == "caller"
    enters = [m["Channel"] for m in client.events("BridgeEnter")]
    assert enters[0].startswith("PJSIP/1001-") and enters[1] == ch


async def test_caller_hangs_up_while_ringing_is_cancel(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000", hangup_ringing_after_s=1.0))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "EXEC Dial Local/2001@agents-noanswer,30") == "200 result=-1"
    rec = await handle.wait(5)
    assert rec.dials[0].status == "CANCEL" and rec.hangup_by == "caller"


async def test_redirect_back_into_agi_and_queued_break(pbx, client):
    handle = pbx.place_call(CallerScript(number="043188886666", name="张三"))
    ch = (await next_call(client))["Channel"]
    start = len(client.messages)
    r = await client.action("AGI", Channel=ch, Command="EXEC MusicOnHold default,60", CommandID="moh")
    assert r.response == "Success"
    await client.wait_for(lambda m: m.event == "MusicOnHoldStart", 5, start)
    r = await client.action("Redirect", Channel=ch, Context="ivr-resume", Exten="s", Priority="1")
    assert r["Message"] == "Redirect successful"
    moh = await client.wait_for(lambda m: m.event == "AsyncAGIExec" and m.get("CommandId") == "moh", 5, start)
    assert unquote(moh["Result"]) == "200 result=-1\n"
    again = await client.wait_for(lambda m: m.event == "AsyncAGIStart", 5, start)
    assert env_of(again)["agi_context"] == "ivr-resume"
    assert await agi(client, ch, "ASYNCAGI BREAK") == "200 result=0"
    rec = await handle.wait(5)
    assert rec.agi_sessions == 2 and rec.hangup_by == "dialplan"


# The shipped dialplan hands every number to the engine as dialled, area code included, so
# 043312345 reaches Yanbian's center (it once did Goto(12345,1) and lost the area code).
@pytest.mark.parametrize("did,extension", [("12315", "12315"), ("043188889999", "043188889999"),
                                           ("043312345", "043312345")])
async def test_dialled_numbers(pbx, client, did, extension):
    handle = pbx.place_call(CallerScript(number="13804310000", did=did))
    env = env_of(await next_call(client))
    assert env["agi_dnid"] == did and env["agi_extension"] == extension
    handle.hang_up()
    await handle.wait(5)


async def test_unknown_did_fails_the_call(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000", did="999"))
    rec = await handle.wait(5)
    assert rec.failed and rec.ended


async def test_restart_drops_sessions_and_calls(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    await client.action("AGI", Channel=ch, Command="EXEC MusicOnHold default,600")
    await pbx.restart()
    await asyncio.wait_for(client.closed.wait(), 5)
    rec = await handle.wait(5)
    assert rec.hangup_by == "pbx" and rec.ended
    assert pbx.channels == {}
    again = await Client.connect(*pbx.address)
    assert (await again.login()).response == "Success"
    r = await again.action("CoreShowChannels")
    done = await again.wait_for(lambda m: m.event == "CoreShowChannelsComplete")
    assert r.response == "Success" and done["ListItems"] == "0"
    await again.close()


async def test_restart_with_port_down(pbx, client):
    port = pbx.address[1]
    await pbx.restart(down_s=0.2)
    await asyncio.wait_for(client.closed.wait(), 5)
    assert pbx.address[1] == port
    again = await Client.connect(*pbx.address)
    assert (await again.login()).response == "Success"
    await again.close()


async def test_load_profile_calls_all_end(pbx, client):
    from ivr.pbx import LoadProfile

    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=0.5, talk_s=2.0)
    profile = LoadProfile(rate_per_s=20, calls=12, seed=5, patience_mean_s=None, abandon_in_menu=0.0)
    plan = profile.scripts()
    assert plan == LoadProfile(rate_per_s=20, calls=12, seed=5, patience_mean_s=None, abandon_in_menu=0.0).scripts()

    async def engine():
        seen = 0
        tasks = []
        while seen < len(plan):
            start = await client.wait_for(lambda m: m.event == "AsyncAGIStart", 10,
                                          _index_after(client, seen))
            seen += 1
            tasks.append(asyncio.create_task(one_call(start["Channel"])))
        return await asyncio.gather(*tasks)

    async def one_call(ch):
        await agi(client, ch, "ANSWER")
        key = await agi(client, ch, "GET DATA beep 5000 1")
        await agi(client, ch, "EXEC Dial Local/1001@agents,20")
        await agi(client, ch, "HANGUP")
        return key

    eng = asyncio.create_task(engine())
    handles = []
    t0 = 0.0
    for offset, script in plan:
        await pbx.sleep(offset - t0)
        t0 = offset
        handles.append(pbx.place_call(script))
    keys = await asyncio.wait_for(eng, 20)
    records = [await h.wait(5) for h in handles]
    assert all(r.ended and r.hangup_by == "engine" for r in records)
    assert sorted(r.digits for r in records) == sorted(s.keys[0][1] for _, s in plan)
    assert len(keys) == len(plan)


def _index_after(client: Client, count: int) -> int:
    """Index just past the ``count``-th AsyncAGIStart, to find the next one."""
    seen = 0
    for i, m in enumerate(client.messages):
        if m.event == "AsyncAGIStart":
            seen += 1
            if seen == count:
                return i + 1
    return 0
