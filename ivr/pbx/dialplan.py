"""Running the dialplan model on a channel: NoOp, AGI(agi:async), Goto, Hangup, ...

A Redirect lands here: whatever the channel was doing ends with
:class:`Redirected` and the loop starts again at the new place, which is how a
channel re-enters ``AGI(agi:async)`` and gets a fresh AsyncAGIStart.
"""

from __future__ import annotations

from . import events as ev
from .agi import run_agi
from .channels import Channel, Gone, Redirected


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


async def _run(pbx, ch: Channel, context: str, exten: str, priority: int) -> None:
    plan = pbx.config.dialplan
    while True:
        ctx = plan.get(context)
        ext = ctx.find(exten) if ctx is not None else None
        if ext is None or not 1 <= priority <= len(ext.steps):
            return
        step = ext.steps[priority - 1]
        ch.context, ch.exten, ch.priority = context, exten, priority
        pbx.newexten(ch, step.app, step.data)
        app, data = step.app, step.data
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
        elif app == "Goto":
            parts = [p.strip() for p in data.split(",")]
            if len(parts) == 1:
                priority = int(parts[0]) if parts[0].isdigit() else 1
            elif len(parts) == 2:
                exten, priority = parts[0], int(parts[1] or 1)
            else:
                context, exten, priority = parts[0], parts[1], int(parts[2] or 1)
            continue
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
            for name in data.split(",")[0].split("&"):
                await ch.wait(pbx.config.prompt_seconds(name.strip()))
        elif app == "MusicOnHold":
            parts = data.split(",")
            ch.moh = True
            pbx.chan_event(ev.CALL, "MusicOnHoldStart", ch, [("Class", parts[0] or "default")])
            await ch.wait(_seconds(parts[1]) if len(parts) > 1 and parts[1].strip() else None)
            ch.moh = False
            pbx.chan_event(ev.CALL, "MusicOnHoldStop", ch)
        priority += 1


def _seconds(text: str) -> float:
    try:
        return float(text.split(",")[0])
    except ValueError:
        return 0.0
