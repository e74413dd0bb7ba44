"""Every wait of a call has a deadline: what the call does when Asterisk's news never comes.

A scripted AMI peer (real sockets) plays an Asterisk that loses a result, a
hang-up or an answer, or that says a sound file is missing; the call must reach
a defined state each time, never wait for ever.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from ivr.agi.call import AgiCall, Deadlines
from ivr.agi.caller_data import CallerData
from ivr.agi.interface import CallerHungUp, PromptMissing, ResultLost
from ivr.ami.protocol import Message, encode

from ami_fake import FakeAmi, answer, make_link

UID = "pbx1-1764650000.7"
CHAN = "Local/12345@hotline-in-00000007;2"
FAST = Deadlines(slack_s=0.2, probe_s=0.5, talking_check_s=0.2, link_wait_s=5, redirect_s=1, overrun_checks=2)


def exec_event(command_id: str, result: str) -> bytes:
    return encode([("Event", "AsyncAGIExec"), ("Channel", CHAN), ("Uniqueid", UID),
                   ("CommandId", command_id), ("Result", quote(result + "\n", safe=""))])


def event(name: str, **headers) -> bytes:
    return encode([("Event", name), ("Channel", CHAN), ("Uniqueid", UID)] + list(headers.items()))


def status_item(msg: Message, *, app: str = "AGI", bridge: str = "") -> bytes:
    return (answer(msg, EventList="start", Message="Channel status will follow")
            + encode([("Event", "Status"), ("ActionID", msg.action_id), ("Channel", CHAN), ("Uniqueid", UID),
                      ("Application", app), ("BridgeID", bridge)])
            + encode([("Event", "StatusComplete"), ("ActionID", msg.action_id), ("EventList", "Complete"),
                      ("ListItems", "1"), ("Items", "1")]))


class Pbx:
    """Answers AGI actions like Asterisk; ``script(command) -> result text or None`` decides."""

    def __init__(self, script, *, status=lambda msg: status_item(msg), on_redirect=None):
        self.script, self.status, self.on_redirect = script, status, on_redirect
        self.commands: list[str] = []

    def __call__(self, conn, msg: Message):
        name = (msg.action or "").lower()
        if name == "agi":
            command = msg.get("Command") or ""
            self.commands.append(command)
            conn.send(answer(msg, Message="Added AGI command to queue"))
            result = self.script(command)
            if result is not None:
                conn.send(exec_event(msg.get("CommandID"), result))
            return b""
        if name == "status":
            return self.status(msg)
        if name == "redirect":
            conn.send(answer(msg, Message="Redirect successful"))
            if self.on_redirect is not None:
                self.on_redirect(conn)
            return b""
        if name == "hangup":
            return answer(msg, Message="Channel Hungup")
        return None


def answered_dial(command: str) -> str | None:
    """A Dial whose result comes only when the test sends it; DIALSTATUS says ANSWER."""
    if command.startswith("EXEC Dial"):
        return None
    if command.startswith("GET FULL VARIABLE ${DIALSTATUS}"):
        return "200 result=1 (ANSWER)"
    return "200 result=0"


async def with_call(pbx: Pbx, body):
    async with FakeAmi(pbx) as server:
        link = make_link(server.port)
        start = Message([("Event", "AsyncAGIStart"), ("Channel", CHAN), ("Uniqueid", UID), ("Context", "hotline-in")])
        call = AgiCall(link, CallerData.from_start(start), deadlines=FAST, sound_seconds=lambda name: 0.1)
        link.on_event = lambda m: call.feed(m) if m.get("Uniqueid") == UID else None
        await link.connect()
        try:
            return await asyncio.wait_for(body(call, server), 10)
        finally:
            await link.close()


async def test_a_lost_result_is_settled_by_a_noop_behind_it():
    pbx = Pbx(lambda c: None if c.startswith("STREAM FILE") else "200 result=0")
    result = await with_call(pbx, lambda call, _s: call.play(["ivr/zh/city_menu"]))
    assert result is None                                  # counted as played, the call goes on
    assert pbx.commands[0].startswith("STREAM FILE") and "NOOP" in pbx.commands


async def test_run_raises_result_lost_for_the_caller_to_decide():
    pbx = Pbx(lambda c: None if c.startswith("WAIT FOR DIGIT") else "200 result=0")
    with pytest.raises(ResultLost):
        await with_call(pbx, lambda call, _s: call.run("WAIT FOR DIGIT 100", expect_s=0.1))


async def test_a_channel_gone_without_its_hangup_event_ends_the_call():
    def gone(msg):
        return answer(msg, Response="Error", Message="No such channel")

    pbx = Pbx(lambda c: None, status=gone)
    with pytest.raises(CallerHungUp):
        await with_call(pbx, lambda call, _s: call.play(["ivr/zh/city_menu"]))


async def test_an_answer_whose_dialend_was_lost_is_seen_in_the_bridge():
    answered: list[bool] = []

    async def body(call, server):
        async def on_answer():
            answered.append(True)
            # the agent hangs up later: the Dial's result comes at last
            for conn in server.conns:
                conn.send(exec_event(dial_id[0], "200 result=-1"))

        return await call.dial("Local/1001@agents", timeout_s=0.1, on_answer=on_answer)

    dial_id: list[str] = []

    pbx = Pbx(answered_dial, status=lambda msg: status_item(msg, app="Dial", bridge="b-1"))
    original = pbx.__call__

    def remember(conn, msg):
        if (msg.action or "").lower() == "agi" and (msg.get("Command") or "").startswith("EXEC Dial"):
            dial_id.append(msg.get("CommandID"))
        return original(conn, msg)

    result = await with_call(remember, body)
    assert answered == [True]
    assert result.status == "ANSWER" and result.hangup_by == "agent"
    assert result.answered_s >= 0.0


async def test_an_answer_the_acd_refuses_hangs_up_the_agent_leg_and_keeps_the_caller():
    """The agent's phone answered while the ACD has that agent on another call."""
    peer = "Local/1001@agents-0000002a;1"
    hung_up: list[str] = []

    pbx = Pbx(answered_dial)
    dial_id: list[str] = []

    def peer_side(conn, msg):
        name = (msg.action or "").lower()
        if name == "agi" and (msg.get("Command") or "").startswith("EXEC Dial"):
            dial_id.append(msg.get("CommandID"))
            reply = pbx(conn, msg)
            conn.send(event("DialEnd", DestChannel=peer, DialStatus="ANSWER"))
            return reply
        if name == "hangup":
            hung_up.append(msg.get("Channel"))
            conn.send(answer(msg, Message="Channel Hungup"))
            conn.send(exec_event(dial_id[0], "200 result=-1"))   # the bridge ends, the caller stays
            return b""
        return pbx(conn, msg)

    async def body(call, _server):
        with capture_logs() as logs:
            result = await call.dial("Local/1001@agents", timeout_s=5, on_answer=lambda: _refuse())
        return result, logs

    async def _refuse():
        return False

    result, logs = await with_call(peer_side, body)
    assert result.refused and result.answered_s == 0.0
    assert hung_up == [peer]                       # the agent's leg, never the caller's channel
    assert "call.dial_answer_refused" in [e["event"] for e in logs]


async def test_get_data_of_a_missing_file_is_a_missing_prompt_not_a_hang_up():
    def script(command):
        return "200 result=-1" if command.startswith("GET DATA") else "200 result=0"

    pbx = Pbx(script)
    with capture_logs() as logs:
        digits = await with_call(pbx, lambda call, _s: call.collect("ivr/zh/changchun_menu", max_digits=1,
                                                                   timeout_s=3))
    assert digits == ""
    assert "HANGUP" not in pbx.commands
    missing = [e for e in logs if e["event"] == "call.prompt_missing"]
    assert missing and missing[0]["sound"] == "ivr/zh/changchun_menu"


async def test_stream_file_of_a_missing_file_ends_agi_and_the_call_goes_on_after_reentry():
    sent_end: list[bool] = []

    def script(command):
        if command.startswith("STREAM FILE"):
            return "200 result=-1 endpos=0"
        return "200 result=0"

    pbx = Pbx(script)
    original = pbx.__call__

    def handler(conn, msg):
        out = original(conn, msg)
        command = msg.get("Command") or ""
        if command.startswith("STREAM FILE") and not sent_end:
            sent_end.append(True)   # AGI ends; the shipped dialplan re-enters it
            conn.send(event("AsyncAGIEnd") + event("AsyncAGIStart", Context="hotline-resume"))
        return out

    async def body(call, _server):
        with pytest.raises(PromptMissing):
            await call.run('STREAM FILE queue-periodic-announce ""')
        return await call.play(["queue-periodic-announce"])

    assert await with_call(handler, body) is None


async def test_minus_one_with_the_caller_gone_is_a_hang_up():
    def script(command):
        return "200 result=-1 endpos=800" if command.startswith("STREAM FILE") else None

    pbx = Pbx(script)
    original = pbx.__call__

    def handler(conn, msg):
        out = original(conn, msg)
        if (msg.get("Command") or "") == "NOOP":
            conn.send(event("Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}))
        return out

    with pytest.raises(CallerHungUp):
        await with_call(handler, lambda call, _s: call.play(["ivr/zh/city_menu"]))


async def test_a_channel_that_answers_nothing_is_redriven_into_a_fresh_agi_session():
    pbx = Pbx(lambda c: None)
    pbx.on_redirect = lambda conn: conn.send(event("AsyncAGIEnd") + event("AsyncAGIStart", Context="hotline-resume"))

    async def body(call, _server):
        with pytest.raises(ResultLost):
            await call.run("EXEC MusicOnHold default,1", expect_s=1)
        return call.agi_sessions

    assert await with_call(pbx, body) == 2


async def test_a_command_across_a_dropped_connection_still_reaches_an_end():
    async def body(call, server):
        server.conns[0].abort()
        result = await call.play(["hello-world"])
        return result, len(server.conns)

    pbx = Pbx(lambda c: "200 result=0 endpos=100")
    result, connections = await with_call(pbx, body)
    assert result is None and connections == 2
    assert pbx.commands and pbx.commands[-1] in ('STREAM FILE hello-world ""', "NOOP")


async def test_a_redirect_whose_answer_and_new_session_were_lost_is_settled_by_status():
    """The link drops right after the Redirect went out: the new AsyncAGIStart is never seen."""
    cut: list[bool] = []

    def handler(conn, msg):
        if (msg.action or "").lower() == "redirect" and not cut:
            cut.append(True)
            conn.abort()          # Asterisk did it, but nobody heard the answer or the new session
            return b""
        return pbx(conn, msg)

    pbx = Pbx(lambda c: None)

    async def body(call, server):
        await call.redirect()
        return call.agi_sessions

    assert await with_call(handler, body) == 2
    assert cut == [True]


async def test_a_redirect_asked_while_the_link_is_down_goes_out_once_it_is_back():
    pbx = Pbx(lambda c: None)
    pbx.on_redirect = lambda conn: conn.send(event("AsyncAGIEnd") + event("AsyncAGIStart", Context="hotline-resume"))

    async def body(call, server):
        server.conns[0].abort()
        await asyncio.wait_for(_until(lambda: not call.link.connected), 5)
        await call.redirect()
        return len(server.conns), call.agi_sessions, len(server.actions("Redirect"))

    connections, sessions, redirects = await with_call(pbx, body)
    assert connections == 2 and sessions == 2 and redirects == 1


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.001)
