"""What the chaos benchmark asks of a PBX in another process: refused originates, the calls
in flight (before a kill -9), and how many scripted callers it placed."""

from __future__ import annotations

import json

from ivr.pbx import CallerScript, Pbx, PbxConfig

from pbx_client import SECRET, Client, agi, next_call


async def _pbx_and_client():
    pbx = Pbx(PbxConfig.load(secret=SECRET, speed=20, seed=3, test_actions=True))
    await pbx.start()
    c = await Client.connect(*pbx.address)
    assert (await c.login()).response == "Success"
    return pbx, c


async def test_refused_originates_both_ways_then_accepted_again():
    pbx, c = await _pbx_and_client()
    try:
        r = await c.action("PbxTest", Operation="RefuseOriginate", Seconds="30", Mode="error")
        assert r.response == "Success" and r["Message"] == "Refusing originates for 30 s (error)"
        r = await c.action("Originate", Channel="Local/1001@agents", Context="hotline-callback",
                           Exten="13804310000", Priority="1", Async="true")
        assert r.response == "Error" and r["Message"] == "Originate failed"

        r = await c.action("PbxTest", Operation="RefuseOriginate", Seconds="30", Mode="failure")
        assert r.response == "Success"
        r = await c.action("Originate", Channel="Local/1001@agents", Context="hotline-callback",
                           Exten="13804310000", Priority="1", Async="true", ActionID="cb-2")
        assert r.response == "Success" and r["Message"] == "Originate successfully queued"
        resp = await c.wait_for(lambda m: m.event == "OriginateResponse" and m.action_id == "cb-2")
        assert resp["Response"] == "Failure" and resp["Reason"] == "0" and resp["Uniqueid"] == "<unknown>"
        assert resp["Context"] == "hotline-callback" and resp["Exten"] == "13804310000"
        assert not pbx.channels                      # nothing was created either way

        stats = await c.action("PbxTest", Operation="Stats")
        assert stats["OriginatesRefused"] == "2"
        pbx.faults._refuse_until = 0.0               # the window is over
        r = await c.action("Originate", Channel="Local/1001@agents", Context="hotline-callback",
                           Exten="13804310000", Priority="1", Async="true", ActionID="cb-3")
        assert r.response == "Success"
        resp = await c.wait_for(lambda m: m.event == "OriginateResponse" and m.action_id == "cb-3")
        assert resp["Response"] == "Success"

        bad = await c.action("PbxTest", Operation="RefuseOriginate", Seconds="5", Mode="sometimes")
        assert bad.response == "Error" and "sometimes" in bad["Message"]
    finally:
        await c.close()
        await pbx.stop()


async def test_live_calls_list_the_records_so_far_with_their_silence():
    pbx, c = await _pbx_and_client()
    try:
        pbx.place_call(CallerScript(number="13804310000", name="张三"))
        done = pbx.place_call(CallerScript(number="13804310001"))
        first = await next_call(c)
        second = await next_call(c, c.messages.index(first) + 1)
        assert await agi(c, first["Channel"], "ANSWER") == "200 result=0"
        assert await agi(c, first["Channel"], "EXEC Wait 3") == "200 result=0"
        assert await agi(c, second["Channel"], "HANGUP") == "200 result=1"
        await done.wait(5)

        r = await c.action("PbxTest", Operation="LiveCalls", ActionID="live")
        assert r.response == "Success" and r["EventList"] == "start"
        end = await c.wait_for(lambda m: m.event == "PbxTestCallsComplete" and m.action_id == "live")
        assert end["ListItems"] == "1"
        (item,) = [m for m in c.events("PbxTestCall") if m.action_id == "live"]
        rec = json.loads(item["Record"])
        assert item["Uniqueid"] == first["Uniqueid"] == rec["call_id"]
        assert item["Application"] == "AGI" and item["Context"] == "hotline-in"
        assert rec["caller_name"] == "张三" and rec["end"] is None and rec["answered"] is not None
        assert rec["max_silence_s"] >= 3.0             # the stretch still running counts

        stats = await c.action("PbxTest", Operation="Stats")
        assert stats["CallersPlaced"] == "2" and stats["CallsUp"] == "1"
    finally:
        await c.close()
        await pbx.stop()
