"""MixMonitor and ChanSpy on the PBX as the engine will use them, with the shipped config
(no ``supervisor`` context or monitor folder in pbx.yaml: the built-in defaults).

With real phones (``media: phones``, the default) an answered call carries audio all the
time, so a ``b`` recording is as long as the caller was bridged, summed over every bridge
(a caller handed from one agent to the next gives one file with both conversations).
"""

from __future__ import annotations

import wave

from structlog.testing import capture_logs

from ivr.pbx import AgentBehaviour, CallerScript

from pbx_client import agi, next_call


def _seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


async def _answered_caller(pbx, client):
    handle = pbx.place_call(CallerScript(number="043188881234"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    return handle, ch


async def test_a_transferred_callers_bridged_recording_holds_both_conversations(pbx, client, tmp_path):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(talk_s=4.0, ends="agent")
    pbx.agents["Local/1002@agents"] = AgentBehaviour(talk_s=6.0, ends="agent")
    handle, ch = await _answered_caller(pbx, client)
    path = tmp_path / "2026" / "12" / "06" / "call.wav"            # folders are created
    r = await client.action("MixMonitor", Channel=ch, File=str(path), Options="b")
    assert r.headers == [("Response", "Success"), ("ActionID", r.action_id)]
    await client.wait_for(lambda m: m.event == "MixMonitorStart" and m["Channel"] == ch)
    assert (await client.action("Getvar", Channel=ch, Variable="MIXMONITOR_FILENAME"))["Value"] == str(path)
    assert (await agi(client, ch, 'STREAM FILE demo-congrats ""')).startswith("200 result=0")   # 8 s, not bridged
    assert await agi(client, ch, "EXEC Dial Local/1001@agents,20") == "200 result=-1"         # 4 s bridged
    assert (await agi(client, ch, 'STREAM FILE demo-congrats ""')).startswith("200 result=0")   # 8 s on hold
    assert await agi(client, ch, "EXEC Dial Local/1002@agents,20") == "200 result=-1"         # 6 s bridged
    assert not path.with_suffix(".wav").stat().st_size > 44          # written when the recording ends
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    await handle.wait(5)
    assert abs(_seconds(path) - 10.0) < 0.5
    assert not [m for m in client.messages if m.event == "MixMonitorStop"]   # a hang-up ends it silently


async def test_without_b_the_recording_runs_from_start_to_stop(pbx, client, tmp_path):
    handle, ch = await _answered_caller(pbx, client)
    assert await agi(client, ch, f"EXEC MixMonitor {tmp_path}/ivr.wav") == "200 result=0"
    assert (await agi(client, ch, 'STREAM FILE demo-congrats ""')).startswith("200 result=0")   # 8 s
    r = await client.action("StopMixMonitor", Channel=ch)
    assert r.response == "Success" and "Message" not in r
    await client.wait_for(lambda m: m.event == "MixMonitorStop" and m["Channel"] == ch)
    assert 7.9 < _seconds(tmp_path / "ivr.wav") < 8.8                 # + the AGI polls around it
    assert (await client.action("StopMixMonitor", Channel=ch))["Message"] == "Could not stop monitoring channel"
    handle.hang_up()
    await handle.wait(5)


async def test_a_path_the_pbx_cannot_write_is_logged_and_answered_as_asterisk_does(pbx, client, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the recording's folder would be")
    handle, ch = await _answered_caller(pbx, client)
    with capture_logs() as logs:
        r = await client.action("MixMonitor", Channel=ch, File=f"{blocker}/rec.wav", Options="b")
        assert r.response == "Success"
        await client.wait_for(lambda m: m.event == "MixMonitorStart" and m["Channel"] == ch)
        assert await agi(client, ch, f"EXEC MixMonitor {blocker}/again.wav,b") == "200 result=0"
    assert [e["path"] for e in logs if e["event"] == "pbx.mixmonitor_cannot_open"] == [
        f"{blocker}/rec.wav", f"{blocker}/again.wav"]
    assert (await client.action("StopMixMonitor", Channel=ch)).response == "Success"
    assert (await client.action("Ping")).response == "Success"          # the PBX goes on
    handle.hang_up()
    await handle.wait(5)
    assert blocker.is_file()


async def test_mixmonitor_refuses_what_asterisk_refuses(pbx, client):
    assert (await client.action("MixMonitor", File="/tmp/x.wav"))["Message"] == "No channel specified"
    assert (await client.action("MixMonitor", Channel="Local/1@x-00000000;2", File="/tmp/x.wav"))["Message"] == \
        "No such channel"
    handle, ch = await _answered_caller(pbx, client)
    assert (await client.action("MixMonitor", Channel=ch, Options="b"))["Message"] == \
        "Could not start monitoring channel"                           # no file name
    handle.hang_up()
    await handle.wait(5)


async def _spy(client, spyee: str, options: str, aid: str):
    await client.action("Originate", Channel="Local/9001@supervisor", Application="ChanSpy",
                        Data=f"{spyee},{options}", CallerID="班长 <9001>", Async="true", ActionID=aid)
    ok = await client.wait_for(lambda m: m.event == "OriginateResponse" and m.action_id == aid)
    assert ok["Response"] == "Success"
    return await client.wait_for(lambda m: m.event == "ChanSpyStart" and m["SpyerChannel"] == ok["Channel"])


async def test_a_supervisor_listens_until_hung_up_and_every_spy_ends_with_the_agent(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(talk_s=None)
    handle, ch = await _answered_caller(pbx, client)
    await client.action("AGI", Channel=ch, Command="EXEC Dial Local/1001@agents,20", CommandID="dial")
    agent = (await client.wait_for(lambda m: m.event == "BridgeEnter" and m["Channel"].startswith("Local/1001")))["Channel"]
    listen = await _spy(client, agent, "qE", "s1")
    assert listen["SpyeeChannel"] == agent and listen["SpyerCallerIDName"] == "班长"
    assert (await client.action("Hangup", Channel=listen["SpyerChannel"])).response == "Success"
    await client.wait_for(lambda m: m.event == "ChanSpyStop" and m["SpyerChannel"] == listen["SpyerChannel"])
    await client.wait_for(lambda m: m.event == "Hangup" and m["Channel"] == listen["SpyerChannel"])
    whisper = await _spy(client, "Local/1001@agents", "qEw", "s2")       # a prefix finds the bridged leg
    barge = await _spy(client, agent, "qEB", "s3")
    assert whisper["SpyeeChannel"] == agent
    assert (await client.action("Hangup", Channel=agent)).response == "Success"
    for spy in (whisper, barge):
        await client.wait_for(lambda m, s=spy: m.event == "ChanSpyStop" and m["SpyerChannel"] == s["SpyerChannel"])
        await client.wait_for(lambda m, s=spy: m.event == "Hangup" and m["Channel"] == s["SpyerChannel"])
    handle.hang_up()
    await handle.wait(5)


async def test_without_e_the_supervisor_stays_after_the_agent_leaves(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(talk_s=None)
    handle, ch = await _answered_caller(pbx, client)
    await client.action("AGI", Channel=ch, Command="EXEC Dial Local/1001@agents,20", CommandID="dial")
    agent = (await client.wait_for(lambda m: m.event == "BridgeEnter" and m["Channel"].startswith("Local/1001")))["Channel"]
    spy = await _spy(client, agent, "q", "s1")
    await client.action("Hangup", Channel=agent)
    await client.wait_for(lambda m: m.event == "ChanSpyStop" and m["SpyerChannel"] == spy["SpyerChannel"])
    await client.wait_for(lambda m: m.event == "AsyncAGIExec" and m.get("CommandId") == "dial")
    assert spy["SpyerChannel"] in pbx.channels                        # still there, scanning again
    await client.action("Hangup", Channel=spy["SpyerChannel"])
    await client.wait_for(lambda m: m.event == "Hangup" and m["Channel"] == spy["SpyerChannel"])
    handle.hang_up()
    await handle.wait(5)
