"""Originate and scripted callers: a Local pair into the dialplan, as AMI Originate does.

An Async originate answers at once and settles in the background: the ;2 leg
runs the dialplan, and once it answers the ;1 leg (the caller's phone) starts its
application (``Wait``) or its own dialplan (a callback's ``Context``/``Exten``),
and an OriginateResponse tells the result.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from hotline import log

from . import events as ev
from .channels import Channel
from .records import CallRecord
from .scripts import CallerRun, CallerScript
from .spy import start_chanspy

_log = log.get(__name__)


def parse_callerid(text: str | None) -> tuple[str, str]:
    """``张三 <043188886666>`` -> (number, name); a bare number is a number."""
    if not text:
        return "", ""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return text, ""


def split_local(spec: str) -> tuple[str, str] | None:
    """``Local/12345@hotline-in[/n]`` -> ("12345", "hotline-in")."""
    if not spec.startswith("Local/") or "@" not in spec:
        return None
    body = spec[6:]
    exten, _, ctx = body.partition("@")
    ctx = ctx.split("/", 1)[0]
    if not exten or not ctx:
        return None
    return exten, ctx


@dataclass(slots=True)
class CallHandle:
    """What :meth:`Pbx.place_call` gives back: the call's record and its end."""

    record: CallRecord
    caller: Channel
    ended: asyncio.Future

    async def wait(self, timeout: float | None = None) -> CallRecord:
        await asyncio.wait_for(asyncio.shield(self.ended), timeout)
        return self.record

    def hang_up(self) -> None:
        """The caller hangs up now."""
        if self.caller is not None and not self.caller.gone:
            self.caller.pbx.hangup(self.caller, cause=16, by="caller")


async def originate(pbx, spec: str, *, app: str | None = None, data: str = "",
                    context: str | None = None, exten: str | None = None, priority: int = 1,
                    callerid: str | None = None, timeout_s: float = 30.0,
                    action_id: str | None = None, async_: bool = True, notify=None,
                    script: CallerScript | None = None, variables: dict | None = None,
                    caller_id: tuple[str, str] | None = None,
                    uniqueids: tuple[str | None, str | None] = (None, None)):
    """Originate ``Local/EXTEN@CONTEXT``; returns (ok, ;1 channel or None).

    ``notify(headers)`` receives the OriginateResponse of an async originate.
    """
    local = split_local(spec)
    if local is None:
        _originate_response(notify, action_id, False, spec, (app, data, context, exten), None, 0)
        return False, None
    lexten, lctx = local
    num, name = caller_id if caller_id is not None else parse_callerid(callerid)
    one, two = pbx.local_pair(lexten, lctx, uniqueids=uniqueids)
    pbx.calls_processed += 1
    if script is not None:
        one.language = two.language = script.language
        two.dnid = script.did
    pbx.newexten(one, "AppDial2", "(Outgoing Line)")
    if num or name:
        for ch in (one, two):
            pbx.set_callerid(ch, num, name, num, name, connected_first=ch is two)
    for key, value in (variables or {}).items():
        pbx.varset(two, key, value)
    ctx = pbx.config.dialplan.get(lctx)
    if ctx is None or ctx.find(lexten) is None:
        pbx.destroy(two, 0)
        pbx.destroy(one, 0)
        pbx.device_state(one.device, "INVALID")
        _originate_response(notify, action_id, False, spec, (app, data, context, exten), None, 0)
        pbx.device_state(one.device, "INVALID")
        return False, None
    rec = CallRecord(call_id=two.uniqueid, channel=two.name, caller_channel=one.name, caller=num,
                     caller_name=name, dialled=script.did if script else lexten, start=time.time())
    one.record = two.record = rec
    pbx.records.append(rec)
    pbx.local_bridge_event(one, two, lctx, lexten)
    if pbx._wanted & ev.CALL:
        pbx.emit(ev.CALL, "DialBegin", ev.channel_block(one, "Dest") + [("DialString", f"{lexten}@{lctx}")])
    loop = asyncio.get_running_loop()
    answered = loop.create_future()

    def on_answer(ok: bool) -> None:
        if not answered.done():
            answered.set_result(ok)

    one.on_answer = on_answer
    if script is not None:
        two.run = CallerRun(pbx, script, one, rec)
    from .dialplan import run_dialplan  # the dialplan module imports this one's users
    two.task = pbx.spawn(run_dialplan(pbx, two, lctx, lexten, 1))

    async def settle() -> bool:
        try:
            ok = await asyncio.wait_for(answered, timeout_s / pbx.speed)
        except asyncio.TimeoutError:
            ok = False
        if ok and not one.gone:
            if pbx._wanted & ev.CALL:
                pbx.emit(ev.CALL, "DialEnd", ev.channel_block(one, "Dest") + [("DialStatus", "ANSWER")])
            _originate_response(notify, action_id, True, one.name, (app, data, context, exten), one, 4)
            _start_caller_app(pbx, one, app, data, context, exten, priority)
            return True
        one.on_answer = None
        _originate_response(notify, action_id, False, spec, (app, data, context, exten), None,
                            1 if one.gone else 3)
        if not one.gone:
            pbx.hangup(one, cause=19, by="pbx")
        return False

    if async_:
        pbx.spawn(settle())
        return True, one
    ok = await settle()
    return ok, one

def _start_caller_app(pbx, one: Channel, app, data, context, exten, priority) -> None:
    """The ;1 leg's Application: Wait (hangs up after N s), MusicOnHold (the caller's phone
    sends audio, capture xfer-f-chanspy), ChanSpy (a supervisor, :mod:`ivr.pbx.spy`)."""
    if app:
        one.app, one.appdata = app, data
        if app.lower() == "musiconhold":
            one.moh = True
            pbx.chan_event(ev.CALL, "MusicOnHoldStart", one, [("Class", data.split(",")[0] or "default")])
        elif app.lower() == "chanspy":
            start_chanspy(pbx, one, data)
        elif app.lower() == "wait" and data.strip():
            try:
                secs = float(data.split(",")[0])
            except ValueError:
                secs = 0.0
            if secs > 0:
                one.app_timer = pbx.later(secs, pbx.hangup, one, 16, "caller")
    elif context and exten:
        from .dialplan import run_dialplan  # the dialplan module imports this one's users
        one.task = pbx.spawn(run_dialplan(pbx, one, context, exten, priority))

def refused_originate(notify, action_id, spec: str, target) -> None:
    """OriginateResponse Failure, reason 0: the channel could not be created."""
    _originate_response(notify, action_id, False, spec, target, None, 0)


def _originate_response(notify, action_id, ok, channel, target, one, reason) -> None:
    """As manager.c's fast_originate: Application/Data for an application, else Context/Exten."""
    if notify is None:
        return
    app, data, context, exten = target
    headers = [("ActionID", action_id), ("Response", "Success" if ok else "Failure"),
               ("Channel", channel)]
    if app:
        headers += [("Application", app), ("Data", data)]
    else:
        headers += [("Context", context or ""), ("Exten", exten or "")]
    headers += [("Reason", reason), ("Uniqueid", one.uniqueid if one else "<unknown>"),
                ("CallerIDNum", (one.cid_num if one else "") or "<unknown>"),
                ("CallerIDName", (one.cid_name if one else "") or "<unknown>")]
    notify(headers)


def place_call(pbx, script: CallerScript) -> CallHandle:
    """Start a scripted caller; the handle's ``wait()`` returns the call's record.

    The caller is originated into ``script.context``/``script.did`` at once (no
    await needed), as an AMI ``Originate ... Async: true`` would be.
    """
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    pbx.callers_placed += 1
    num, name = script.number, script.name
    if not pbx.config.raw_caller_id and any(c in num + name for c in "\r\n"):
        raise ValueError("caller id carries a CR or LF: the PBX would refuse to send it; "
                         "set PbxConfig(raw_caller_id=True) to pass it through as an Asterisk "
                         "that does not clean caller ids would")
    callerid = f"{name} <{num}>" if name else f"<{num}>"
    coro = originate(pbx, f"Local/{script.did}@{script.context}", app="Wait", data="",
                     callerid=callerid, caller_id=(num, name), timeout_s=3600, script=script,
                     async_=True)
    try:
        coro.send(None)          # an async originate never suspends
    except StopIteration as stop:
        ok, one = stop.value
    else:  # pragma: no cover - guarded by originate's structure
        coro.close()
        raise RuntimeError("originate suspended unexpectedly")
    if one is None:
        rec = CallRecord(call_id="", channel="", caller_channel="", caller=num, caller_name=name,
                         dialled=script.did, start=time.time(), end=time.time(), failed=True)
        pbx.records.append(rec)
        ended.set_result(rec)
        pbx._record_ended(rec)
        _log.info("pbx.call_failed", dialled=script.did, context=script.context)
        return CallHandle(rec, None, ended)  # type: ignore[arg-type]
    handle = CallHandle(one.record, one, ended)
    pbx._handles[one.record.call_id] = handle
    return handle

