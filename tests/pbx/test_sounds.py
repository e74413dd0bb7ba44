"""Sound files the PBX does not have, as a real Asterisk treats them; and where it looks for files.

Recorded (asyncagi-missing-prompt, asyncagi-numbers-and-missing-file): GET DATA of a
missing file answers ``result=-1`` at once and AGI goes on; STREAM FILE answers
``result=-1 endpos=0`` and ends AsyncAGI with AGISTATUS FAILURE, and the dialplan goes
on at its next priority (res_agi's launch_asyncagi / agi_exec_full).
"""

from __future__ import annotations

import asyncio
import struct
import wave
from urllib.parse import unquote

import pytest

from ivr.pbx import CallerScript, ConfigError, Pbx, PbxConfig
from ivr.pbx.sounds import find_file, search_names

from pbx_client import SECRET, Client, agi, next_call


def env_of(start) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in unquote(start["Env"]).splitlines() if ": " in line)


def logged(capsys) -> str:
    out = capsys.readouterr()
    return out.out + out.err


async def test_get_data_of_a_missing_sound_answers_minus_one_at_once_and_agi_goes_on(pbx, client, capsys):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await agi(client, ch, "GET DATA ivr/zh/changchun_menu 3000 1") == "200 result=-1"
    assert loop.time() - t0 < 0.5              # no 3 s timeout (0.15 s at speed 20), no 2 s prompt
    assert not client.events("AsyncAGIEnd")
    assert await agi(client, ch, "GET DATA vm-press 1000 1") == "200 result= (timeout)"   # still in AGI
    end = [m for m in client.events("AGIExecEnd") if "changchun_menu" in m["Command"]]
    assert [(m["ResultCode"], m["Result"]) for m in end] == [("200", "Success")]
    assert "File ivr/zh/changchun_menu does not exist in any format" in logged(capsys)
    assert not handle.ended.done()
    handle.hang_up()
    await handle.wait(5)


async def test_stream_file_of_a_missing_sound_ends_agi_with_failure_and_the_dialplan_goes_on(pbx, client):
    """Today's shipped dialplan: hotline-in goes to hotline-resume,s,2: not SUCCESS, so Wait(1)
    and back into AGI: one failed command never costs the call."""
    handle = pbx.place_call(CallerScript(number="13804310000"))
    first = await next_call(client)
    ch = first["Channel"]
    start = len(client.messages)
    assert await agi(client, ch, 'STREAM FILE queue-periodic-announce ""') == "200 result=-1 endpos=0"
    end = await client.wait_for(lambda m: m.event == "AsyncAGIEnd" and m["Channel"] == ch, 5, start)
    status = await client.wait_for(lambda m: m.event == "VarSet" and m["Variable"] == "AGISTATUS", 5, start)
    assert status["Value"] == "FAILURE" and client.messages.index(status) > client.messages.index(end)
    assert not [m for m in client.messages[start:] if m.event == "VarSet" and m["Variable"] == "PLAYBACKSTATUS"]
    exec_end = [m for m in client.events("AGIExecEnd") if "queue-periodic" in m["Command"]]
    assert [(m["ResultCode"], m["Result"]) for m in exec_end] == [("-1", "Failure")]
    again = await client.wait_for(lambda m: m.event == "AsyncAGIStart" and m["Channel"] == ch, 5, start)
    env = env_of(again)
    assert (env["agi_context"], env["agi_extension"], env["agi_priority"]) == ("hotline-resume", "s", "1")
    waits = [m for m in client.messages[start:] if m.event == "Newexten" and m["Channel"] == ch]
    assert [m["Application"] for m in waits] == ["Goto", "GotoIf", "Wait", "Goto", "AGI"]
    assert not handle.ended.done() and handle.record.agi_sessions == 2
    assert await agi(client, ch, "GET FULL VARIABLE ${AGISTATUS}") == "200 result=1 (FAILURE)"
    assert await agi(client, ch, "HANGUP") == "200 result=1"
    rec = await handle.wait(5)
    assert rec.hangup_by == "engine"


async def test_stream_file_with_a_sample_offset_answers_that_offset(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, 'STREAM FILE nothing-here "" 4000') == "200 result=-1 endpos=4000"
    handle.hang_up()
    await handle.wait(5)


async def test_agi_command_sent_between_two_agi_sessions_is_queued_and_runs_in_the_next(pbx, client):
    """res_agi keeps the command datastore when AsyncAGI ends: a channel that ran AGI once
    accepts commands while out of AGI; one that never did refuses them."""
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    start = len(client.messages)
    assert await agi(client, ch, 'STREAM FILE missing-announcement ""') == "200 result=-1 endpos=0"
    await client.wait_for(lambda m: m.event == "AsyncAGIEnd", 5, start)
    assert not pbx.find(ch).in_agi                     # in Wait(1) of hotline-resume now
    r = await client.action("AGI", Channel=ch, Command="GET FULL VARIABLE ${CONTEXT}", CommandID="later")
    assert r.response == "Success" and r["Message"] == "Added AGI command to queue"
    done = await client.wait_for(lambda m: m.event == "AsyncAGIExec" and m.get("CommandId") == "later", 5, start)
    restart = next(m for m in client.messages[start:] if m.event == "AsyncAGIStart")
    assert client.messages.index(restart) < client.messages.index(done)
    assert unquote(done["Result"]) == "200 result=1 (hotline-resume)\n"
    caller = ch[:-1] + "1"                             # the caller's leg never ran AGI
    r = await client.action("AGI", Channel=caller, Command="NOOP")
    assert r.response == "Error" and r["Message"] == f"Failed to add AGI command to channel {caller} queue"
    r = await client.action("AGI", Channel="Local/9@nowhere-00000000;2", Command="NOOP")
    assert r.response == "Error" and r["Message"] == "Channel Local/9@nowhere-00000000;2 does not exist."
    handle.hang_up()
    await handle.wait(5)


async def test_playback_of_a_missing_file_fails_that_file_plays_the_rest_and_goes_on(pbx, client, capsys):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    start = len(client.messages)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await agi(client, ch, "EXEC Playback no-such-file&hello-world") == "200 result=0"
    assert loop.time() - t0 >= 1.42 / pbx.speed        # hello-world still played
    status = [m["Value"] for m in client.messages[start:] if m.event == "VarSet" and m["Variable"] == "PLAYBACKSTATUS"]
    assert status == ["FAILED"]
    text = logged(capsys)
    assert "File no-such-file does not exist in any format" in text and "Playback failed on" in text
    assert await agi(client, ch, "NOOP") == "200 result=0"
    handle.hang_up()
    await handle.wait(5)


async def test_break_reaches_the_fallback_whose_missing_announcement_fails_and_hangs_up(pbx, client):
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    start = len(client.messages)
    assert await agi(client, ch, "ASYNCAGI BREAK") == "200 result=0"
    rec = await handle.wait(5)
    assert rec.hangup_by == "dialplan" and rec.agi_sessions == 1
    steps = [(m["Context"], m["Application"]) for m in client.messages[start:]
             if m.event == "Newexten" and m["Channel"] == ch]
    assert steps == [("hotline-in", "Goto"), ("hotline-resume", "GotoIf"), ("hotline-fallback", "Playback"),
                     ("hotline-fallback", "Hangup")]
    played = [m["Value"] for m in client.messages[start:] if m.event == "VarSet" and m["Variable"] == "PLAYBACKSTATUS"]
    assert played == ["FAILED"]          # ivr/zh/system_fault is not installed on this PBX


async def test_installed_fallback_announcement_plays_before_the_hangup(pbx, client):
    pbx.config.prompts["ivr/zh/system_fault"] = 4.0
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await agi(client, ch, "ASYNCAGI BREAK") == "200 result=0"
    await handle.wait(5)
    assert loop.time() - t0 >= 4.0 / pbx.speed
    played = [m["Value"] for m in client.events("VarSet") if m["Variable"] == "PLAYBACKSTATUS"]
    assert played == ["SUCCESS"]


async def test_stock_sounds_the_pbx_models_are_installed(pbx, client):
    for name in ("beep", "silence/1", "digits/0", "digits/9", "digits/star", "digits/pound"):
        assert pbx.sound_seconds(name, "zh") is not None, name
    assert pbx.sound_seconds("queue-periodic-announce", "en") is None     # not on the recorded PBX
    handle = pbx.place_call(CallerScript(number="13804310000"))
    ch = (await next_call(client))["Channel"]
    assert await agi(client, ch, "SAY DIGITS 12345*# \"\"") == "200 result=0"
    pbx.config.prompts.pop("digits/7")
    assert await agi(client, ch, "SAY DIGITS 17 \"\"") == "200 result=-1"     # RESULT_FAILURE
    await client.wait_for(lambda m: m.event == "AsyncAGIEnd")
    handle.hang_up()
    await handle.wait(5)


def test_a_sounds_dir_that_is_not_there_is_a_config_error(tmp_path):
    bad = tmp_path / "pbx.yaml"
    bad.write_text("sounds_dir: no/such/folder\n")
    with pytest.raises(ConfigError, match=r"pbx\.yaml:1:13: sounds_dir .*no/such/folder is not a directory"):
        PbxConfig.load(bad)
    (tmp_path / "sounds").mkdir()
    bad.write_text("sounds_dir: sounds\n")              # relative to the config file
    assert PbxConfig.load(bad).sounds_dir == tmp_path / "sounds"


def test_default_prompt_length_is_gone(tmp_path):
    bad = tmp_path / "pbx.yaml"
    bad.write_text("timing:\n  default_prompt_s: 2.0\n")
    with pytest.raises(ConfigError, match="default_prompt_s is no longer a setting: a sound that is neither"):
        PbxConfig.load(bad)


# -- sounds_dir: the files Asterisk would find ----------------------------------------------

def test_search_order_follows_main_file_c():
    assert search_names("ivr/zh/menu", "zh_TW") == ["zh_TW/ivr/zh/menu", "zh/ivr/zh/menu", "ivr/zh/menu",
                                                    "en/ivr/zh/menu"]
    assert search_names("beep", "en") == ["en/beep", "beep"]
    assert search_names("beep", "") == ["beep", "en/beep"]
    assert search_names("/srv/s/menu", "zh") == ["/srv/s/zh/menu", "/srv/s/menu", "/srv/s/en/menu"]


def _wav(path, seconds: float, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<h", 0) * int(seconds * rate))


def test_find_file_takes_any_format_asterisk_reads(tmp_path):
    (tmp_path / "zh" / "ivr").mkdir(parents=True)
    (tmp_path / "zh" / "ivr" / "welcome.ulaw").write_bytes(b"\xff" * 8000)
    assert find_file(tmp_path, "ivr/welcome", "zh") == tmp_path / "zh" / "ivr" / "welcome.ulaw"
    assert find_file(tmp_path, "ivr/welcome", "ko") is None
    (tmp_path / "ivr").mkdir()
    (tmp_path / "ivr" / "welcome.mp3").write_bytes(b"x")      # Asterisk has no mp3 format
    assert find_file(tmp_path, "ivr/welcome", "ko") is None


async def test_sounds_dir_files_play_for_as_long_as_they_last(tmp_path):
    _wav(tmp_path / "ivr" / "zh" / "notice.wav", 2.0)
    (tmp_path / "zh" / "ivr").mkdir(parents=True)
    (tmp_path / "zh" / "ivr" / "menu.sln16").write_bytes(b"\0" * 32000 * 3)     # 3 s at 16 kHz
    pbx = Pbx(PbxConfig.load(secret=SECRET, speed=20, seed=1, sounds_dir=tmp_path))
    await pbx.start()
    client = await Client.connect(*pbx.address)
    await client.login()
    try:
        handle = pbx.place_call(CallerScript(number="13804310000", language="zh"))
        ch = (await next_call(client))["Channel"]
        res = await agi(client, ch, 'STREAM FILE ivr/zh/notice ""')
        assert res.startswith("200 result=0 endpos=")
        assert abs(int(res.rsplit("=", 1)[1]) - 16000) <= 800        # 2 s of 8 kHz samples
        res = await agi(client, ch, 'STREAM FILE ivr/menu ""')           # found under zh/
        assert abs(int(res.rsplit("=", 1)[1]) - 24000) <= 1200
        # A file copied in while calls run is played from then on.
        assert await agi(client, ch, "GET DATA ivr/zh/late 100 1") == "200 result=-1"
        _wav(tmp_path / "ivr" / "zh" / "late.wav", 0.5)
        assert await agi(client, ch, "GET DATA ivr/zh/late 100 1") == "200 result= (timeout)"
        handle.hang_up()
        await handle.wait(5)
    finally:
        await client.close()
        await pbx.stop()
