"""AsyncAGI as res_agi runs it: a per-channel queue, one command at a time.

When the queue is empty the real loop sleeps in ``ast_waitfor(chan, 100)``, so
a command sent to an idle channel starts on the next 100 ms tick; commands
already queued run back to back.  The queue outlives an AGI session (a queued
``ASYNCAGI BREAK`` survives a Redirect and ends the next session, as recorded).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import quote

from . import events as ev
from .channels import AGI_CMD, DIGIT, Channel, Gone, Redirected

_ASCII = "0123456789*#ABCD"


def uri_encode(text: str) -> str:
    """Asterisk's ``ast_uri_encode(..., ast_uri_http)``: unreserved marks stay."""
    return quote(text, safe="!*'()")


def split_args(line: str) -> list[str]:
    """Split an AGI command line like res_agi's parse_args: quotes group, backslash escapes."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    had = False
    for c in line:
        if escaped:
            cur.append(c)
            escaped = False
            had = True
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
            had = True
        elif c in " \t" and not quoted:
            if cur or had:
                args.append("".join(cur))
                cur = []
                had = False
        else:
            cur.append(c)
            had = True
    if cur or had:
        args.append("".join(cur))
    return args


@dataclass(slots=True)
class Outcome:
    line: str                    # e.g. "200 result=0 endpos=11360"
    code: int = 200              # AGIExecEnd ResultCode
    text: str = "Success"        # AGIExecEnd Result
    then: str = ""               # "break" or "hangup": the AGI session ends after this
    error: BaseException | None = None   # Gone/Redirected to re-raise after the events


def agi_env(pbx, ch: Channel) -> str:
    rows = [
        ("agi_request", "async"), ("agi_channel", ch.name), ("agi_language", ch.language),
        ("agi_type", "Local" if ch.name.startswith("Local/") else ch.name.split("/")[0]),
        ("agi_uniqueid", ch.uniqueid), ("agi_version", "UNKNOWN__and_probably_unsupported"),
        ("agi_callerid", ch.cid_num or "unknown"), ("agi_calleridname", ch.cid_name or "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
        ("agi_callingtns", "0"), ("agi_dnid", ch.dnid or "unknown"), ("agi_rdnis", "unknown"),
        ("agi_context", ch.context), ("agi_extension", ch.exten), ("agi_priority", str(ch.priority)),
        ("agi_enhanced", "0.0"), ("agi_accountcode", ""), ("agi_threadid", str(140690619930304 + pbx._uid)),
    ]
    return "".join(f"{k}: {v}\n" for k, v in rows) + "\n"


async def run_agi(pbx, ch: Channel) -> None:
    """One AsyncAGI session; returns after ASYNCAGI BREAK, raises Gone/Redirected."""
    ch.agi_store = True
    ch.in_agi = True
    rec = ch.record
    if rec is not None and rec.call_id == ch.uniqueid:
        rec.agi_sessions += 1
    pbx.chan_event(ev.AGI, "AsyncAGIStart", ch, [("Env", uri_encode(agi_env(pbx, ch)))])
    loop = asyncio.get_running_loop()
    poll = pbx.config.timing.agi_poll_s
    try:
        while True:
            if not ch.agi_queue:
                idle_since = loop.time()
                await ch.wait(None, (AGI_CMD,))
                elapsed = (loop.time() - idle_since) * pbx.speed
                await ch.wait(poll - (elapsed % poll))
                if not ch.agi_queue:
                    continue
            cmd_id, text = ch.agi_queue.popleft()
            out = await execute(pbx, ch, cmd_id, text)
            if out.error is not None:
                raise out.error
            if out.then == "break":
                _end(pbx, ch, "SUCCESS")
                return
            if out.then == "hangup":
                _end(pbx, ch, "HANGUP")
                raise Gone()
    except (Gone, Redirected):
        _end(pbx, ch, "HANGUP")
        if ch.gone:
            ch.agi_queue.clear()
        raise


def _end(pbx, ch: Channel, status: str) -> None:
    if not ch.in_agi:
        return
    ch.in_agi = False
    pbx.chan_event(ev.AGI, "AsyncAGIEnd", ch)
    pbx.varset(ch, "AGISTATUS", status)


async def execute(pbx, ch: Channel, cmd_id: str, text: str) -> Outcome:
    internal = str(pbx.rng.randrange(1 << 31))
    rec = ch.record
    if rec is not None and rec.call_id == ch.uniqueid:
        rec.agi_commands += 1
    pbx.chan_event(ev.AGI, "AGIExecStart", ch, [("CommandId", internal), ("Command", text)])
    args = split_args(text)
    handler, nwords = _lookup(args)
    if handler is None:
        out = Outcome("510 Invalid or unknown command", 510, "Unknown command")
    else:
        try:
            out = await handler(pbx, ch, args[nwords:])
        except (Gone, Redirected) as exc:
            out = Outcome("200 result=-1", 200, "Unknown Result", error=exc)
        except (ValueError, IndexError):
            out = Outcome("520 Invalid command syntax.  Proper usage not available.", 520, "Usage")
    pbx.chan_event(ev.AGI, "AGIExecEnd", ch, [("CommandId", internal), ("Command", text),
                                              ("ResultCode", out.code), ("Result", out.text)])
    extra = [("Result", uri_encode(out.line + "\n"))]
    if cmd_id:
        extra.append(("CommandId", cmd_id))
    pbx.chan_event(ev.AGI, "AsyncAGIExec", ch, extra)
    return out


# -- the commands ---------------------------------------------------------------------

async def cmd_answer(pbx, ch, args):
    if ch.state == 6:
        return Outcome("200 result=0")
    pbx.answer(ch)
    try:
        await ch.wait(pbx.config.timing.answer_s)
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    return Outcome("200 result=0")


async def play(pbx, ch, name: str, escape: str, *, any_digit: bool = False):
    """Play one prompt; returns (digit or None, seconds played). Raises Gone/Redirected."""
    length = pbx.config.prompt_seconds(name)
    run = ch.run
    if run is not None:
        run.on_prompt(length)
        if escape or any_digit:
            run.on_input_start(prompt=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    remaining = length
    try:
        while True:
            got = await ch.wait(remaining, (DIGIT,) if (escape or any_digit) else ())
            played = (loop.time() - start) * pbx.speed
            if got is None:
                return None, length
            digit = got[1]
            if any_digit or digit in escape:
                return digit, played
            remaining = max(length - played, 0.0)
    finally:
        if run is not None and (escape or any_digit):
            run.on_input_end()


async def cmd_stream_file(pbx, ch, args):
    name = args[0]
    escape = args[1] if len(args) > 1 else ""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        digit, played = await play(pbx, ch, name, escape)
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
            first, _ = await play(pbx, ch, name, "", any_digit=True)
            if first is not None:
                if first == "#":
                    return Outcome("200 result=")
                digits = first
        if run is not None:
            run.on_input_start()
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
        run.on_input_start()
    try:
        got = await ch.wait(ms / 1000.0 if ms >= 0 else None, (DIGIT,))
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    finally:
        if run is not None:
            run.on_input_end()
    return Outcome(f"200 result={ord(got[1]) if got else 0}")


async def cmd_say_digits(pbx, ch, args):
    digits = args[0]
    escape = args[1] if len(args) > 1 else ""
    try:
        for d in digits:
            got, _ = await play(pbx, ch, f"digits/{d}", escape)
            if got is not None:
                return Outcome(f"200 result={ord(got)}")
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    return Outcome("200 result=0")


async def cmd_set_variable(pbx, ch, args):
    pbx.varset(ch, args[0], args[1] if len(args) > 1 else "")
    return Outcome("200 result=1")


_FUNC = re.compile(r"\$\{([^{}]*)\}")


def substitute(ch: Channel, expr: str) -> str:
    def one(m):
        name = m.group(1)
        upper = name.upper()
        if upper == "CALLERID(NUM)":
            return ch.cid_num
        if upper in ("CALLERID(NAME)",):
            return ch.cid_name
        if upper == "CHANNEL":
            return ch.name
        if upper == "UNIQUEID":
            return ch.uniqueid
        if upper == "EXTEN":
            return ch.exten
        if upper == "CONTEXT":
            return ch.context
        if upper in ("LANGUAGE()", "CHANNEL(LANGUAGE)"):
            return ch.language
        if upper == "CALLERID(DNID)":
            return "" if ch.dnid == "unknown" else ch.dnid
        return ch.vars.get(name, "")
    prev = None
    while prev != expr:
        prev, expr = expr, _FUNC.sub(one, expr)
    return expr


async def cmd_get_variable(pbx, ch, args):
    name = args[0]
    if "(" in name:
        value = substitute(ch, "${" + name + "}")
        return Outcome(f"200 result=1 ({value})") if value else Outcome("200 result=0")
    if name in ch.vars:
        return Outcome(f"200 result=1 ({ch.vars[name]})")
    return Outcome("200 result=0")


async def cmd_get_full_variable(pbx, ch, args):
    return Outcome(f"200 result=1 ({substitute(ch, args[0])})")


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


async def cmd_set_music(pbx, ch, args):
    on = args and args[0].lower() == "on"
    _moh(pbx, ch, on, args[1] if len(args) > 1 else "default")
    return Outcome("200 result=0")


def _moh(pbx, ch, on: bool, cls: str = "default") -> None:
    if on and not ch.moh:
        ch.moh = True
        pbx.chan_event(ev.CALL, "MusicOnHoldStart", ch, [("Class", cls or "default")])
    elif not on and ch.moh:
        ch.moh = False
        pbx.chan_event(ev.CALL, "MusicOnHoldStop", ch)
    if ch.run is not None:
        ch.run.on_hold(on)


async def cmd_exec(pbx, ch, args):
    app = args[0]
    data = " ".join(args[1:])
    handler = EXEC_APPS.get(app.lower())
    if handler is None:
        return Outcome("200 result=-2")
    return await handler(pbx, ch, data)


async def app_moh(pbx, ch, data):
    parts = data.split(",")
    cls = parts[0] or "default"
    dur = float(parts[1]) if len(parts) > 1 and parts[1].strip() else None
    _moh(pbx, ch, True, cls)
    try:
        await ch.wait(dur)
    except (Gone, Redirected) as exc:
        _moh(pbx, ch, False)
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    _moh(pbx, ch, False)
    return Outcome("200 result=0")


async def app_start_moh(pbx, ch, data):
    _moh(pbx, ch, True, data.split(",")[0] or "default")
    return Outcome("200 result=0")


async def app_stop_moh(pbx, ch, data):
    _moh(pbx, ch, False)
    return Outcome("200 result=0")


async def app_playback(pbx, ch, data):
    try:
        for name in data.split(",")[0].split("&"):
            await play(pbx, ch, name.strip(), "")
    except (Gone, Redirected) as exc:
        pbx.varset(ch, "PLAYBACKSTATUS", "FAILED")
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    pbx.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
    return Outcome("200 result=0")


async def app_wait(pbx, ch, data):
    try:
        await ch.wait(float(data or 0))
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    return Outcome("200 result=0")


async def app_set(pbx, ch, data):
    name, _, value = data.partition("=")
    pbx.varset(ch, name.strip(), value)
    return Outcome("200 result=0")


async def app_answer(pbx, ch, data):
    return await cmd_answer(pbx, ch, [])


async def app_noop(pbx, ch, data):
    return Outcome("200 result=0")


async def app_dial(pbx, ch, data):
    from .dial import dial
    return await dial(pbx, ch, data)


EXEC_APPS = {
    "dial": app_dial, "musiconhold": app_moh, "startmusiconhold": app_start_moh,
    "stopmusiconhold": app_stop_moh, "playback": app_playback, "wait": app_wait,
    "set": app_set, "answer": app_answer, "noop": app_noop,
}

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


def _lookup(args: list[str]):
    words = [a.lower() for a in args[:3]]
    for n in (3, 2, 1):
        h = COMMANDS.get(tuple(words[:n])) if len(words) >= n else None
        if h is not None:
            return h, n
    return None, 0
