"""Applications an AGI ``EXEC`` runs and the dialplan model shares: hold music,
Playback, Wait, Set, Answer, Dial.

``pbx_exec`` shows the running application on the channel (CoreShowChannels,
Status) and gives back the caller's (AGI) when it returns; so does ``cmd_exec``.
"""

from __future__ import annotations

from hotline import log

from . import events as ev
from .channels import Gone, Redirected
from .monitor import app_mixmonitor, app_stopmixmonitor
from .playing import Outcome, SoundMissing, play


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
    entry = EXEC_APPS.get(app.lower())
    if entry is None:
        return Outcome("200 result=-2")
    name, handler = entry
    # pbx_exec: the channel shows the application while it runs (CoreShowChannels,
    # Status), then gets back the one that called it (AGI).
    saved = ch.app, ch.appdata
    ch.app, ch.appdata = name, data
    try:
        return await handler(pbx, ch, data)
    finally:
        ch.app, ch.appdata = saved


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


async def playback(pbx, ch, data: str) -> None:
    """app_playback: answers the channel first; a missing file is logged and skipped,
    the rest still play, and PLAYBACKSTATUS says FAILED.  Raises Gone/Redirected."""
    files, _, options = data.partition(",")
    if ch.state != 6 and "noanswer" not in options and "skip" not in options:
        pbx.answer(ch)
    failed = False
    try:
        for name in files.split("&"):
            name = name.strip()
            if not name:
                continue
            try:
                await play(pbx, ch, name, "")
            except SoundMissing:
                failed = True
                rec = ch.record
                log.get(__name__, call_id=rec.call_id if rec is not None else ch.uniqueid).warning(
                    "pbx.playback_failed", channel=ch.name, data=data,
                    asterisk=f"Playback failed on {ch.name} for {data}")
    except (Gone, Redirected):
        pbx.varset(ch, "PLAYBACKSTATUS", "FAILED")
        raise
    pbx.varset(ch, "PLAYBACKSTATUS", "FAILED" if failed else "SUCCESS")


async def app_playback(pbx, ch, data):
    try:
        await playback(pbx, ch, data)
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    return Outcome("200 result=0")


async def app_wait(pbx, ch, data):
    try:
        await ch.wait(float(data or 0))
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    return Outcome("200 result=0")


async def app_set(pbx, ch, data):
    set_variable(pbx, ch, data)
    return Outcome("200 result=0")


def set_variable(pbx, ch, data: str) -> None:
    """Set(NAME=value): leading underscores only mark inheritance; ``GLOBAL(NAME)`` sets a global."""
    name, _, value = data.partition("=")
    name = name.strip()
    if name.upper().startswith("GLOBAL(") and name.endswith(")"):
        pbx.set_global(name[7:-1], value)
        return
    pbx.varset(ch, name.lstrip("_"), value)


async def answer(pbx, ch) -> Outcome:
    """ANSWER / Answer(): the channel goes Up, then Asterisk takes about half a second."""
    if ch.state == 6:
        return Outcome("200 result=0")
    pbx.answer(ch)
    try:
        await ch.wait(pbx.config.timing.answer_s)
    except (Gone, Redirected) as exc:
        return Outcome("200 result=-1", -1, "Failure", error=exc)
    return Outcome("200 result=0")


async def app_answer(pbx, ch, data):
    return await answer(pbx, ch)


async def app_noop(pbx, ch, data):
    return Outcome("200 result=0")


async def app_dial(pbx, ch, data):
    from .dial import dial
    return await dial(pbx, ch, data)


#: lower-case name -> (the name Asterisk registers, handler)
EXEC_APPS = {
    "dial": ("Dial", app_dial), "musiconhold": ("MusicOnHold", app_moh),
    "startmusiconhold": ("StartMusicOnHold", app_start_moh),
    "stopmusiconhold": ("StopMusicOnHold", app_stop_moh), "playback": ("Playback", app_playback),
    "wait": ("Wait", app_wait), "set": ("Set", app_set), "answer": ("Answer", app_answer),
    "noop": ("NoOp", app_noop), "mixmonitor": ("MixMonitor", app_mixmonitor),
    "stopmixmonitor": ("StopMixMonitor", app_stopmixmonitor),
}
