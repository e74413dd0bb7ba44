"""Dial's time variables and what CoreShowChannels / Status say a channel runs.

ANSWEREDTIME is the caller channel's up time, DIALEDTIME its age (app_dial's
end_bridge_callback; recorded 22 s for 20.5 s of talk after 1.5 s of IVR).
CoreShowChannels and Status show the running application as pbx_exec sets it:
AGI while in AsyncAGI, the EXEC'd one (Dial, MusicOnHold) while it runs.
"""

from __future__ import annotations

from ivr.pbx import AgentBehaviour, CallerScript

from pbx_client import agi, next_call


async def test_answered_time_counts_from_the_callers_answer_not_from_the_agents(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=1.0, talk_s=6.0, ends="agent")
    handle = pbx.place_call(CallerScript(number="043188881234"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"                 # 0.5 s
    assert (await agi(client, ch, 'STREAM FILE demo-congrats ""')).startswith("200 result=0")   # 8 s of IVR
    assert await agi(client, ch, "EXEC Dial Local/1001@agents,20") == "200 result=-1"         # 1 s ring, 6 s talk
    answered = int((await agi(client, ch, "GET FULL VARIABLE ${ANSWEREDTIME}"))[len("200 result=1 ("):-1])
    answered_ms = int((await agi(client, ch, "GET FULL VARIABLE ${ANSWEREDTIME_MS}"))[len("200 result=1 ("):-1])
    dialed = int((await agi(client, ch, "GET FULL VARIABLE ${DIALEDTIME}"))[len("200 result=1 ("):-1])
    # IVR and ring included: 0.5 + 8 + 1 + 6 = 15.5 s of PBX time (the PBX runs 20x faster).
    assert 14 <= answered <= 17, answered
    assert answered == answered_ms // 1000 and answered_ms > 14_000
    assert dialed >= answered                                       # the channel is older than its answer
    rec = handle.record
    assert rec.dials[0].status == "ANSWER"
    handle.hang_up()
    await handle.wait(5)


async def test_unanswered_dial_leaves_the_time_variables_empty(pbx, client):
    handle = pbx.place_call(CallerScript(number="043188881234"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"
    assert await agi(client, ch, "EXEC Dial Local/2001@agents-noanswer,1") == "200 result=0"
    assert await agi(client, ch, "GET FULL VARIABLE ${ANSWEREDTIME}") == "200 result=1 ()"
    handle.hang_up()
    await handle.wait(5)


async def _listed(client, ch: str) -> dict[str, dict]:
    aid = f"cs-{len(client.messages)}"
    await client.action("CoreShowChannels", ActionID=aid)
    await client.wait_for(lambda m: m.event == "CoreShowChannelsComplete" and m.action_id == aid)
    shown = {m["Channel"]: m for m in client.events("CoreShowChannel") if m.action_id == aid}
    aid = f"st-{len(client.messages)}"
    await client.action("Status", Channel=ch, ActionID=aid)
    await client.wait_for(lambda m: m.event == "StatusComplete" and m.action_id == aid)
    status = [m for m in client.events("Status") if m.action_id == aid]
    assert len(status) == 1
    shown["status"] = status[0]
    return shown


async def test_lists_show_agi_then_the_application_an_agi_exec_runs(pbx, client):
    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=2.0, talk_s=None)
    handle = pbx.place_call(CallerScript(number="043188881234"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "ANSWER") == "200 result=0"

    shown = await _listed(client, ch)
    assert (shown[ch]["Application"], shown[ch]["ApplicationData"]) == ("AGI", "agi:async")
    assert (shown["status"]["Application"], shown["status"]["Data"]) == ("AGI", "agi:async")
    assert shown[ch[:-1] + "1"]["Application"] == "Wait"         # the caller's phone, as originated

    client.send([("Action", "AGI"), ("Channel", ch), ("Command", "EXEC MusicOnHold default,30"),
                 ("CommandID", "moh")])
    await client.wait_for(lambda m: m.event == "MusicOnHoldStart")
    shown = await _listed(client, ch)
    assert (shown[ch]["Application"], shown[ch]["ApplicationData"]) == ("MusicOnHold", "default,30")
    assert (shown["status"]["Application"], shown["status"]["Data"]) == ("MusicOnHold", "default,30")
    await client.action("Redirect", Channel=ch, Context="hotline-resume", Exten="s", Priority="1")
    await client.wait_for(lambda m: m.event == "AsyncAGIStart" and m["Context"] == "hotline-resume")

    client.send([("Action", "AGI"), ("Channel", ch), ("Command", "EXEC Dial Local/1001@agents,20"),
                 ("CommandID", "dial")])
    await client.wait_for(lambda m: m.event == "DialState")
    shown = await _listed(client, ch)
    assert (shown[ch]["Application"], shown[ch]["ApplicationData"]) == ("Dial", "Local/1001@agents,20")
    assert shown[ch]["BridgeId"] == "" and shown["status"]["BridgeID"] == ""
    bridged = await client.wait_for(lambda m: m.event == "BridgeEnter" and m["Channel"] == ch)
    shown = await _listed(client, ch)
    assert shown[ch]["Application"] == "Dial" and shown[ch]["BridgeId"] == bridged["BridgeUniqueid"]
    assert shown["status"]["BridgeID"] == bridged["BridgeUniqueid"]
    agent = next(name for name in shown if name.startswith("Local/1001@agents-") and name.endswith(";1"))
    assert shown[agent]["Application"] == "AppDial"

    pbx.hangup(pbx.find(agent), 16, "agent")
    await client.wait_for(lambda m: m.event == "AsyncAGIExec" and m.get("CommandId") == "dial")
    shown = await _listed(client, ch)
    assert (shown[ch]["Application"], shown[ch]["ApplicationData"]) == ("AGI", "agi:async")
    handle.hang_up()
    await handle.wait(5)


async def test_lists_show_the_dialplan_application_between_two_agi_sessions(pbx, client):
    handle = pbx.place_call(CallerScript(number="043188881234"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, 'STREAM FILE not-installed ""') == "200 result=-1 endpos=0"
    await client.wait_for(lambda m: m.event == "Newexten" and m["Application"] == "Wait" and m["Channel"] == ch)
    shown = await _listed(client, ch)
    assert (shown[ch]["Application"], shown[ch]["ApplicationData"]) == ("Wait", "1")
    handle.hang_up()
    await handle.wait(5)


async def test_an_agent_phone_on_a_call_is_busy_with_one_call_per_agent(pbx, client):
    pbx.config.one_call_per_agent = True
    pbx.agents["Local/1001@agents"] = AgentBehaviour(answer_after_s=0.2, talk_s=None)
    first = pbx.place_call(CallerScript(number="043188881234"))
    ch1 = (await next_call(client))["Channel"]
    await client.wait_for(lambda m: m.event == "AsyncAGIStart" and m.get("Channel") == ch1)
    second = pbx.place_call(CallerScript(number="043188885678"))
    ch2 = (await next_call(client, len(client.messages)))["Channel"]
    assert ch2 != ch1
    assert await agi(client, ch1, "ANSWER") == "200 result=0"
    assert await agi(client, ch2, "ANSWER") == "200 result=0"
    client.send([("Action", "AGI"), ("Channel", ch1), ("Command", "EXEC Dial Local/1001@agents,20"),
                 ("CommandID", "d1")])
    await client.wait_for(lambda m: m.event == "DialEnd" and m.get("Channel") == ch1 and m.get("DialStatus") == "ANSWER")
    assert await agi(client, ch2, "EXEC Dial Local/1001@agents,20") == "200 result=0"
    assert await agi(client, ch2, "GET FULL VARIABLE ${DIALSTATUS}") == "200 result=1 (BUSY)"
    client.send([("Action", "AGI"), ("Channel", ch2), ("Command", "EXEC Dial Local/1002@agents,20"),
                 ("CommandID", "d2")])                                                  # another phone answers
    await client.wait_for(lambda m: m.event == "DialEnd" and m.get("Channel") == ch2 and m.get("DialStatus") == "ANSWER")
    first.hang_up()
    second.hang_up()
    await first.wait(5)
    await second.wait(5)
    # free again once its call has ended
    seen = len(client.messages)
    third = pbx.place_call(CallerScript(number="043188889999"))
    ch3 = (await next_call(client, seen))["Channel"]
    assert await agi(client, ch3, "ANSWER") == "200 result=0"
    client.send([("Action", "AGI"), ("Channel", ch3), ("Command", "EXEC Dial Local/1001@agents,20"),
                 ("CommandID", "d3")])
    await client.wait_for(lambda m: m.event == "DialEnd" and m.get("Channel") == ch3 and m.get("DialStatus") == "ANSWER")
    third.hang_up()
    await third.wait(5)
