"""AMI session behaviour beyond the recordings: errors, masks, filters, raw bytes, config."""

from __future__ import annotations

import asyncio

import pytest

from ivr.pbx import ConfigError, Pbx, PbxConfig
from ivr.pbx.config import pattern_regex
from ivr.pbx.events import ALL, AGI, CALL, DTMF, Filters, parse_mask

from pbx_client import SECRET, Client, agi, next_call


async def test_actions_before_login_are_refused(pbx):
    c = await Client.connect(*pbx.address)
    r = await c.action("Ping")
    assert r.response == "Error" and r["Message"] == "Permission denied"
    await c.close()


async def test_missing_action_and_unknown_agi_command(pbx, client):
    client.send_raw(b"ActionID: x1\r\nFoo: bar\r\n\r\n")
    r = await client.wait_for(lambda m: m.action_id == "x1")
    assert r.response == "Error" and r["Message"] == "Missing action in request"
    from ivr.pbx import CallerScript
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "FLY TO MOON") == "510 Invalid or unknown command"
    r = await client.action("AGI", Channel=ch)
    assert r["Message"] == "Both, Channel and Command are *required*"
    caller = ch[:-1] + "1"
    r = await client.action("AGI", Channel=caller, Command="ANSWER")
    assert r["Message"] == f"Failed to add AGI command to channel {caller} queue"
    handle.hang_up()
    await handle.wait(5)


async def test_sync_and_async_originate_failures(pbx, client):
    r = await client.action("Originate", Channel="Local/1@nosuchcontext", Application="Wait", Data="1")
    assert r.response == "Error" and r["Message"] == "Originate failed"
    r = await client.action("Originate", Channel="Local/1@nosuchcontext", Application="Wait", Data="1",
                            Async="true", ActionID="o2")
    assert r["Message"] == "Originate successfully queued"
    resp = await client.wait_for(lambda m: m.event == "OriginateResponse")
    assert resp["Response"] == "Failure" and resp["ActionID"] == "o2" and resp["Uniqueid"] == "<unknown>"


async def test_sync_originate_waits_for_answer(pbx, client):
    # As in Asterisk, a synchronous Originate holds its session: the engine uses another one.
    other = await Client.connect(*pbx.address)
    await other.login()

    async def engine():
        start = await next_call(other)
        await agi(other, start["Channel"], "ANSWER")
        return start

    eng = asyncio.create_task(engine())
    r = await client.action("Originate", Channel="Local/12345@hotline-in", Application="Wait", Data="1",
                            CallerID="王五 <043100000000>")
    assert r.response == "Success" and r["Message"] == "Originate successfully queued"
    start = await eng
    assert start["CallerIDName"] == "王五"
    # Wait(1) ends the caller's side after one (PBX) second.
    hup = await client.wait_for(lambda m: m.event == "Hangup" and m["Channel"] == start["Channel"])
    assert hup["Cause"] == "16"
    await other.close()


async def test_command_and_lists_show_live_channels(pbx, client):
    from ivr.pbx import CallerScript
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    r = await client.action("Command", Command="core show channels")
    out = r.getall("Output")
    assert out[0].split() == ["Channel", "Location", "State", "Application(Data)"]
    assert out[-3:] == ["2 active channels", "1 active call", "1 call processed"]
    r = await client.action("Command", Command="core show nothing")
    assert r.response == "Error" and "No such command" in r["Output"]
    await client.action("CoreShowChannels", ActionID="cs")
    done = await client.wait_for(lambda m: m.event == "CoreShowChannelsComplete")
    items = [m for m in client.events("CoreShowChannel") if m.action_id == "cs"]
    assert done["ListItems"] == "2" and {m["Channel"] for m in items} == {ch, ch[:-1] + "1"}
    assert {"BridgeId", "Application", "ApplicationData", "Duration", "Uniqueid", "Linkedid"} <= set(items[0].as_dict())
    await client.action("Status", ActionID="st")
    done = await client.wait_for(lambda m: m.event == "StatusComplete")
    assert done["Items"] == "2"
    assert len([m for m in client.events("Status") if m.action_id == "st"]) == 2
    r = await client.action("Status", Channel="Local/none-000;2")
    assert r["Message"] == "No such channel"
    handle.hang_up()
    await handle.wait(5)


async def test_event_mask_and_filters_per_session(pbx, client):
    from ivr.pbx import CallerScript
    quiet = await Client.connect(*pbx.address)
    assert (await quiet.login(events="off")).response == "Success"
    dtmf_only = await Client.connect(*pbx.address)
    await dtmf_only.login(events="dtmf")
    excl = await Client.connect(*pbx.address)
    await excl.login(events="on")
    r = await excl.action("Filter", Operation="Add", Filter="!Event: (VarSet|Newexten)")
    assert r["Message"] == "Success"
    r = await excl.action("Filter", Operation="Add", Filter="Event: (")
    assert r.response == "Error" and "did not compile" in r["Message"]
    handle = pbx.place_call(CallerScript(number="13804310000", keys=[(0.1, "5")]))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "WAIT FOR DIGIT 2000") == f"200 result={ord('5')}"
    handle.hang_up()
    await handle.wait(5)
    await asyncio.sleep(0.05)
    assert quiet.events() == []
    assert {m.event for m in dtmf_only.events()} == {"DTMFBegin", "DTMFEnd"}
    names = {m.event for m in excl.events()}
    assert "VarSet" not in names and "Newexten" not in names and "AsyncAGIStart" in names
    assert "VarSet" in {m.event for m in client.events()}
    for c in (quiet, dtmf_only, excl):
        await c.close()


async def test_events_action_answers_on_off(pbx, client):
    r = await client.action("Events", EventMask="off")
    assert r["Events"] == "Off"
    r = await client.action("Events", EventMask="call,agi")
    assert r["Events"] == "On"
    r = await client.action("Events", EventMask="bogus")
    assert r.response == "Error"


async def test_inject_garbage_and_huge_line(pbx, client):
    n = pbx.inject(b"garbage without colon\r\n\r\n")
    assert n == 1
    m = await client.wait_for(lambda m: m.body == ["garbage without colon"])
    assert m.headers == []
    pbx.inject(b"Event: Big\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    big = await client.wait_for(lambda m: m.event == "Big")
    assert len(big["X-Big"]) == 100_000
    r = await client.action("Ping")
    assert r["Ping"] == "Pong"


async def test_logoff_and_login_failure_close(pbx):
    c = await Client.connect(*pbx.address)
    r = await c.login(secret="wrong")
    assert r["Message"] == "Authentication failed"
    await asyncio.wait_for(c.closed.wait(), 5)
    c = await Client.connect(*pbx.address)
    await c.login()
    r = await c.action("Logoff")
    assert r.response == "Goodbye" and r["Message"] == "Thanks for all the fish."
    await asyncio.wait_for(c.closed.wait(), 5)


def test_filters_follow_manager_c():
    f = Filters()
    assert not f and f.passes("Event: Anything\r\n")
    f.add("Event: Hangup")
    assert f.passes("Event: HangupRequest\r\n") and not f.passes("Event: Newstate\r\n")
    f.add("!Cause: 16")
    assert not f.passes("Event: Hangup\r\nCause: 16\r\n") and f.passes("Event: Hangup\r\nCause: 0\r\n")
    only_ex = Filters()
    only_ex.add("!Event: VarSet")
    assert only_ex.passes("Event: Newstate\r\n") and not only_ex.passes("Event: VarSet\r\n")
    assert not Filters().add("(")


def test_masks():
    assert parse_mask("on") == ALL and parse_mask("off") == 0
    assert parse_mask("call,agi,dtmf") == CALL | AGI | DTMF
    assert parse_mask("258") == 258
    assert parse_mask("call,nonsense") is None


@pytest.mark.parametrize("pattern,yes,no", [
    ("_0431X.", ["043188", "043188886666"], ["04318", "0432888"]),
    ("_123XX", ["12315", "12345"], ["1231", "123456"]),
    ("_043[2-9]X.", ["043212", "0439999"], ["043112", "0432"]),
    ("_NXX", ["200", "999"], ["100", "20"]),
])
def test_patterns(pattern, yes, no):
    rx = pattern_regex(pattern)
    assert all(rx.fullmatch(x) for x in yes)
    assert not any(rx.fullmatch(x) for x in no)


def test_config_errors_name_the_place(tmp_path):
    bad = tmp_path / "pbx.yaml"
    bad.write_text("dialplan:\n  hotline-in:\n    '12345': [NoOp(x)\n")
    with pytest.raises(ConfigError, match=r"pbx\.yaml:\d+"):
        PbxConfig.load(bad)
    bad.write_text("dialplan:\n  hotline-in:\n    '12345': [Frobnicate(x)]\n")
    with pytest.raises(ConfigError, match=r"dialplan\.hotline-in\.12345: application 'Frobnicate'"):
        PbxConfig.load(bad)
    bad.write_text("timing:\n  answer_s: soon\n")
    with pytest.raises(ConfigError, match="timing.answer_s"):
        PbxConfig.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        PbxConfig.load(tmp_path / "missing.yaml")


async def test_start_needs_a_secret_and_a_free_port(pbx):
    with pytest.raises(ConfigError, match="secret"):
        await Pbx(PbxConfig.load()).start()
    busy = Pbx(PbxConfig.load(secret=SECRET, port=pbx.address[1]))
    with pytest.raises(ConfigError, match=f"127.0.0.1:{pbx.address[1]}"):
        await busy.start()


async def test_local_pair_names_and_ids(pbx, client):
    import re
    from ivr.pbx import CallerScript
    handle = pbx.place_call(CallerScript(number="13804310000", name="李四"))
    start = await next_call(client)
    news = client.events("Newchannel")[:2]
    one, two = news[0], news[1]
    assert re.fullmatch(r"Local/12345@hotline-in-[0-9a-f]{8};1", one["Channel"])
    assert two["Channel"] == one["Channel"][:-1] + "2" == start["Channel"]
    assert re.fullmatch(r"pbx1-\d+\.\d+", one["Uniqueid"]) and one["Uniqueid"] != two["Uniqueid"]
    assert one["Linkedid"] == two["Linkedid"] == one["Uniqueid"]
    assert start["Uniqueid"] == two["Uniqueid"] and start["CallerIDName"] == "李四"
    handle.hang_up()
    rec = await handle.wait(5)
    hangups = [m for m in client.events("Hangup") if m["Linkedid"] == one["Linkedid"]]
    assert {m["Channel"] for m in hangups} == {one["Channel"], two["Channel"]}
    assert all(m["Cause"] == "16" and m["Cause-txt"] == "Normal Clearing" for m in hangups)
    assert rec.caller_channel == one["Channel"] and rec.channel == two["Channel"]


async def test_originate_to_extension_runs_dialplan_on_the_first_leg(pbx, client):
    """A callback: ring Local/1001@agents and, once answered, put that leg into hotline-in."""
    r = await client.action("Originate", Channel="Local/1001@agents", Context="hotline-in", Exten="12345",
                            Priority="1", CallerID="<12345>", Async="true", ActionID="cb")
    assert r["Message"] == "Originate successfully queued"
    resp = await client.wait_for(lambda m: m.event == "OriginateResponse")
    assert resp["Response"] == "Success" and resp["Channel"].endswith(";1")
    start = await next_call(client)
    assert start["Channel"] == resp["Channel"] and start["Context"] == "hotline-in"
    assert await agi(client, start["Channel"], "HANGUP") == "200 result=1"
    await client.wait_for(lambda m: m.event == "Hangup" and m["Channel"] == resp["Channel"][:-1] + "2")
    assert pbx.channels == {}


async def test_corestatus_tells_when_the_pbx_started_and_changes_after_a_restart(pbx, client):
    r = await client.action("CoreStatus")
    assert r.response == "Success" and r["CoreStartupDate"] and r["CoreStartupTime"]
    assert set(r.as_dict()) >= {"CoreReloadDate", "CoreReloadTime", "CoreCurrentCalls", "CoreProcessedCalls"}
    pbx.boot -= 3600            # as if it had started an hour ago
    earlier = await client.action("CoreStatus")
    assert (earlier["CoreStartupDate"], earlier["CoreStartupTime"]) != (r["CoreStartupDate"], r["CoreStartupTime"])


async def test_setvar_of_callerid_changes_the_channels_caller_id(pbx, client):
    from ivr.pbx import CallerScript

    handle = pbx.place_call(CallerScript(number="13804310000", name="李四"))
    ch = (await next_call(client))["Channel"]
    r = await client.action("Setvar", Channel=ch, Variable="CALLERID(name)", Value="王五")
    assert r.response == "Success"
    r = await client.action("Getvar", Channel=ch, Variable="CALLERID(name)")
    assert r["Value"] == "王五"
    assert pbx.find(ch).cid_name == "王五"
    handle.hang_up()
    await handle.wait(5)
