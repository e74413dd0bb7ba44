"""``EXEC Dial target,timeout[,opts]``: ring an agent, bridge, and tell how it ended.

The dialled endpoint behaves as its :class:`~ivr.pbx.scripts.AgentBehaviour`
says (the agents table first, else the dialplan context: ``agents`` answers,
``agents-noanswer`` rings, ``agents-busy`` is busy).  Event order follows the
recorded Asterisk.  Dial's AGI result is what app_dial returns: 0 when the call
never connected, -1 once a bridged call ends (either side hanging up) unless the
``g`` option asks to continue, -1 whenever the caller is gone, and 0 when the
caller's channel is moved away by an async goto (Redirect, BlindTransfer).

After a bridged call ``ANSWEREDTIME`` is the *caller channel's* up time (since
it was answered, IVR and queue included) and ``DIALEDTIME`` its age, as
app_dial's ``end_bridge_callback`` sets them (``ast_channel_get_up_time_ms``,
``ast_channel_get_duration_ms``), in PBX seconds; they are not the talk time.
"""

from __future__ import annotations

import time
from dataclasses import replace

from . import events as ev
from .playing import Outcome
from .channels import DIAL, Channel, Gone, Redirected
from .monitor import bridge_started, sends_audio
from .originate import split_local
from .phone import PhoneSteps
from .records import DialRecord
from .scripts import draw

#: Seconds between the keys of a scripted agent's feature code.
AGENT_KEY_GAP_S = 0.25
#: Seconds a dialled phone's Answer() waits when the caller's side already sends audio
#: (recorded 20 ms in xfer-f-chanspy; without audio it waits timing.answer_s, 0.5 s in e).
ANSWER_WITH_AUDIO_S = 0.02
_RESET = ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
          "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS")


def _dest_event(pbx, name: str, ch: Channel, dest: Channel, extra: list) -> None:
    if pbx.wants(ev.CALL):
        pbx.emit(ev.CALL, name, ev.channel_block(ch) + ev.channel_block(dest, "Dest") + extra)


async def dial(pbx, ch: Channel, data: str) -> Outcome:
    """One line per agent's phone when the config says so: a second Dial finds it busy."""
    line = _agent_line(pbx, data.split(",")[0].split("&")[0].strip())
    if line is None:
        return await _dial(pbx, ch, data)
    if line in pbx.lines_in_use:
        return await _dial(pbx, ch, data, line_busy=True)
    pbx.lines_in_use.add(line)
    try:
        return await _dial(pbx, ch, data)
    finally:
        pbx.lines_in_use.discard(line)


def _agent_line(pbx, target: str) -> str | None:
    if not pbx.config.one_call_per_agent:
        return None
    base = target[:-2] if target.endswith("/n") else target
    local = split_local(base)
    if base in pbx.agents or (local is not None and local[1].startswith("agents")):
        return base
    return None


async def _dial(pbx, ch: Channel, data: str, *, line_busy: bool = False) -> Outcome:
    parts = data.split(",")
    target = parts[0].split("&")[0].strip()
    timeout = float(parts[1]) if len(parts) > 1 and parts[1].strip() else None
    opts = parts[2] if len(parts) > 2 else ""
    started = time.time()
    for name in _RESET:
        pbx.varset(ch, name, "")
    drec = DialRecord(target=target, start=started)
    rec = ch.record
    if rec is not None and rec.call_id == ch.uniqueid:
        rec.dials.append(drec)
    behaviour = pbx.agent_for(target)
    if line_busy and behaviour is not None and behaviour.kind in ("answer", "noanswer"):
        behaviour = replace(behaviour, kind="busy")
    local = split_local(target)

    def status(value: str) -> None:
        drec.status = value
        if drec.end is None:
            drec.end = time.time()
        pbx.varset(ch, "DIALSTATUS", value)

    if local is None and (behaviour is None or behaviour.kind == "unavailable"):
        status("CHANUNAVAIL")
        return Outcome("200 result=0")

    # Create the dialled leg(s) as app_dial / chan_local do.
    if local is not None:
        exten, ctx = local
        dest, far = pbx.local_pair(exten, ctx, linkedid=ch.linkedid)
        far.exten = exten
        peer_number = f"{exten}@{ctx}"
    else:
        tech = target.split("/n")[0]
        dest = pbx.single_channel(tech, ch.linkedid, "default", "s")
        far = None
        peer_number = target.split("/", 1)[1] if "/" in target else target
    legs = [c for c in (dest, far) if c is not None]
    for leg in legs:
        leg.owner = ch
        leg.record = ch.record
        leg.language = ch.language
    pbx.varset(dest, "DIALEDPEERNUMBER", peer_number)
    if far is not None:
        dest.exten = ch.exten       # as recorded: the dialling side's extension from here on
    pbx.newexten(dest, "AppDial", "(Outgoing Line)", extension=ch.exten)
    pbx.set_callerid(dest, ch.exten, ch.cid_name, ch.cid_num, ch.cid_name)
    if far is not None:
        pbx.varset(far, "DIALEDPEERNUMBER", peer_number)
        pbx.set_callerid(far, ch.cid_num, ch.cid_name, ch.exten, ch.cid_name)

    def drop_legs(cause_dest: int, cause_far: int) -> None:
        if far is not None and not far.gone:
            pbx.chan_event(ev.CALL, "HangupRequest", far, [("Cause", cause_dest)])
        if not dest.gone or pbx.channels.get(dest.name) is dest:
            pbx.destroy(dest, cause_dest)
        if far is not None:
            _music_off(pbx, far)
            pbx.chan_event(ev.CALL, "SoftHangupRequest", far, [("Cause", 16)])
            pbx.destroy(far, cause_far)
        for leg in legs:
            pbx.device_state(leg.device, "NOT_INUSE")

    if behaviour is None or behaviour.kind == "unavailable":
        pbx.destroy(far, 0) if far is not None else None
        pbx.destroy(dest, 0)
        status("CHANUNAVAIL")
        pbx.device_state(dest.device, "INVALID")
        return Outcome("200 result=0")

    phone = PhoneSteps(pbx, local)
    if far is not None:
        pbx.local_bridge_event(dest, far, local[1], local[0])
    _dest_event(pbx, "DialBegin", ch, dest, [("DialString", peer_number)])

    if behaviour.kind in ("busy", "congestion"):
        busy = behaviour.kind == "busy"
        ring_side = far or dest
        phone.run(ring_side, "Busy" if busy else "Congestion", "5") if far is not None else None
        pbx.newstate(ring_side, 7 if busy else 4)
        value = "BUSY" if busy else "CONGESTION"
        _dest_event(pbx, "DialEnd", ch, dest, [("DialStatus", value)])
        status(value)
        drop_legs(0, 17 if busy else 34)
        return Outcome("200 result=0")

    run = ch.run
    ring_after = draw(behaviour.answer_after_s, pbx.rng) or 0.0
    if behaviour.kind == "noanswer":
        ring_after = None
    answer_timer = None
    if ring_after is None or ring_after > 0:
        if far is not None:
            phone.run(far, "Ringing", "")
            phone.run(far, "Wait", "600")
        pbx.newstate(dest, 5)
        pbx.varset(ch, "RINGTIME", "0")
        pbx.varset(ch, "RINGTIME_MS", "0")
        _dest_event(pbx, "DialState", ch, dest, [("DialStatus", "RINGING")])
        pbx.device_state(dest.device, "INUSE")
        if run is not None:
            run.on_ringing(True)
        if ring_after is not None and (timeout is None or ring_after < timeout):
            answer_timer = pbx.later(ring_after, ch.signal, DIAL, ("answer", dest))
        try:
            while True:
                got = await ch.wait(timeout, (DIAL,))
                if got is None:
                    _dest_event(pbx, "DialEnd", ch, dest, [("DialStatus", "NOANSWER")])
                    drop_legs(0, 0)
                    status("NOANSWER")
                    return Outcome("200 result=0")
                kind, leg = got[1]
                if kind == "answer":
                    break
                if kind == "hangup":           # the agent rejected the call while ringing
                    _dest_event(pbx, "DialEnd", ch, dest, [("DialStatus", "NOANSWER")])
                    drop_legs(dest.hangupcause, dest.hangupcause)
                    status("NOANSWER")
                    return Outcome("200 result=0")
        except (Gone, Redirected) as exc:
            _dest_event(pbx, "DialEnd", ch, dest, [("DialStatus", "CANCEL")])
            drop_legs(0, 0)
            status("CANCEL")
            return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
        finally:
            if answer_timer is not None:
                answer_timer.cancel()
            if run is not None:
                run.on_ringing(False)
    else:
        if far is not None:
            phone.run(far, "Answer", "")

    # Answered: bridge the two (app_dial answers the caller first if it was not yet).
    if ch.state != 6:
        pbx.answer(ch)
    if far is not None:
        pbx.newstate(far, 6)
    pbx.newstate(dest, 6)
    answered = time.time()
    drec.answered = answered
    pbx.varset(ch, "DIALSTATUS", "ANSWER")
    pbx.varset(ch, "DIALEDPEERNAME", dest.name)
    pbx.varset(ch, "DIALEDPEERNUMBER", peer_number)
    pbx.device_state(dest.device, "INUSE")
    dest.exten = ""          # as recorded: the answered outgoing leg has left its extension
    _dest_event(pbx, "DialEnd", ch, dest, [("DialStatus", "ANSWER")])
    ch.hangupcause = 16
    dest.hangupcause = 16      # the bridged halves; the phone (far) has none until it hangs up
    bridge = pbx.new_bridge()
    bridge.dial_options = opts
    ch.bridge = dest.bridge = bridge
    if pbx.wants(ev.CALL):
        pbx.emit(ev.CALL, "BridgeCreate", ev.bridge_block(bridge))
    pbx.newexten(dest, "AppDial", "(Outgoing Line)", extension="")
    for member in (dest, ch):
        bridge.members.append(member)
        if pbx.wants(ev.CALL):
            pbx.emit(ev.CALL, "BridgeEnter", ev.bridge_block(bridge) + ev.channel_block(member))
    pbx.varset(dest, "BRIDGEPEER", ch.name)
    pbx.varset(ch, "BRIDGEPEER", dest.name)
    bridge_started(pbx, bridge, ch)
    music_timer = None
    if far is not None and far.app == "Answer":
        if phone.next_app(far) == "MusicOnHold":     # its Answer() returns at the first voice frame
            wait = ANSWER_WITH_AUDIO_S if sends_audio(ch) else pbx.config.timing.answer_s
            music_timer = pbx.later(wait, phone.hold_music, far, bridge)
        else:
            phone.run(far, "Wait", "600")
    if run is not None:
        run.on_talk()
    talk = draw(behaviour.talk_s, pbx.rng)
    talk_timer = None
    handset = far if far is not None else dest
    pressed = behaviour.keys(pbx.rng) if callable(behaviour.keys) else behaviour.keys
    for after_s, keys in pressed:                  # the agent keys in on the phone: heard on ``dest``
        for n, key in enumerate(keys):
            pbx.dtmf(handset, key, delay_s=after_s + n * AGENT_KEY_GAP_S)
    if talk is not None:
        if behaviour.ends == "agent":      # the agent's phone hangs up: the far end of the pair
            talk_timer = (pbx.later(talk, phone.hang_up, far) if far is not None
                          else pbx.later(talk, pbx.hangup, dest, 16, ""))
        else:
            caller_leg = ch.peer if ch.peer is not None else ch
            talk_timer = pbx.later(talk, pbx.hangup, caller_leg, 16, "caller")

    def leave(member: Channel) -> None:
        if member in bridge.members:
            bridge.members.remove(member)
            if pbx.wants(ev.CALL):
                pbx.emit(ev.CALL, "BridgeLeave", ev.bridge_block(bridge) + ev.channel_block(member))

    def times() -> None:
        now = time.time()
        up_ms = int((now - (ch.answered_at or answered)) * pbx.speed * 1000)
        age_ms = int((now - (ch.created or started)) * pbx.speed * 1000)
        pbx.varset(ch, "ANSWEREDTIME", str(up_ms // 1000))
        pbx.varset(ch, "ANSWEREDTIME_MS", str(up_ms))
        pbx.varset(ch, "DIALEDTIME", str(age_ms // 1000))
        pbx.varset(ch, "DIALEDTIME_MS", str(age_ms))
        pbx.varset(ch, "DIALSTATUS", "ANSWER")
        drec.end = now

    def destroy_bridge() -> None:
        ch.bridge = dest.bridge = None
        if pbx.wants(ev.CALL):
            pbx.emit(ev.CALL, "BridgeDestroy", ev.bridge_block(bridge))

    drec.status = "ANSWER"
    try:
        while True:
            got = await ch.wait(None, (DIAL,))
            if got is not None and got[1][0] == "hangup":
                break
            if got is not None and got[1][0] == "transferred":
                return _agent_transferred(pbx, ch, dest, far, leave, times, destroy_bridge, drec)
        # The agent's side hung up: its phone (the far leg of a Local pair: chan_local asks
        # the near leg to hang up) or the near leg itself (an AMI Hangup of ;1: then the
        # far leg is asked), as recorded.
        leg = got[1][1]
        phone = far is not None and leg is far
        drec.hangup_by = leg.hangup_by or "agent"
        if phone:
            pbx.chan_event(ev.CALL, "HangupRequest", dest, [("Cause", far.hangupcause)])
        pbx.varset(dest, "BRIDGEPEER", "")
        pbx.varset(ch, "BRIDGEPEER", "")
        leave(dest)
        if far is not None and not phone:
            pbx.chan_event(ev.CALL, "HangupRequest", far, [("Cause", dest.hangupcause)])
            far.hangupcause = far.hangupcause or dest.hangupcause
        pbx.destroy(dest, dest.hangupcause)
        leave(ch)
        times()
        out = Outcome("200 result=0") if "g" in opts else Outcome("200 result=-1", 200, "Unknown Result")
        pbx.device_state(dest.device, "NOT_INUSE")
        destroy_bridge()
        if far is not None:    # an AMI Hangup of the phone without a cause: 0, as recorded (xfer-b)
            _music_off(pbx, far)
            pbx.chan_event(ev.CALL, "SoftHangupRequest", far, [("Cause", 16)])
            pbx.destroy(far, far.hangupcause)
        return out
    except (Gone, Redirected) as exc:
        if isinstance(exc, Gone):
            drec.hangup_by = ch.hangup_by or (ch.record.hangup_by if ch.record else "") or "caller"
            if drec.hangup_by == "caller" and ch.peer is None:
                drec.hangup_by = "caller"
        else:
            drec.hangup_by = "engine"
        pbx.varset(ch, "BRIDGEPEER", "")
        leave(ch)
        leave(dest)
        times()
        drop_legs(16, 16)
        destroy_bridge()
        if isinstance(exc, Redirected):
            # An async goto of the caller's channel (Redirect, BlindTransfer of the agent's
            # leg): app_dial returns 0, as recorded in xfer-a-blind-agentchan and d1.
            return Outcome("200 result=0", error=exc)
        return Outcome("200 result=-1", 200, "Unknown Result", error=exc)
    finally:
        if talk_timer is not None:
            talk_timer.cancel()
        if music_timer is not None:
            music_timer.cancel()
        if run is not None:
            run.on_talk(False)


def _music_off(pbx, leg: Channel) -> None:
    """The phone's hold music stops as it hangs up (before its SoftHangupRequest, recorded)."""
    if leg.moh and not leg.gone:
        leg.moh = False
        pbx.chan_event(ev.CALL, "MusicOnHoldStop", leg)


def _agent_transferred(pbx, ch: Channel, dest: Channel, far, leave, times, destroy_bridge, drec) -> Outcome:
    """A BlindTransfer by the caller's channel sent the agent's leg away: it now runs
    the target's dialplan (its phone stays with it); the caller leaves the bridge and
    the Dial answers -1 with the AGI session still open (xfer-a-blind-callerchan)."""
    from .dialplan import run_dialplan

    drec.hangup_by = "transfer"
    for leg in (dest, far):
        if leg is not None:
            leg.owner = None
    pbx.varset(dest, "BRIDGEPEER", "")
    pbx.varset(ch, "BRIDGEPEER", "")
    pbx.newexten(dest, "AppDial", "(Outgoing Line)")
    leave(dest)
    leave(ch)
    times()
    destroy_bridge()
    dest.task = pbx.spawn(run_dialplan(pbx, dest, dest.context, dest.exten, dest.priority))
    return Outcome("200 result=-1", 200, "Unknown Result")
