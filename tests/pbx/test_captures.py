"""Replay the client side of every recorded capture against the built-in PBX.

Each capture's actions are sent in order (paced like the recording, sped up);
before each action the replay waits for the messages the real Asterisk had sent
by then.  Between two actions the PBX must answer with the same multiset of
messages: same Response/Event names, same header names, and the same values
where they are deterministic (Message texts, DialStatus, decoded AGI results,
CommandId, causes, digits, channel names...).  Uniqueids, times and ids that
Asterisk draws at random are not compared.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
from collections import Counter
from urllib.parse import unquote

import pytest

from ivr.ami.protocol import Message, parse_message
from ivr.pbx import Pbx, PbxConfig

from pbx_client import SECRET, Client, first_local_seq, load_capture

SPEED = 5.0
#: An event the recording shows this soon after an action was sent had been on its way
#: before the action arrived (the driver sent the action the moment the answer before it
#: came): the PBX may put it on either side of that action.
RACE_S = 0.005

#: Events whose names, headers and deterministic values the PBX reproduces exactly.
EXACT_EVENTS = {
    "Newchannel", "Newstate", "Hangup", "HangupRequest", "SoftHangupRequest", "DialBegin", "DialState",
    "DialEnd", "BridgeCreate", "BridgeEnter", "BridgeLeave", "BridgeDestroy", "AsyncAGIStart",
    "AsyncAGIExec", "AsyncAGIEnd", "AGIExecStart", "AGIExecEnd", "DTMFBegin", "DTMFEnd",
    "MusicOnHoldStart", "MusicOnHoldStop", "OriginateResponse", "NewCallerid", "NewConnectedLine",
    "LocalBridge", "FullyBooted", "SuccessfulAuth", "RequestBadFormat", "CoreShowChannelsComplete",
    "StatusComplete", "BlindTransfer", "Hold", "Unhold", "MixMonitorStart", "MixMonitorStop",
    "ChanSpyStart", "ChanSpyStop",
}
VALUES = ("Message", "DialStatus", "Cause", "Cause-txt", "Digit", "Direction", "Channel", "DestChannel",
          "ChannelStateDesc", "DestChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
          "ConnectedLineName", "Context", "Exten", "Priority", "Class", "Reason", "Events", "Ping",
          "ListItems", "EventList", "Application", "Data", "ResultCode", "DialString", "Output",
          "BridgeNumChannels", "LocalOneChannel", "LocalTwoChannel", "DestContext", "DestExten",
          "DestCallerIDNum", "DestCallerIDName", "Status", "Response", "RequestType", "AccountID",
          "TransfererChannel", "TransfereeChannel", "Extension", "IsExternal", "SpyerChannel",
          "SpyerContext", "SpyeeContext")
ENV_KEYS_EXACT = ("agi_request", "agi_channel", "agi_language", "agi_type", "agi_callerid",
                  "agi_calleridname", "agi_dnid", "agi_context", "agi_extension", "agi_priority")


def signature(m: Message):
    """What must match for one message, or None for messages not compared."""
    if m.event is None:
        kind, name = "R", m.response
    elif m.event in EXACT_EVENTS:
        kind, name = "E", m.event
    else:
        return None
    names = frozenset(k for k, _ in m.headers)
    values = []
    for h in VALUES:
        if h in m:
            values.append((h, tuple(m.getall(h))))
    if name == "AsyncAGIExec":
        # endpos counts samples actually played: timing, not logic.
        values.append(("Result", re.sub(r"endpos=\d+", "endpos=N", unquote(m["Result"]))))
        values.append(("CommandId", m.get("CommandId")))
    if name in ("AGIExecEnd", "BlindTransfer"):
        values.append(("Result", m.get("Result")))
    if name in ("AGIExecStart", "AGIExecEnd"):
        values.append(("Command", m.get("Command")))
    if name == "AsyncAGIStart":
        env = dict(line.split(": ", 1) for line in unquote(m["Env"]).splitlines() if ": " in line)
        values.append(("EnvKeys", tuple(sorted(env))))
        values.append(("Env", tuple((k, env.get(k)) for k in ENV_KEYS_EXACT)))
    return kind, name, names, tuple(values)


async def replay(pbx: Pbx, capture: str, captures_dir, *, foreign=None, rewrite=None, max_gap_s: float = 1.0):
    """``foreign(message)`` tells the recorded messages that belong to no session the
    replay plays (another client's login): they are not expected.  ``rewrite(text)``
    changes every recorded message first (both directions: a folder of the recording
    machine that the test puts elsewhere).  A pause of the recording longer than
    ``max_gap_s`` is shortened to it (give more where durations are checked)."""
    entries = load_capture(captures_dir / f"{capture}.jsonl")
    if rewrite is not None:
        entries = [dict(e, text=rewrite(e["text"])) for e in entries]
    pbx._chan_seq = first_local_seq(entries)
    loop = asyncio.get_running_loop()
    client = await Client.connect(*pbx.address)
    expected: list[list] = [[]]
    racing: list[list] = [[]]        # per segment: events recorded within RACE_S of its action
    boundaries: list[int] = []
    last_t = 0.0
    sent_t = 0.0
    last_send = loop.time()
    try:
        for e in entries[1:]:
            if e["dir"] == "in":
                msg = parse_message(e["text"].encode("utf-8"))
                sig = None if foreign is not None and foreign(msg) else signature(msg)
                if sig is not None:
                    expected[-1].append(sig)
                    if msg.event is not None and e["t"] - sent_t <= RACE_S:
                        racing[-1].append(sig)
                continue
            need = sum(len(seg) for seg in expected)
            await _wait_count(client, need, 3.0)
            gap = min(e["t"] - last_t, max_gap_s) / SPEED
            delay = last_send + gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            last_t = e["t"]
            boundaries.append(len(client.messages))
            client.send_raw(e["text"].replace("hotline-secret", SECRET).encode("utf-8"))
            last_send = loop.time()
            sent_t = e["t"]
            expected.append([])
            racing.append([])
        await _wait_count(client, sum(len(seg) for seg in expected), 3.0)
        await asyncio.sleep(0.05)
    finally:
        await client.close()
    msgs = client.messages
    cuts = boundaries + [len(msgs)]
    actual = [[s for s in (signature(m) for m in msgs[: cuts[0]]) if s is not None]]
    for a, b in zip(cuts, cuts[1:]):
        actual.append([s for s in (signature(m) for m in msgs[a:b]) if s is not None])
    _settle_races(expected, actual, racing)
    return expected, actual, client


def _settle_races(expected, actual, racing) -> None:
    """Count a racing event the PBX sent just before its action in the segment the
    recording has it in."""
    for i in range(1, len(expected)):
        for sig in racing[i]:
            if Counter(actual[i])[sig] < Counter(expected[i])[sig] and \
                    Counter(actual[i - 1])[sig] > Counter(expected[i - 1])[sig]:
                actual[i - 1].remove(sig)
                actual[i].append(sig)


async def _wait_count(client: Client, need: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(1 for m in client.messages if signature(m) is not None) < need and loop.time() < deadline:
        if client.closed.is_set():
            return
        await asyncio.sleep(0.005)


def diff(expected, actual) -> str:
    lines = []
    for i, (e, a) in enumerate(zip(expected, actual)):
        ce, ca = Counter(e), Counter(a)
        if ce != ca:
            for sig in ce - ca:
                lines.append(f"segment {i}: missing {sig[0]}:{sig[1]} {sorted(sig[2])} {sig[3]}")
            for sig in ca - ce:
                lines.append(f"segment {i}: extra   {sig[0]}:{sig[1]} {sorted(sig[2])} {sig[3]}")
    if len(expected) != len(actual):
        lines.append(f"{len(expected)} segments expected, {len(actual)} got")
    return "\n".join(lines)


RECORDED = pathlib.Path(__file__).with_name("recorded_pbx.yaml")


@pytest.fixture
async def fresh_pbx():
    p = Pbx(PbxConfig.load(RECORDED, secret=SECRET, speed=SPEED, seed=3))
    await p.start()
    yield p
    await p.stop()


CAPTURES = ["login", "login-failed", "errors", "asyncagi-filtered-events", "asyncagi-ivr-to-agent",
            "asyncagi-dial-noanswer-busy", "asyncagi-caller-hangs-up", "asyncagi-redirect-and-break"]


@pytest.mark.parametrize("capture", CAPTURES)
async def test_replay_matches_capture(fresh_pbx, captures_dir, capture):
    expected, actual, client = await replay(fresh_pbx, capture, captures_dir)
    assert client.banner == "13.0.0"
    assert sum(map(len, expected)) > 0
    problems = diff(expected, actual)
    assert not problems, f"{capture}: PBX differs from the recording\n{problems}"


async def test_login_failed_closes_connection(fresh_pbx, captures_dir):
    _, _, client = await replay(fresh_pbx, "login-failed", captures_dir)
    assert client.closed.is_set()
    assert client.messages[-1]["Message"] == "Authentication failed"


async def test_filtered_session_gets_only_filtered_events(fresh_pbx, captures_dir):
    expected, actual, client = await replay(fresh_pbx, "asyncagi-filtered-events", captures_dir)
    names = {m.event for m in client.messages if m.event}
    assert names == {"DialBegin", "DialEnd", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd",
                     "DTMFEnd", "HangupRequest", "Hangup"}
    # The captured order, not only the multiset, for this small session.
    assert [m.event or m.response for m in client.messages] == [
        s[1] for seg in expected for s in seg]
