"""Replay the agent-side call control captures (``xfer-*``, see transfers.md) against the PBX.

These captures hold a single session: the driver sent the AGI commands itself, so the
replay of test_captures.py plays them as recorded and judges the PBX the same way
(the same responses and events between two actions, same deterministic values).  The
dialplan is the one of asterisk-config/xfer-extensions.conf (recorded_xfer_pbx.yaml);
its globals come from that file as the captures show them (agents Wait(120), outside
lines Wait(60)) and from the VarSets a helper session sent before each capture's call.

Besides the message-for-message comparison, each capture has a few facts an engine
relies on (the Dial's result, whether the AGI session survives, timings).
"""

from __future__ import annotations

import pathlib
from urllib.parse import unquote

import pytest

from ivr.ami.protocol import parse_message

from pbx_client import load_capture
from test_captures import SPEED, diff, replay

XFER = pathlib.Path(__file__).with_name("recorded_xfer_pbx.yaml")
SECRET = "driver-secret"           # as the captures logged in (user driver)
GLOBALS = {"TALK": "120", "OUTTALK": "60"}

CAPTURES = ["xfer-c-hangup-agent-then-dial", "xfer-h-playdtmf-timing", "xfer-a-blind-agentchan",
            "xfer-a-blind-callerchan", "xfer-a-blind-to-agi", "xfer-b-atxfer-no-t",
            "xfer-b-atxfer-missing-sound"]


def foreign(m) -> bool:
    """SuccessfulAuth is not compared: the driver's own raced with its ``Events: on`` (in some
    captures, not others) and the later ones are the helper session resetting globals."""
    return m.event == "SuccessfulAuth"


def recorded_globals(path: pathlib.Path) -> dict[str, str]:
    """The global variables a helper session set before the capture's first call."""
    found = dict(GLOBALS)
    for e in load_capture(path):
        if e["dir"] == "out" and "Action: Originate" in e["text"]:
            break
        if e["dir"] == "in" and e["text"].startswith("Event: VarSet"):
            m = parse_message(e["text"].encode("utf-8"))
            if m.get("Channel") == "none":
                found[m["Variable"]] = m["Value"]
    return found


async def run(pbx, captures_dir, capture):
    pbx.globals.update(recorded_globals(captures_dir / f"{capture}.jsonl"))
    expected, actual, client = await replay(pbx, capture, captures_dir, foreign=foreign)
    problems = diff(expected, actual)
    assert not problems, f"{capture}: PBX differs from the recording\n{problems}"
    return client


@pytest.mark.parametrize("capture", CAPTURES)
async def test_xfer_replay_matches_capture(xfer_pbx, captures_dir, capture):
    client = await run(xfer_pbx, captures_dir, capture)
    assert sum(1 for m in client.messages if m.event) > 20


# -- facts --------------------------------------------------------------------------------
def _seq(client, channel_part: str) -> list[tuple[str, str]]:
    """(event, what matters) of the channels whose name contains ``channel_part``, in order."""
    out = []
    for m in client.messages:
        if m.event is None or channel_part not in (m.get("Channel") or ""):
            continue
        if m.event == "AsyncAGIExec":
            out.append((m.event, unquote(m["Result"]).strip()))
        elif m.event == "AGIExecStart":
            out.append((m.event, m["Command"]))
        elif m.event == "AsyncAGIStart":
            env = unquote(m["Env"])
            out.append((m.event, env.split("agi_context: ")[1].split("\n")[0]))
        elif m.event in ("AsyncAGIEnd", "BridgeEnter", "BridgeLeave", "DTMFEnd", "Hold", "Unhold",
                         "MusicOnHoldStart", "MusicOnHoldStop", "Hangup"):
            out.append((m.event, m.get("Digit") or m.get("Direction") or m.get("Context") or ""))
    return out


def _after(seq: list, item: tuple, event: str) -> int:
    """Index of the first ``event`` after ``item`` in ``seq``."""
    start = seq.index(item)
    return next(j for j in range(start + 1, len(seq)) if seq[j][0] == event)


DIAL_AGENT = ("AGIExecStart", "EXEC Dial Local/1101@agents,15")


def _response(client, action_id: str):
    return next(m for m in client.messages if m.response is not None and m.action_id == action_id)


def _at(client, pred) -> float:
    return next(t for m, t in zip(client.messages, client.arrived) if pred(m))


async def test_hangup_agent_then_dial_keeps_the_agi(xfer_pbx, captures_dir):
    """c: the engine's blind transfer.  The Dial answers -1 when the agent's leg is hung up,
    the AGI session stays, DIALSTATUS is ANSWER and the next Dial reaches the third party."""
    client = await run(xfer_pbx, captures_dir, "xfer-c-hangup-agent-then-dial")
    caller = _seq(client, "hotline-in-00000011;2")
    first = caller.index(("AGIExecStart", "EXEC Dial Local/1101@agents,15"))
    assert caller[first + 1:first + 5] == [
        ("BridgeEnter", "hotline-in"), ("BridgeLeave", "hotline-in"),
        ("AsyncAGIExec", "200 result=-1"), ("AGIExecStart", "GET VARIABLE DIALSTATUS")]
    assert caller[first + 5] == ("AsyncAGIExec", "200 result=1 (ANSWER)")
    assert ("AsyncAGIEnd", "hotline-in") not in caller[:caller.index(("AGIExecStart", "HANGUP"))]
    # The caller waits ~0.2 s (recorded) between the agent going and the third party answering:
    # two AGI polls and the engine's round trips, in PBX seconds.
    gone = _at(client, lambda m: m.event == "Hangup" and m["Channel"] == "Local/1101@agents-00000012;1")
    back = _at(client, lambda m: m.event == "BridgeEnter" and m["Channel"].startswith("Local/12366@outside"))
    assert 0.1 <= (back - gone) * SPEED <= 1.0


async def test_playdtmf_holds_the_session_for_the_key(xfer_pbx, captures_dir):
    """h: PlayDTMF answers once the key has played, and a Ping sent after it waits for it."""
    client = await run(xfer_pbx, captures_dir, "xfer-h-playdtmf-timing")
    sent = {parse_message(data).action_id: t for t, data in client.sent}
    for dtmf, ping, ms in (("d5", "d6", 100), ("d7", "d8", 500), ("d9", "d10", 2000), ("d11", "d12", 100),
                           ("d13", "d14", 500), ("d15", "d16", 2000), ("d17", None, 100)):
        answered = _at(client, lambda m: m.action_id == dtmf and m.response is not None)
        assert (answered - sent[dtmf]) * SPEED >= ms / 1000 * 0.95, dtmf
        if ping is not None:
            assert client.messages.index(_response(client, ping)) > client.messages.index(_response(client, dtmf))
    # keys pressed on ;1 arrive on ;2 and the other way round
    assert [d for e, d in _seq(client, "hotline-in-00000000;2") if e == "DTMFEnd"] == ["5", "5", "5", "7"]
    assert [d for e, d in _seq(client, "hotline-in-00000000;1") if e == "DTMFEnd"] == ["5", "5", "5"]


async def test_blind_transfer_by_the_agent_leg_ends_the_agi(xfer_pbx, captures_dir):
    """a1: Invalid for channels in no bridge; on A1 the caller goes to the target itself."""
    client = await run(xfer_pbx, captures_dir, "xfer-a-blind-agentchan")
    assert [_response(client, a)["Message"] for a in ("d6", "d7", "d8")] == [
        "Transfer invalid", "Transfer invalid", "Transfer succeeded"]
    caller = _seq(client, "hotline-in-00000003;2")
    i = _after(caller, DIAL_AGENT, "AsyncAGIExec")
    assert caller[i:i + 2] == [("AsyncAGIExec", "200 result=0"), ("AsyncAGIEnd", "outside")]
    assert ("AsyncAGIStart", "outside") not in caller
    assert not [m for m in client.messages if m.get("CommandId") == "a-blind-agentchan75359-3"
                and m.event == "AsyncAGIExec"]          # queued after AsyncAGIEnd: never runs
    assert _response(client, "d11")["Value"] == "Local/1101@agents-00000004;1"     # BLINDTRANSFER
    assert _response(client, "d10")["Value"] == "ANSWER"


async def test_blind_transfer_by_the_caller_sends_the_agent_away(xfer_pbx, captures_dir):
    """a2: the agent's leg runs 12366@outside; the caller's Dial answers -1 and AGI goes on."""
    client = await run(xfer_pbx, captures_dir, "xfer-a-blind-callerchan")
    caller = _seq(client, "hotline-in-00000005;2")
    i = _after(caller, DIAL_AGENT, "AsyncAGIExec")
    assert caller[i] == ("AsyncAGIExec", "200 result=-1")
    assert caller[i + 1:i + 3] == [("AGIExecStart", "GET VARIABLE DIALSTATUS"),
                                   ("AsyncAGIExec", "200 result=1 (ANSWER)")]
    status = [m for m in client.messages if m.event == "Status" and m["Channel"].endswith("agents-00000006;1")]
    assert [(m["Context"], m["Exten"]) for m in status] == [("outside", "12366")]


async def test_blind_transfer_to_hotline_resume_keeps_the_caller(xfer_pbx, captures_dir):
    """a3: Dial 0, AsyncAGIEnd, then a new AsyncAGIStart in hotline-resume at once."""
    client = await run(xfer_pbx, captures_dir, "xfer-a-blind-to-agi")
    caller = _seq(client, "hotline-in-0000000a;2")
    i = _after(caller, DIAL_AGENT, "AsyncAGIExec")
    assert caller[i:i + 3] == [("AsyncAGIExec", "200 result=0"), ("AsyncAGIEnd", "hotline-resume"),
                               ("AsyncAGIStart", "hotline-resume")]
    assert ("AsyncAGIExec", "200 result=1 (Local/1101@agents-0000000b;1)") in caller    # BLINDTRANSFER
    assert caller.index(("AsyncAGIExec", "200 result=-1")) > i      # the outside line hung up later


async def test_atxfer_without_option_t_only_sends_keys(xfer_pbx, captures_dir):
    """b (no t): `Atxfer successfully queued`, and the keys reach the caller as DTMF."""
    client = await run(xfer_pbx, captures_dir, "xfer-b-atxfer-no-t")
    assert _response(client, "d6")["Message"] == "Atxfer successfully queued"
    caller_phone = [m["Digit"] for m in client.messages if m.event == "DTMFEnd"
                    and m["Channel"].endswith("hotline-in-0000000d;1")]
    assert "".join(caller_phone) == "*212366"
    assert not [m for m in client.messages if m.event in ("Hold", "MusicOnHoldStart")]


async def test_atxfer_without_the_transfer_sound_aborts(xfer_pbx, captures_dir):
    """b (missing pbx-transfer): hold and unhold at once; only the number leaks to the caller."""
    client = await run(xfer_pbx, captures_dir, "xfer-b-atxfer-missing-sound")
    agent = [e for e in _seq(client, "agents-00000010;1") if e[0] in ("Hold", "Unhold")]
    assert agent == [("Hold", "agents"), ("Unhold", "agents")]
    caller_phone = [m["Digit"] for m in client.messages if m.event == "DTMFEnd"
                    and m["Channel"].endswith("hotline-in-0000000f;1")]
    assert "".join(caller_phone) == "12366"
