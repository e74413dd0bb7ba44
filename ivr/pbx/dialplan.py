"""Running the dialplan model on a channel: NoOp, AGI(agi:async), Goto, GotoIf, Set, Playback, ...

Every application's data is substituted first (``${VAR}``, ``$[...]``), as
``pbx.c`` does.  ``AGI()`` ending with AGISTATUS SUCCESS (ASYNCAGI BREAK) or
FAILURE (a command that failed with the caller still there) returns 0, so the
dialplan goes on at the next priority; a hang-up ends it.  A Redirect lands
here too: whatever the channel was doing ends with :class:`Redirected` and the
loop starts again at the new place, which is how a channel re-enters
``AGI(agi:async)`` and gets a fresh AsyncAGIStart.
"""

from __future__ import annotations

import asyncio

from . import events as ev
from .agi import run_agi
from .apps import playback, set_variable
from .channels import Channel, Gone, Redirected
from .variables import check_condition, substitute


async def run_dialplan(pbx, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
    try:
        while True:
            try:
                await _run(pbx, ch, context, exten, priority)
                return
            except Redirected:
                target = ch.redirect
                ch.redirect = None
                context, exten, priority = target.context, target.exten, target.priority
    except Gone:
        pass
    finally:
        pbx.finish(ch)


def parse_goto(pbx, ch: Channel, text: str, context: str, exten: str, priority: int):
    """``[[context,]exten,]priority`` as ``ast_parseable_goto`` reads it: the priority is
    a number, ``+N``/``-N`` from the current one, or a label of the target extension.
    None when the label is unknown (Asterisk then ends the call)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) >= 3:
        context, exten, pri = parts[0] or context, parts[1] or exten, parts[2]
    elif len(parts) == 2:
        exten, pri = parts[0] or exten, parts[1]
    else:
        pri = parts[0]
    if pri[:1] in "+-" and pri[1:].isdigit():
        return context, exten, priority + int(pri)
    if pri.isdigit():
        return context, exten, int(pri)
    ctx = pbx.config.dialplan.get(context)
    ext = ctx.find(exten) if ctx is not None else None
    found = ext.label(pri) if ext is not None and pri else None
    return (context, exten, found) if found else None


def gotoif_branch(data: str) -> tuple[bool, str]:
    """``condition?iftrue[:iffalse]`` -> (condition, the branch to take, maybe empty)."""
    condition, _, branches = data.partition("?")
    iftrue, _, iffalse = branches.partition(":")
    truth = check_condition(condition)
    return truth, (iftrue if truth else iffalse).strip()


async def _run(pbx, ch: Channel, context: str, exten: str, priority: int) -> None:
    plan = pbx.config.dialplan
    while True:
        if ch.gone:                     # checked between priorities, as pbx.c does
            raise Gone()
        if ch.redirect is not None:
            raise Redirected()
        ctx = plan.get(context)
        ext = ctx.find(exten) if ctx is not None else None
        if ext is None or not 1 <= priority <= len(ext.steps):
            return
        step = ext.steps[priority - 1]
        ch.context, ch.exten, ch.priority = context, exten, priority
        app = step.app
        data = substitute(ch, step.data, pbx.globals) if "$" in step.data else step.data
        pbx.newexten(ch, app, data)
        if app == "NoOp":
            pass
        elif app == "AGI":
            if data.strip().lower().startswith("agi:async"):
                await run_agi(pbx, ch)
            else:
                pbx.varset(ch, "AGISTATUS", "FAILURE")
        elif app == "Hangup":
            cause = data.strip()
            ch.hangupcause = int(cause) if cause.isdigit() else (ch.hangupcause or 16)
            if ch.record is not None and not ch.record.hangup_by:
                ch.record.hangup_by = "dialplan"
            return
        elif app in ("Goto", "GotoIf"):
            target = data
            if app == "GotoIf":
                _, target = gotoif_branch(data)
                if not target:
                    priority += 1
                    continue
            place = parse_goto(pbx, ch, target, context, exten, priority)
            if place is None:
                return
            context, exten, priority = place
            await asyncio.sleep(0)      # a Goto loop must not starve the other channels
            continue
        elif app == "Set":
            set_variable(pbx, ch, data)
        elif app == "Answer":
            pbx.answer(ch)
        elif app == "Wait":
            await ch.wait(_seconds(data))
        elif app == "Ringing":
            pbx.newstate(ch, 5)
        elif app in ("Busy", "Congestion"):
            pbx.newstate(ch, 7 if app == "Busy" else 4)
            ch.hangupcause = 17 if app == "Busy" else 34
            await ch.wait(_seconds(data) or None)
            return
        elif app == "Playback":
            await playback(pbx, ch, data)
        elif app == "MusicOnHold":
            parts = data.split(",")
            ch.moh = True
            pbx.chan_event(ev.CALL, "MusicOnHoldStart", ch, [("Class", parts[0] or "default")])
            if ch.run is not None:
                ch.run.on_hold(True)
            try:
                await ch.wait(_seconds(parts[1]) if len(parts) > 1 and parts[1].strip() else None)
            finally:
                if ch.run is not None:
                    ch.run.on_hold(False)
            ch.moh = False
            pbx.chan_event(ev.CALL, "MusicOnHoldStop", ch)
        priority += 1


def _seconds(text: str) -> float:
    try:
        return float(text.split(",")[0])
    except ValueError:
        return 0.0


def phone_talk_s(steps, globals_: dict[str, str], answer_s: float) -> float | None:
    """How long a dialled phone whose extension runs ``Answer(), Wait(N), Hangup()`` talks:
    N s after Answer(), plus the answer's wait for a first voice frame (the xfer captures'
    outside line hung up 5.5 s after answering with ``Wait(5)``).  None without the explicit
    ``Hangup()``: such a phone stays until someone else hangs up, as before."""
    apps = [s.app for s in steps]
    for i in range(len(apps) - 2):
        if apps[i:i + 3] == ["Answer", "Wait", "Hangup"]:
            try:
                return float(substitute(None, steps[i + 1].data, globals_)) + answer_s
            except ValueError:
                return None
    return None
