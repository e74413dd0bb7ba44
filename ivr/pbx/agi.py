"""AsyncAGI as res_agi runs it: a per-channel queue, one command at a time.

When the queue is empty the real loop sleeps in ``ast_waitfor(chan, 100)``, so
a command sent to an idle channel starts on the next 100 ms tick; commands
already queued run back to back.  The queue outlives an AGI session (a queued
``ASYNCAGI BREAK`` survives a Redirect and ends the next session, as recorded).

A command whose handler returns RESULT_FAILURE with the channel still up ends
the session (``launch_asyncagi``): AsyncAGIEnd, ``AGISTATUS=FAILURE``, and the
``AGI()`` application returns 0, so the dialplan goes on at its next priority.
STREAM FILE of a missing sound is such a command; GET DATA of one is not (it
answers ``result=-1`` and the session goes on), as recorded.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from . import events as ev
from .agi_commands import lookup_command
from .channels import AGI_CMD, Channel, Gone, Redirected
from .playing import Outcome


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
            if out.then == "failure":
                _end(pbx, ch, "FAILURE")
                return
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
    handler, nwords = lookup_command(args)
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
