"""Faults injected into the PBX's AMI while calls go on, and raw caller ids on request.

``Pbx.drop_ami(down_s, mode)`` cuts every AMI session and keeps the AMI away for a
while; channels, AGI sessions and the dialplan carry on, and what happened during
the gap is never told.  ``PbxTest`` reaches the same from another process.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, unquote

import pytest

from ivr.pbx import CallerScript, Pbx, PbxConfig

from pbx_client import SECRET, Client, agi, next_call


async def _pbx(**overrides) -> Pbx:
    pbx = Pbx(PbxConfig.load(secret=SECRET, speed=20, seed=2, **overrides))
    await pbx.start()
    return pbx


async def _client(pbx) -> Client:
    c = await Client.connect(*pbx.address)
    assert (await c.login()).response == "Success"
    return c


async def test_drop_cuts_every_session_refuses_connects_and_the_calls_go_on():
    pbx = await _pbx()
    engine = await _client(pbx)
    other = await _client(pbx)
    try:
        handle = pbx.place_call(CallerScript(number="13804310000", keys=[(0.2, "7")]))
        ch = (await next_call(engine))["Channel"]
        assert await agi(engine, ch, "ANSWER") == "200 result=0"
        engine.send([("Action", "AGI"), ("Channel", ch), ("Command", 'STREAM FILE demo-congrats ""'),
                     ("CommandID", "lost")])                        # 8 s: ends during the gap
        await engine.wait_for(lambda m: m.event == "AGIExecStart" and "demo-congrats" in m["Command"])
        back = pbx.drop_ami(0.6)
        await asyncio.wait_for(engine.closed.wait(), 2)
        await asyncio.wait_for(other.closed.wait(), 2)
        with pytest.raises(ConnectionRefusedError):
            await Client.connect(*pbx.address)
        assert pbx.channels and pbx.find(ch).in_agi               # the call is still there
        await asyncio.wait_for(back, 3)
        again = await _client(pbx)
        # The STREAM FILE finished while nobody listened: its AsyncAGIExec is gone for good.
        assert not [m for m in again.messages if m.event == "AsyncAGIExec"]
        aid = "cs"
        await again.action("CoreShowChannels", ActionID=aid)
        await again.wait_for(lambda m: m.event == "CoreShowChannelsComplete")
        listed = {m["Channel"]: m["Application"] for m in again.events("CoreShowChannel")}
        assert listed[ch] == "AGI"
        assert await agi(again, ch, "GET DATA beep 2000 1") == "200 result=7"     # the caller still answers
        assert await agi(again, ch, "HANGUP") == "200 result=1"
        rec = await handle.wait(5)
        assert rec.hangup_by == "engine" and rec.digits == "7"
        await again.close()
    finally:
        await pbx.stop()


async def test_blackhole_takes_connects_but_answers_only_when_the_gap_ends():
    pbx = await _pbx()
    try:
        first = await _client(pbx)
        back = pbx.drop_ami(0.5, mode="blackhole")
        await asyncio.wait_for(first.closed.wait(), 2)
        late = await Client.connect(*pbx.address)                # TCP connects: no refusal
        late.send([("Action", "Login"), ("Username", "hotline"), ("Secret", SECRET), ("ActionID", "L")])
        await asyncio.sleep(0.2)                                   # well inside the gap
        assert late.banner is None and late.messages == [] and not late.closed.is_set()
        ok = await late.wait_for(lambda m: m.action_id == "L", 3)  # answered once the gap ends
        assert back.done() and late.banner == "13.0.0" and ok.response == "Success"
        await late.close()
    finally:
        await pbx.stop()


async def test_a_drop_while_dropped_extends_the_gap_and_bad_drops_are_refused():
    pbx = await _pbx()
    try:
        with pytest.raises(ValueError, match="mode 'sideways'"):
            pbx.drop_ami(1, mode="sideways")
        with pytest.raises(ValueError, match="more than 0"):
            pbx.drop_ami(0)
        first = pbx.drop_ami(0.2)
        second = pbx.drop_ami(0.5)
        await asyncio.sleep(0.3)
        assert first.cancelled()
        with pytest.raises(ConnectionRefusedError):
            await Client.connect(*pbx.address)
        await asyncio.wait_for(second, 2)
        c = await _client(pbx)
        await c.close()
    finally:
        await pbx.stop()


async def test_pbxtest_action_is_unknown_unless_enabled():
    pbx = await _pbx()
    try:
        c = await _client(pbx)
        r = await c.action("PbxTest", Operation="DropAmi", Seconds="1")
        assert r.response == "Error"
        assert r["Message"] == "Invalid/unknown command: PbxTest. Use Action: ListCommands to show available commands."
        assert not c.closed.is_set() and not pbx.faults.down
        await c.close()
    finally:
        await pbx.stop()


async def test_pbxtest_operations_when_enabled():
    pbx = await _pbx(test_actions=True)
    try:
        c = await _client(pbx)
        r = await c.action("PbxTest", Operation="Fly")
        assert r.response == "Error" and "unknown Operation 'Fly' (known: DropAmi, SlowAmi, RefuseOriginate, PlaceCall, Stats, LiveCalls)" in r["Message"]
        r = await c.action("PbxTest", Operation="DropAmi", Seconds="soon")
        assert r.response == "Error" and r["Message"] == "Seconds: 'soon' is not a number of seconds"
        r = await c.action("PbxTest", Operation="PlaceCall", Number="13800000009", Did="12315", Keys="0.1:4")
        assert r.response == "Success" and r["Channel"].endswith(";2")
        start = await next_call(c)
        assert start["Uniqueid"] == r["Uniqueid"]
        assert await agi(c, start["Channel"], "WAIT FOR DIGIT 2000") == f"200 result={ord('4')}"
        r = await c.action("PbxTest", Operation="Stats")
        assert (r["Channels"], r["InAgi"], r["CallsUp"], r["AmiDown"]) == ("2", "1", "1", "no")
        r = await c.action("PbxTest", Operation="DropAmi", Seconds="0.4", Mode="refuse")
        assert r.response == "Success" and r["Message"] == "Dropping AMI for 0.4 s (refuse)"
        await asyncio.wait_for(c.closed.wait(), 2)
        assert pbx.faults.down and len(pbx.channels) == 2
        await asyncio.wait_for(pbx.faults._back, 2)
        c = await _client(pbx)
        assert (await c.action("PbxTest", Operation="Stats"))["Sessions"] == "1"
        await c.close()
    finally:
        await pbx.stop()


async def test_slow_ami_answers_late_while_events_keep_coming():
    pbx = await _pbx(test_actions=True)
    try:
        c = await _client(pbx)
        r = await c.action("PbxTest", Operation="SlowAmi", Seconds="5", Delay="0.6")
        assert r.response == "Success"
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        c.send([("Action", "Ping"), ("ActionID", "slow-ping")])
        pbx.place_call(CallerScript(number="13800000009"))          # events meanwhile
        event = await c.wait_for(lambda m: m.event == "AsyncAGIStart", 2)
        t_event = loop.time() - t0
        pong = await c.wait_for(lambda m: m.action_id == "slow-ping", 3)
        assert pong["Ping"] == "Pong"
        assert loop.time() - t0 >= 0.6 > t_event and event is not None
        await c.close()
    finally:
        await pbx.stop()


# -- caller ids with CR/LF ------------------------------------------------------------------

async def _raw_bytes_until(reader, marker: bytes, timeout: float = 5.0) -> bytes:
    """Bytes read until ``marker`` and the end of the message it is in."""
    data = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while marker not in data or b"\r\n\r\n" not in data[data.index(marker):]:
        chunk = await asyncio.wait_for(reader.read(65536), max(deadline - loop.time(), 0.01))
        if not chunk:
            break
        data += chunk
    return data


async def test_raw_caller_id_reaches_the_wire_unchanged_when_asked():
    pbx = await _pbx(raw_caller_id=True)
    try:
        reader, writer = await asyncio.open_connection(*pbx.address)
        writer.write(f"Action: Login\r\nUsername: hotline\r\nSecret: {SECRET}\r\n\r\n".encode())
        await _raw_bytes_until(reader, b"Authentication accepted")
        name, number = "张\r\n三", "0431\r\n8888"
        handle = pbx.place_call(CallerScript(number=number, name=name))
        data = await _raw_bytes_until(reader, b"Event: AsyncAGIStart")
        assert b"CallerIDName: \xe5\xbc\xa0\r\n\xe4\xb8\x89\r\n" in data
        assert b"CallerIDNum: 0431\r\n8888\r\n" in data
        env_at = data.index(b"Env: ")
        env = unquote(data[env_at:data.index(b"\r\n", env_at)].decode()[5:])
        assert "agi_calleridname: 张\r\n三\n" in env and "agi_callerid: 0431\r\n8888\n" in env
        assert quote("张\r\n三") in data.decode()                 # URL-encoded in Env, as Asterisk does
        handle.hang_up()
        await handle.wait(5)
        writer.close()
    finally:
        await pbx.stop()


async def test_by_default_a_caller_id_with_crlf_is_refused_with_a_clear_error(pbx):
    with pytest.raises(ValueError, match="caller id carries a CR or LF.*raw_caller_id=True"):
        pbx.place_call(CallerScript(number="0431\n8888"))
    assert not pbx.channels and not pbx.records
