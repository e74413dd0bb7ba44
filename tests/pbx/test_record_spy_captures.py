"""Replay the recording and supervisor captures (``xfer-e-mixmonitor``, ``xfer-f-chanspy*``,
transfers.md e and f) against the PBX, message for message, plus the facts an engine
relies on: the files' lengths, MIXMONITOR_FILENAME, who ChanSpy listens to and when a
spy ends.

The recording machine wrote its files to /tmp/astrun/rec; the capture shows that folder
as /var/spool/asterisk/monitor everywhere but in the URL-encoded AGI results (a partial
clean-up of the capture).  The replay puts both in the test's own folder, so the PBX
really writes there.
"""

from __future__ import annotations

import pathlib
import wave
from urllib.parse import quote, unquote

import pytest

from ivr.pbx.agi import uri_encode

from test_captures import SPEED, diff, replay
from test_xfer_captures import foreign, recorded_globals

SHOWN_FOLDER = "/var/spool/asterisk/monitor/"
RECORDED_FOLDER = quote("/tmp/astrun/rec/", safe="")


def _into(folder: pathlib.Path):
    target = f"{folder}/"

    def rewrite(text: str) -> str:
        return text.replace(SHOWN_FOLDER, target).replace(RECORDED_FOLDER, uri_encode(target))
    return rewrite


async def _run(pbx, captures_dir, capture, folder=None, max_gap_s=1.0):
    pbx.globals.update(recorded_globals(captures_dir / f"{capture}.jsonl"))
    rewrite = _into(folder) if folder is not None else None
    expected, actual, client = await replay(pbx, capture, captures_dir, foreign=foreign, rewrite=rewrite,
                                            max_gap_s=max_gap_s)
    problems = diff(expected, actual)
    assert not problems, f"{capture}: PBX differs from the recording\n{problems}"
    return client


def _seconds(path: pathlib.Path) -> float:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return w.getnframes() / 8000


def _response(client, action_id):
    return next(m for m in client.messages if m.response is not None and m.action_id == action_id)


def _agi_result(client, command_id):
    m = next(m for m in client.messages if m.event == "AsyncAGIExec" and m.get("CommandId") == command_id)
    return unquote(m["Result"]).strip()


async def test_mixmonitor_replay_matches_capture_and_writes_the_files(xfer_pbx, captures_dir, tmp_path):
    """e: AMI MixMonitor (bare Success, MixMonitorStart, StopMixMonitor -> MixMonitorStop) and
    AGI EXEC MixMonitor ...,b (ended by the hang-up: no MixMonitorStop).  Pauses are kept
    up to 4 s so the files' lengths can be compared with the recording's."""
    client = await _run(xfer_pbx, captures_dir, "xfer-e-mixmonitor", tmp_path, max_gap_s=4.0)
    ami_file = tmp_path / "e-mixmonitor75582c1b.wav"
    agi_file = tmp_path / "x-e-mixmonitor75582.wav"
    assert _response(client, "d6").headers == [("Response", "Success"), ("ActionID", "d6")]
    assert _response(client, "d7")["Value"] == str(ami_file)                   # Getvar MIXMONITOR_FILENAME
    assert _agi_result(client, "e-mixmonitor75582-6") == "200 result=0"
    assert _agi_result(client, "e-mixmonitor75582-7") == f"200 result=1 ({agi_file})"
    assert _agi_result(client, "e-mixmonitor75582-9") == f"200 result=1 ({agi_file})"   # after the Dial too
    assert [m.event for m in client.messages if m.event and m.event.startswith("MixMonitor")] == [
        "MixMonitorStart", "MixMonitorStop", "MixMonitorStart"]
    # Recorded: 3.00 s (48 044 bytes) between MixMonitor and StopMixMonitor with audio
    # flowing; 2.50 s for 3.0 s bridged when the agent's hold music began 0.5 s in.
    assert _seconds(ami_file) == pytest.approx(3.0, abs=0.15)
    assert _seconds(agi_file) == pytest.approx(2.5, abs=0.15)
    assert ami_file.stat().st_size == 44 + round(_seconds(ami_file) * 8000) * 2


async def test_chanspy_replay_matches_capture(xfer_pbx, captures_dir):
    """f: listen, whisper and barge each end by hanging the spyer up; the fourth spy ends
    with the agent (option E)."""
    client = await _run(xfer_pbx, captures_dir, "xfer-f-chanspy")
    starts = client.events("ChanSpyStart")
    stops = client.events("ChanSpyStop")
    assert [m["SpyerChannel"] for m in starts] == [m["SpyerChannel"] for m in stops] == [
        f"Local/9001@supervisor-{n:08x};1" for n in range(0x34, 0x38)]
    assert {m["SpyeeChannel"] for m in starts} == {"Local/1101@agents-moh-00000033;1"}   # as recorded
    for aid, spyer in (("d7", "00000034"), ("d9", "00000035"), ("d11", "00000036")):
        gone = client.messages.index(_response(client, aid))
        stop = next(i for i, m in enumerate(client.messages) if m.event == "ChanSpyStop"
                    and m["SpyerChannel"].endswith(f"{spyer};1"))
        hangup = next(i for i, m in enumerate(client.messages) if m.event == "Hangup"
                      and m["Channel"] == f"Local/9001@supervisor-{spyer};1")
        assert gone < stop < hangup
    # ChanSpyStart ~0.1 s (PBX time) after the OriginateResponse.
    answered = client.arrived[client.messages.index(
        next(m for m in client.messages if m.event == "OriginateResponse" and m.action_id == "d6"))]
    started = client.arrived[client.messages.index(starts[0])]
    assert 0.05 <= (started - answered) * SPEED <= 0.5


async def test_chanspy_without_media_keeps_hung_up_spyers_until_the_spyee_goes(xfer_pbx, captures_dir):
    """f (no media): a hung-up spyer stays, with no event, until the agent hangs up; then
    every spy stops at once.  The recording picked the agent's ;2 here (a prefix matches both
    halves), this PBX the bridged ;1: SpyeeChannel is not compared."""
    client = await _run(xfer_pbx, captures_dir, "xfer-f-chanspy-no-media")
    agent_gone = client.messages.index(_response(client, "d13"))
    for aid in ("d7", "d9", "d11"):
        assert _response(client, aid)["Message"] == "Channel Hungup"
    hangups = [i for i, m in enumerate(client.messages)
               if m.event == "Hangup" and m["Channel"].startswith("Local/9001@supervisor")]
    assert len(hangups) == 8 and min(hangups) > agent_gone
    assert len(client.events("ChanSpyStop")) == 4
