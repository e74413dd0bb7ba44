"""After an AMI outage: what became of the calls, and who waits in AGI with nobody serving them.

Events sent while the link was down are gone for good (results of AGI
commands, hang-ups, the AsyncAGIStart of new callers).  After every login the
engine lists the channels Asterisk still has and settles each call:

- a call it holds whose channel is gone ended during the gap: it is closed,
  with "pbx lost" as the reason when Asterisk itself restarted;
- a call it holds whose channel is still there carries on: its command in
  flight is checked now (``AgiCall.nudge``), so a lost result costs no deadline;
- a channel waiting in AGI in one of the hotline's contexts that nobody holds
  (a caller who arrived in the gap, or one left by a node that stopped) is
  taken up: with several nodes, by whichever node leases it first.

The same module mends an ``AsyncAGIStart`` cut in two by a caller id that ends
in CR LF (an Asterisk that does not clean it writes the blank line that ends an
AMI message): the caller id is set clean on the channel and the channel is sent
back into AGI, so its next AsyncAGIStart is whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.agi.caller_data import CallerData, clean
from ivr.ami.errors import AmiError
from ivr.ami.protocol import Message

if TYPE_CHECKING:
    from ivr.engine.engine import Engine


async def after_login(engine: "Engine") -> None:
    restarted = await _pbx_restarted(engine)
    items = await _channels(engine)
    if items is None:
        return
    if engine.calls:
        engine.resyncs += 1
        alive = {m.get("Uniqueid") for m in items}
        gone = [uid for uid in engine.calls if uid not in alive]
        reason = "pbx lost: Asterisk restarted" if restarted else "pbx lost: channel ended while the AMI link was down"
        for uid in gone:
            engine.calls[uid].close(reason, at=engine.link.lost_at)
        for uid, call in engine.calls.items():
            if uid in alive:
                call.nudge()
        engine.log.info("resync.done", alive=len(engine.calls) - len(gone), closed_out=len(gone),
                        pbx_restarted=restarted or None)
    _take_up(engine, items)


async def take_up(engine: "Engine") -> None:
    items = await _channels(engine)
    if items is not None:
        _take_up(engine, items)


async def _channels(engine: "Engine"):
    try:
        items = await engine.link.action_list("CoreShowChannels", {})
    except AmiError as exc:
        engine.log.warning("resync.failed", error=f"{type(exc).__name__}: {exc}")
        return None
    return [m for m in items if m.event == "CoreShowChannel"]


def _take_up(engine: "Engine", items) -> None:
    for item in items:
        uid = item.get("Uniqueid") or ""
        if not uid or uid in engine.calls or uid in engine.foreign:
            continue
        if (item.get("Application") or "").upper() != "AGI" or item.get("BridgeId"):
            continue
        data = CallerData.from_start(item)
        if not data.channel or not engine._ours(data.context):
            continue
        if uid in engine.ended:
            engine._stale(uid, data.channel, "CoreShowChannels")
            continue
        if not engine.accepting:
            continue
        engine.taken_up += 1
        engine.log.info("call.taken_up", call_id=uid, context=data.context)
        program = engine.adopt_program if data.context not in engine.context_programs else None
        engine.start(data, item, program=program)


async def _pbx_restarted(engine: "Engine") -> bool:
    """Compare Asterisk's start time with the one seen at the previous login."""
    try:
        status = await engine.link.action("CoreStatus")
    except AmiError:
        return False
    started = f"{status.get('CoreStartupDate', '')} {status.get('CoreStartupTime', '')}".strip()
    before, engine.pbx_started = engine.pbx_started, started or None
    return bool(before and started and before != started)


#: Caller-id headers of a channel block, and the dialplan function that sets each.
CALLER_ID_FUNCTIONS = {"calleridnum": "CALLERID(num)", "calleridname": "CALLERID(name)",
                       "connectedlinenum": "CONNECTEDLINE(num)", "connectedlinename": "CONNECTEDLINE(name)"}
MAX_REPAIRS = 4


async def repair_start(engine: "Engine", partial: Message) -> None:
    """An AsyncAGIStart ended early: its last header is the caller-id value that held CR LF."""
    channel = clean(partial.get("Channel"))
    key, value = partial.headers[-1]
    function = CALLER_ID_FUNCTIONS.get(key.lower())
    tries = engine.repairs.get(channel, 0) + 1
    engine.repairs[channel] = tries
    if not channel or function is None or tries > MAX_REPAIRS:
        engine.log.error("call.start_unrepairable", channel=channel or None, last_header=key, tries=tries)
        engine.take_up_soon()
        return
    engine.log.warning("call.caller_id_repaired", channel=channel, field=function, tries=tries)
    try:
        await engine.link.action("Setvar", {"Channel": channel, "Variable": function, "Value": clean(value)})
        await engine.link.action("Redirect", {"Channel": channel, "Context": engine.resume.context,
                                              "Exten": engine.resume.exten, "Priority": engine.resume.priority})
    except AmiError as exc:
        engine.log.error("call.caller_id_repair_failed", channel=channel, error=str(exc))
        engine.take_up_soon()
