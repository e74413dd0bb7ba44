"""The AGI commands the PBX runs, as res_agi's handlers answer them.

Each handler gets the channel and the command's arguments (after its words)
and returns an :class:`~ivr.pbx.playing.Outcome`: the result line, AGIExecEnd's
code and text, and whether the AsyncAGI session ends after it.
"""

from __future__ import annotations

import asyncio

from . import events as ev
from .apps import answer, cmd_exec, cmd_set_music
from .channels import DIGIT, Gone, Redirected
from .playing import Outcome, SoundMissing, play
from .variables import lookup, substitute


async def cmd_answer(pbx, ch, args):
    return await answer(pbx, ch)


async def cmd_stream_file(pbx, ch, args):
    name = args[0]
    escape = args[1] if len(args) > 1 else ""
    offset = int(args[2]) if len(args) > 2 and args[2].lstrip("-").isdigit() else 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        digit, played = await play(pbx, ch, name, escape)
    except SoundMissing:
        # handle_streamfile: no PLAYBACKSTATUS, RESULT_FAILURE: the AGI session ends.
        return Outcome(f"200 result=-1 endpos={offset}", -1, "Failure", then="failure")
    except (Gone, Redirected) as exc:
        played = (loop.time() - start) * pbx.speed
        pbx.varset(ch, "PLAYBACKSTATUS", "FAILED")
        return Outcome(f"200 result=-1 endpos={int(played * 8000)}", -1, "Failure", error=exc)
    pbx.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
    code = ord(digit) if digit else 0
    return Outcome(f"200 result={code} endpos={int(played * 8000)}")


async def cmd_get_data(pbx, ch, args):
    name = args[0]
    timeout_ms = int(args[1]) if len(args) > 1 and args[1] else 6000
    maxdigits = int(args[2]) if len(args) > 2 and args[2] else 1024
    digits = ""
    run = ch.run
    try:
        if name:
            try:
                first, _ = await play(pbx, ch, name, "", any_digit=True)
            except SoundMissing:        # ast_app_getdata_full returns -1; RESULT_SUCCESS
                return Outcome("200 result=-1")
            if first is not None:
                if first == "#":
                    return Outcome("200 result=")
                digits = first
        if run is not None:
            run.on_input_start(bounded=timeout_ms > 0)
        try:
            while len(digits) < maxdigits:
                got = await ch.wait(timeout_ms / 1000.0 if timeout_ms > 0 else None, (DIGIT,))
                if got is None:
                    return Outcome(f"200 result={digits} (timeout)")
                if got[1] == "#":
                    break
                digits += got[1]
        finally:
            if run is not None:
                run.on_input_end()
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    return Outcome(f"200 result={digits}")


async def cmd_wait_for_digit(pbx, ch, args):
    ms = int(args[0]) if args else -1
    run = ch.run
    if run is not None:
        run.on_input_start(bounded=ms >= 0)
    try:
        got = await ch.wait(ms / 1000.0 if ms >= 0 else None, (DIGIT,))
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    finally:
        if run is not None:
            run.on_input_end()
    return Outcome(f"200 result={ord(got[1]) if got else 0}")


_SAY_FILES = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}


async def cmd_say_digits(pbx, ch, args):
    digits = args[0]
    escape = args[1] if len(args) > 1 else ""
    try:
        for d in digits:
            got, _ = await play(pbx, ch, _SAY_FILES.get(d, f"digits/{d}"), escape)
            if got is not None:
                return Outcome(f"200 result={ord(got)}")
    except SoundMissing:       # ast_say_digit_str_full gives -1: RESULT_FAILURE
        return Outcome("200 result=-1", -1, "Failure", then="failure")
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    return Outcome("200 result=0")


async def cmd_set_variable(pbx, ch, args):
    pbx.varset(ch, args[0], args[1] if len(args) > 1 else "")
    return Outcome("200 result=1")


async def cmd_get_variable(pbx, ch, args):
    name = args[0]
    if "(" in name:
        value = lookup(ch, name, pbx.globals)
        return Outcome(f"200 result=1 ({value})") if value else Outcome("200 result=0")
    if name in ch.vars:
        return Outcome(f"200 result=1 ({ch.vars[name]})")
    if name in pbx.globals:
        return Outcome(f"200 result=1 ({pbx.globals[name]})")
    return Outcome("200 result=0")


async def cmd_get_full_variable(pbx, ch, args):
    return Outcome(f"200 result=1 ({substitute(ch, args[0], pbx.globals)})")


async def cmd_hangup(pbx, ch, args):
    pbx.chan_event(ev.CALL, "SoftHangupRequest", ch, [("Cause", 32)])
    if ch.record is not None and not ch.record.hangup_by:
        ch.record.hangup_by = "engine"
    return Outcome("200 result=1", then="hangup")


async def cmd_break(pbx, ch, args):
    return Outcome("200 result=0", then="break")


async def cmd_noop(pbx, ch, args):
    return Outcome("200 result=0")


async def cmd_verbose(pbx, ch, args):
    return Outcome("200 result=1")


async def cmd_channel_status(pbx, ch, args):
    return Outcome(f"200 result={ch.state}")


COMMANDS = {
    ("answer",): cmd_answer,
    ("stream", "file"): cmd_stream_file,
    ("control", "stream", "file"): cmd_stream_file,
    ("get", "data"): cmd_get_data,
    ("wait", "for", "digit"): cmd_wait_for_digit,
    ("say", "digits"): cmd_say_digits,
    ("say", "number"): cmd_say_digits,
    ("set", "variable"): cmd_set_variable,
    ("get", "variable"): cmd_get_variable,
    ("get", "full", "variable"): cmd_get_full_variable,
    ("exec",): cmd_exec,
    ("hangup",): cmd_hangup,
    ("asyncagi", "break"): cmd_break,
    ("noop",): cmd_noop,
    ("verbose",): cmd_verbose,
    ("channel", "status"): cmd_channel_status,
    ("set", "music"): cmd_set_music,
}


def lookup_command(args: list[str]):
    words = [a.lower() for a in args[:3]]
    for n in (3, 2, 1):
        h = COMMANDS.get(tuple(words[:n])) if len(words) >= n else None
        if h is not None:
            return h, n
    return None, 0
