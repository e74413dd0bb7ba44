"""Every recorded capture played back to the link over a real socket.

``.raw`` files: the exact bytes Asterisk sent, cut into random pieces (seeded,
many one byte long).  ``.jsonl`` files: each action the link sends is answered
with what the real Asterisk answered to it.  Expected values are read from the
captures with plain regular expressions, not with the parser under test.
"""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from ivr.ami import agi_result
from ivr.ami.errors import AmiActionError, AmiLoginError
from ivr.ami.link import AmiLink, LinkProtocol

from ami_fake import SECRET, FakeAmi, JsonlReplay, header, load_jsonl, rewrite_action_id, send_chunked, steps_of

RAW_NAMES = [
    "login",
    "asyncagi-ivr-to-agent",
    "asyncagi-dial-noanswer-busy",
    "asyncagi-caller-hangs-up",
    "asyncagi-redirect-and-break",
    "asyncagi-filtered-events",
    "errors",
    "app-queue-call",
]
LIST_ACTIONS = {"coreshowchannels", "status", "queuestatus", "queuesummary"}
SENTINEL = b"Event: ReplayDone\r\n\r\n"


def make_link(port: int, **kw) -> AmiLink:
    kw.setdefault("ping_interval", None)
    kw.setdefault("action_timeout", 5)
    return AmiLink("127.0.0.1", port, "hotline", SECRET, **kw)


def events_in_bytes(raw: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb"^Event: (\S+)\r$", raw, re.M)]


async def replay_raw(raw: bytes, seed: int):
    """Play a .raw capture after the link's login; return the events its sink saw."""
    banner, _, rest = raw.partition(b"\r\n")
    rng = random.Random(seed)
    seen = []
    done = asyncio.Event()

    def sink(msg):
        if msg.event == "ReplayDone":
            done.set()
        else:
            seen.append(msg)

    async with FakeAmi(banner=banner + b"\r\n") as server:
        link = make_link(server.port)
        link.on_event = sink
        streamed = []

        async def on_connected():
            conn = server.conns[-1]
            streamed.append(asyncio.create_task(send_chunked(conn.writer, rest + SENTINEL, rng)))

        link.on_connected = on_connected
        await link.connect()
        try:
            await asyncio.wait_for(done.wait(), 30)
            await streamed[0]
            status = link.status
        finally:
            await link.close()
    return seen, status


@pytest.mark.parametrize("name", RAW_NAMES)
async def test_raw_capture_events_reach_the_sink_in_order(captures_dir, name, monkeypatch):
    reads: list[int] = []
    stock = LinkProtocol.data_received

    def counting(self, data):
        reads.append(len(data))
        stock(self, data)

    monkeypatch.setattr(LinkProtocol, "data_received", counting)
    raw = (captures_dir / f"{name}.raw").read_bytes()
    seen, status = await replay_raw(raw, seed=len(raw))
    assert 1 in reads and len(reads) >= 3  # really cut up, often mid-message
    expected = events_in_bytes(raw)
    assert expected, "capture has events"
    assert [m.event for m in seen] == expected
    # Responses in the stream answer actions this link never sent: none reached the sink.
    assert all(m.response is None or m.event for m in seen)
    assert status["garbage_messages"] == 0 and status["oversized_messages"] == 0
    # The Uniqueid of every event is what the bytes say, in the same order.
    uniq = [u.decode() for u in re.findall(rb"^Uniqueid: (\S+)\r$", raw, re.M)]
    assert [m.get("Uniqueid") for m in seen if m.get("Uniqueid") is not None] == uniq


async def test_ivr_to_agent_values(captures_dir):
    raw = (captures_dir / "asyncagi-ivr-to-agent.raw").read_bytes()
    seen, _ = await replay_raw(raw, seed=7)
    starts = [m for m in seen if m.event == "AsyncAGIStart"]
    assert len(starts) == 1
    env = agi_result.parse_env(starts[0]["Env"])
    assert env["agi_callerid"] == "043188886666"
    assert env["agi_calleridname"] == "张三"
    assert env["agi_extension"] == "12345"
    assert starts[0]["CallerIDName"] == "张三"
    results = [agi_result.decode_exec_result(m["Result"]) for m in seen if m.event == "AsyncAGIExec"]
    assert [r.code for r in results] == [200] * len(results)
    # ANSWER, STREAM FILE, GET DATA "12", WAIT FOR DIGIT timeout, ..., Dial answered, DIALSTATUS.
    assert (results[0].result, results[0].ok) == ("0", True)
    assert any(r.result == "0" and r.endpos == 11360 for r in results)
    assert any(r.result == "12" for r in results)
    assert any(r.data == "043188886666" for r in results)
    assert any(r.data == "ANSWER" for r in results)
    # the originated caller leg's DialEnd, then the agent's
    assert [m["DialStatus"] for m in seen if m.event == "DialEnd"] == ["ANSWER", "ANSWER"]
    assert [m["DestChannel"].split("-")[0] for m in seen if m.event == "DialEnd"] == ["Local/12345@hotline", "Local/1001@agents"]
    dtmf = [m["Digit"] for m in seen if m.event == "DTMFEnd" and m.get("Direction") == "Received"]
    assert dtmf == ["1", "2"]
    assert all(m["Channel"].endswith(";2") for m in seen if m.event == "DTMFEnd")


async def test_dial_noanswer_busy_values(captures_dir):
    raw = (captures_dir / "asyncagi-dial-noanswer-busy.raw").read_bytes()
    seen, _ = await replay_raw(raw, seed=11)
    agents = [m["DialStatus"] for m in seen if m.event == "DialEnd" and "@agents" in m["DestChannel"]]
    assert agents == ["NOANSWER", "BUSY"]
    results = [agi_result.decode_exec_result(m["Result"]) for m in seen if m.event == "AsyncAGIExec"]
    assert [r.data for r in results if r.data in ("NOANSWER", "BUSY", "CHANUNAVAIL")] == ["NOANSWER", "BUSY", "CHANUNAVAIL"]
    start = next(m for m in seen if m.event == "AsyncAGIStart")
    assert agi_result.parse_env(start["Env"])["agi_calleridname"] == "李四"


async def test_caller_hangs_up_values(captures_dir):
    raw = (captures_dir / "asyncagi-caller-hangs-up.raw").read_bytes()
    seen, _ = await replay_raw(raw, seed=3)
    results = [agi_result.decode_exec_result(m["Result"]) for m in seen if m.event == "AsyncAGIExec"]
    hung = [r for r in results if r.hung_up]
    assert hung and hung[0].endpos == 7360 and hung[0].result == "-1"
    names = [m.event for m in seen]
    assert names.index("AsyncAGIEnd") > names.index("AsyncAGIExec")


async def test_login_failed_capture_raises_login_error(captures_dir):
    raw = (captures_dir / "login-failed.raw").read_bytes()
    banner, _, rest = raw.partition(b"\r\n")
    rng = random.Random(5)

    async def handler(conn, msg):
        if msg.action == "Login":
            data = rewrite_action_id(rest.decode(), "login-1", msg.action_id).encode()
            await send_chunked(conn.writer, data, rng)
            conn.writer.close()
            return b""
        return None

    async with FakeAmi(handler, banner=banner + b"\r\n") as server:
        link = make_link(server.port)
        with pytest.raises(AmiLoginError) as info:
            await link.connect()
        assert str(info.value) == f"login refused by 127.0.0.1:{server.port} as hotline"
        assert "\n" not in str(info.value)
        assert not link.connected
        await link.close()


JSONL_NAMES = RAW_NAMES


@pytest.mark.parametrize("name", JSONL_NAMES)
async def test_jsonl_answers_reach_action_callers(captures_dir, name):
    steps = steps_of(load_jsonl(captures_dir / f"{name}.jsonl"))
    rng = random.Random(name)
    replay = JsonlReplay(steps, rng)
    seen = []
    async with FakeAmi(replay) as server:
        link = make_link(server.port)
        link.on_event = seen.append
        await link.connect()
        expected_events: list[str] = []
        checked = 0
        try:
            for step in steps:
                if step.action in ("Login", "Events", "Filter"):
                    # sent by connect(); the link waits for them itself
                    expected_events += [header(t, "Event") for t in step.ins if header(t, "Event")]
                    continue
                first = next(t for t in step.ins if header(t, "ActionID") == step.action_id and header(t, "Response"))
                list_items = [
                    t for t in step.ins
                    if header(t, "Event") and header(t, "ActionID") == step.action_id
                    and step.action.lower() in LIST_ACTIONS
                ]
                others = [header(t, "Event") for t in step.ins if header(t, "Event") and t not in list_items]
                expected_events += others
                if header(first, "Response") == "Error":
                    with pytest.raises(AmiActionError) as info:
                        await link.action(step.action, step.headers())
                    assert str(info.value) == header(first, "Message")
                    assert info.value.action == step.action
                elif step.action.lower() in LIST_ACTIONS:
                    items = await link.action_list(step.action, step.headers())
                    assert [m.event for m in items] == [header(t, "Event") for t in list_items[:-1]]
                    assert header(list_items[-1], "Event").endswith("Complete")
                    assert int(header(list_items[-1], "ListItems")) == len(items)
                else:
                    resp = await link.action(step.action, step.headers())
                    assert resp.response == header(first, "Response")
                    assert resp.get("Message") == header(first, "Message")
                    assert resp.action_id != step.action_id  # the link's own id came back
                checked += 1
        finally:
            await link.close()
    assert checked == len([s for s in steps if s.action not in ("Login", "Events", "Filter")])
    assert [m.event for m in seen] == expected_events


async def test_errors_capture_each_error_surfaces(captures_dir):
    """errors.jsonl: every Response: Error is an AmiActionError carrying Asterisk's text."""
    steps = steps_of(load_jsonl(captures_dir / "errors.jsonl"))
    replay = JsonlReplay(steps, random.Random(1))
    messages = []
    async with FakeAmi(replay) as server:
        link = make_link(server.port)
        link.on_event = lambda m: None
        await link.connect()
        try:
            for step in steps[1:]:
                try:
                    if step.action.lower() in LIST_ACTIONS:
                        await link.action_list(step.action, step.headers())
                    else:
                        await link.action(step.action, step.headers())
                except AmiActionError as exc:
                    messages.append((step.action, str(exc)))
        finally:
            await link.close()
    assert messages == [
        ("NoSuchAction", "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."),
        ("Redirect", "Channel does not exist: Local/none-000;2"),
        ("Hangup", "No such channel"),
        ("Originate", "Originate failed"),
        ("PlayDTMF", "Channel not found"),
    ]


async def test_login_failed_jsonl_answer_raises_login_error(captures_dir):
    steps = steps_of(load_jsonl(captures_dir / "login-failed.jsonl"))
    assert [s.action for s in steps] == ["Login"]
    async with FakeAmi(JsonlReplay(steps, random.Random(2))) as server:
        link = make_link(server.port)
        with pytest.raises(AmiLoginError, match=rf"^login refused by 127\.0\.0\.1:{server.port} as hotline$"):
            await link.connect()
        assert link.status["state"] == "disconnected"
        assert [m.action for m in server.conns[0].actions] == ["Login"]  # no Events/Filter after a refusal
        await link.close()
