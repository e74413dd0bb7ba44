"""The PBX itself: channels, the event bus, originate, hang-up, redirect, DTMF.

Everything runs on one asyncio loop.  Events are built only when some session's
mask wants their class, and encoded once however many sessions get them, which
keeps a few hundred concurrent calls cheap.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass

from ivr import log
from ivr.ami.protocol import encode

from . import events as ev
from .channels import DIGIT, Bridge, Channel, Target
from .config import ConfigError, PbxConfig
from .records import CallRecord
from .scripts import AgentBehaviour, CallerRun, CallerScript

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


class Pbx:
    def __init__(self, config: PbxConfig | None = None, agents: dict[str, AgentBehaviour] | None = None):
        self.config = config or PbxConfig.load()
        if self.config.speed <= 0:
            raise ConfigError(f"speed must be positive, got {self.config.speed}")
        self.speed = float(self.config.speed)
        self.rng = random.Random(self.config.seed)
        self.channels: dict[str, Channel] = {}
        self.sessions: set = set()
        self.records: list[CallRecord] = []
        self.agents: dict[str, AgentBehaviour] = dict(agents or {})
        self._uid = 0
        self._chan_seq = 0
        self._wanted = 0
        self._server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None
        self.boot = time.time()
        self.calls_processed = 0
        self._handles: dict[str, CallHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        #: Ring and talk time of agents found through the dialplan rather than the table.
        self.default_answer_after_s = 0.0
        self.default_talk_s = None

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        from .session import Session

        if not self.config.secret:
            raise ConfigError("the PBX needs an AMI secret (PbxConfig(secret=...), secret: in the config, or --secret)")
        loop = asyncio.get_running_loop()
        port = self.address[1] if self.address else self.config.port
        try:
            self._server = await loop.create_server(lambda: Session(self), self.config.host, port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.config.host}:{port}: {exc.strerror}") from None
        sock = self._server.sockets[0]
        self.address = sock.getsockname()[:2]
        _log.info("pbx.listening", host=self.address[0], port=self.address[1], speed=self.speed)
        return self.address

    async def stop(self) -> None:
        await self._drop_everything()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def restart(self, down_s: float = 0.0) -> None:
        """What a real Asterisk restart does to its clients: every AMI session is
        dropped and every channel hung up; the port comes back after ``down_s``."""
        _log.info("pbx.restart", channels=len(self.channels), sessions=len(self.sessions))
        if down_s > 0 and self._server is not None:
            self._server.close()
            await self._drop_everything()
            await self._server.wait_closed()
            self._server = None
            await asyncio.sleep(down_s)
            await self.start()
        else:
            await self._drop_everything()
        self.boot = time.time()

    async def _drop_everything(self) -> None:
        for s in list(self.sessions):
            s.abort()
        self.sessions.clear()
        self._recompute_wanted()
        for ch in list(self.channels.values()):
            if ch.record is not None and not ch.record.hangup_by:
                ch.record.hangup_by = "pbx"
            self.hangup(ch, cause=0, by="pbx")
        # Let the channels' tasks run their clean-up.
        for _ in range(5):
            await asyncio.sleep(0)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    # -- time --------------------------------------------------------------------------
    def later(self, seconds: float, callback, *args) -> asyncio.TimerHandle:
        """Run ``callback`` after ``seconds`` of PBX time (divided by speed)."""
        return asyncio.get_running_loop().call_later(max(seconds, 0.0) / self.speed, callback, *args)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def cpu_seconds() -> float:
        """CPU time of this process (run the PBX alone with ``python -m ivr.pbx`` to
        measure it apart from the engine; see :mod:`ivr.pbx.process`)."""
        return time.process_time()

    # -- events ------------------------------------------------------------------------
    def _recompute_wanted(self) -> None:
        wanted = 0
        for s in self.sessions:
            wanted |= s.event_mask
        self._wanted = wanted

    def wants(self, category: int) -> bool:
        return bool(self._wanted & category)

    def emit(self, category: int, name: str, headers: list) -> None:
        """Send one event to every session whose mask and filters let it through."""
        if not self._wanted & category:
            return
        data: bytes | None = None
        text: str | None = None
        for s in self.sessions:
            if not s.event_mask & category:
                continue
            if data is None:
                msg = [("Event", name), ("Privilege", ev.PRIVILEGE[category]), ("SystemName", self.config.system_name)]
                msg += headers
                data = encode(msg)
            if s.filters:
                if text is None:
                    text = data.decode("utf-8")
                if not s.filters.passes(text):
                    continue
            s.write(data)

    def chan_event(self, category: int, name: str, ch: Channel, extra: list | None = None) -> None:
        if self._wanted & category:
            headers = ev.channel_block(ch)
            if extra:
                headers += extra
            self.emit(category, name, headers)

    def varset(self, ch: Channel, name: str, value: str) -> None:
        ch.vars[name] = value
        if self._wanted & ev.DIALPLAN:
            self.chan_event(ev.DIALPLAN, "VarSet", ch, [("Variable", name), ("Value", value)])

    def newstate(self, ch: Channel, state: int) -> None:
        if ch.state != state:
            ch.state = state
            self.chan_event(ev.CALL, "Newstate", ch)

    def device_state(self, device: str, state: str) -> None:
        if self._wanted & ev.CALL and device:
            self.emit(ev.CALL, "DeviceStateChange", [("Device", device), ("State", state)])

    # -- channels ----------------------------------------------------------------------
    def new_uniqueid(self) -> str:
        uid = f"{self.config.system_name}-{int(time.time())}.{self._uid}"
        self._uid += 1
        return uid

    def new_bridge(self) -> Bridge:
        return Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))

    def local_pair(self, exten: str, context: str, linkedid: str | None = None) -> tuple[Channel, Channel]:
        seq = f"{self._chan_seq:08x}"
        self._chan_seq += 1
        base = f"Local/{exten}@{context}-{seq}"
        u1 = self.new_uniqueid()
        u2 = self.new_uniqueid()
        link = linkedid or u1
        one = Channel(self, base + ";1", u1, link, context=context, exten=exten, state=0)
        two = Channel(self, base + ";2", u2, link, context=context, exten=exten, state=4)
        one.peer, two.peer = two, one
        one.device = two.device = f"Local/{exten}@{context}"
        now = time.time()
        one.created = two.created = now
        self.channels[one.name] = one
        self.channels[two.name] = two
        self.chan_event(ev.CALL, "Newchannel", one)
        self.chan_event(ev.CALL, "Newchannel", two)
        return one, two

    def single_channel(self, tech_resource: str, linkedid: str, context: str, exten: str) -> Channel:
        seq = f"{self._chan_seq:08x}"
        self._chan_seq += 1
        ch = Channel(self, f"{tech_resource}-{seq}", self.new_uniqueid(), linkedid, context=context, exten=exten, kind="device")
        ch.device = tech_resource
        ch.created = time.time()
        self.channels[ch.name] = ch
        self.chan_event(ev.CALL, "Newchannel", ch)
        return ch

    def set_callerid(self, ch: Channel, num: str, name: str, conn_num: str, conn_name: str,
                     connected_first: bool = True) -> None:
        """NewCallerid then NewConnectedLine; as recorded, only an originated ;1 leg
        shows its caller id before its connected line is known."""
        if connected_first:
            ch.conn_num, ch.conn_name = conn_num, conn_name
        ch.cid_num, ch.cid_name = num, name
        self.chan_event(ev.CALL, "NewCallerid", ch, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])
        ch.conn_num, ch.conn_name = conn_num, conn_name
        self.chan_event(ev.CALL, "NewConnectedLine", ch)

    def local_bridge_event(self, one: Channel, two: Channel, context: str, exten: str) -> None:
        if self._wanted & ev.CALL:
            self.emit(ev.CALL, "LocalBridge", ev.channel_block(one, "LocalOne") + ev.channel_block(two, "LocalTwo")
                      + [("Context", context), ("Exten", exten), ("LocalOptimization", "Yes")])

    def newexten(self, ch: Channel, app: str, data: str, extension: str | None = None) -> None:
        if self._wanted & ev.DIALPLAN:
            self.chan_event(ev.DIALPLAN, "Newexten", ch, [
                ("Extension", ch.exten if extension is None else extension),
                ("Application", app), ("AppData", data)])

    def destroy(self, ch: Channel, cause: int) -> None:
        """Emit Hangup and forget the channel."""
        if self.channels.get(ch.name) is ch:
            del self.channels[ch.name]
        ch.gone = True
        if ch.app_timer is not None:
            ch.app_timer.cancel()
            ch.app_timer = None
        if ch.run is not None:
            ch.run.close()
        if ch.on_answer is not None:        # an originate still waiting for the answer
            cb, ch.on_answer = ch.on_answer, None
            cb(False)
        self.chan_event(ev.CALL, "Hangup", ch, [("Cause", cause), ("Cause-txt", ev.CAUSE_TEXT.get(cause, "Unknown"))])

    def find(self, name: str | None) -> Channel | None:
        if not name:
            return None
        return self.channels.get(name)

    # -- hang-up -----------------------------------------------------------------------
    def hangup(self, ch: Channel, cause: int | None = None, by: str = "") -> None:
        """Hang up ``ch`` from outside (AMI Hangup, a scripted caller or agent, restart)."""
        if ch.gone:
            return
        if cause is not None:
            ch.hangupcause = cause
        cause = ch.hangupcause
        if by and ch.record is not None and not ch.record.hangup_by:
            ch.record.hangup_by = by
        ch.hangup_by = by
        if ch.owner is not None:                       # an agent leg: its Dial does the rest
            ch.kill()
            ch.owner.signal("dial", ("hangup", ch))
            return
        if ch.task is not None and not ch.task.done():  # running dialplan: it cleans up itself
            self.chan_event(ev.CALL, "HangupRequest", ch, [("Cause", cause)])
            ch.kill()
            return
        peer = ch.peer
        if peer is not None and not peer.gone:
            peer.hangupcause = cause
            self.chan_event(ev.CALL, "HangupRequest", peer, [("Cause", cause)])
            self.destroy(ch, cause)
            if peer.task is not None and not peer.task.done():
                peer.kill()
            else:
                self.destroy(peer, cause)
                self.device_state(peer.device, "NOT_INUSE")
            return
        self.destroy(ch, cause)

    def finish(self, ch: Channel) -> None:
        """A channel that ran dialplan is done: hang it and its Local partner up."""
        if self.channels.get(ch.name) is not ch:
            return
        if ch.moh:
            ch.moh = False
            self.chan_event(ev.CALL, "MusicOnHoldStop", ch)
        self.chan_event(ev.CALL, "SoftHangupRequest", ch, [("Cause", 16)])
        cause = ch.hangupcause
        peer = ch.peer
        if peer is not None and not peer.gone and peer.task is None:
            self.varset(peer, "CHANLOCALSTATUS", ch.vars.get("DIALSTATUS") or "ANSWER")
            self.chan_event(ev.CALL, "HangupRequest", peer, [("Cause", cause)])
            self.destroy(peer, cause)
        elif peer is not None and not peer.gone:
            peer.hangupcause = cause
            self.chan_event(ev.CALL, "HangupRequest", peer, [("Cause", cause)])
            peer.kill()
        self.destroy(ch, cause)
        self.device_state(ch.device, "NOT_INUSE")
        self.device_state(ch.device, "NOT_INUSE")
        rec = ch.record
        if rec is not None and rec.call_id == ch.uniqueid and rec.end is None:
            rec.end = time.time()
            rec.cause = cause
            if not rec.hangup_by:
                rec.hangup_by = "dialplan"
            handle = self._handles.pop(rec.call_id, None)
            if handle is not None and not handle.ended.done():
                handle.ended.set_result(rec)
            log.get(__name__, call_id=rec.call_id).debug(
                "pbx.call_end", hangup_by=rec.hangup_by, cause=cause, dials=[d.status for d in rec.dials])

    # -- answer ------------------------------------------------------------------------
    def answer(self, ch: Channel) -> None:
        """Answer a channel (AGI ANSWER, Answer()): both halves of a Local pair go Up."""
        if ch.state == 6:
            return
        self.newstate(ch, 6)
        self.device_state(ch.device, "INUSE")
        peer = ch.peer
        if peer is not None and not peer.gone:
            self.newstate(peer, 6)
            self.device_state(peer.device, "INUSE")
        now = time.time()
        ch.answered_at = now
        if ch.record is not None and ch.record.answered is None:
            ch.record.answered = now
        cb = (peer.on_answer if peer is not None else None) or ch.on_answer
        if cb is not None:
            if peer is not None:
                peer.on_answer = None
            ch.on_answer = None
            cb(True)

    # -- redirect and DTMF ---------------------------------------------------------------
    def redirect(self, ch: Channel, target: Target) -> None:
        if ch.task is not None and not ch.task.done():
            ch.move(target)
        else:
            from .dialplan import run_dialplan
            if ch.app_timer is not None:
                ch.app_timer.cancel()
                ch.app_timer = None
            ch.task = self.spawn(run_dialplan(self, ch, target.context, target.exten, target.priority))

    def dtmf(self, ch: Channel, digit: str, duration_ms: int | None = None, then=None, delay_s: float = 0.0,
             after=None) -> None:
        """A key pressed on ``ch`` (for a Local ;1 leg, heard on its ;2 partner) after its duration.

        ``then`` runs just before the key reaches the channel (PlayDTMF's answer);
        ``after`` runs once the command that was waiting for it has reacted.
        """
        ms = self.config.timing.dtmf_duration_ms if duration_ms is None else duration_ms
        self.later(delay_s + ms / 1000.0, self._deliver_dtmf, ch, digit, ms, then, after)

    def _deliver_dtmf(self, ch: Channel, digit: str, ms: int, then, after=None) -> None:
        try:
            self._deliver_dtmf_now(ch, digit, ms, then)
        finally:
            if after is not None:
                # Queued behind the woken command's next step, so it sees the command's reaction.
                asyncio.get_running_loop().call_soon(after)

    def _deliver_dtmf_now(self, ch: Channel, digit: str, ms: int, then) -> None:
        if then is not None:
            then()
        target = ch.peer if ch.peer is not None and ch.name.endswith(";1") else ch
        if target is None or target.gone:
            return
        self.chan_event(ev.DTMF, "DTMFBegin", target, [("Digit", digit), ("Direction", "Received")])
        self.chan_event(ev.DTMF, "DTMFEnd", target, [("Digit", digit), ("DurationMs", ms), ("Direction", "Received")])
        rec = target.record
        if rec is not None and rec.call_id == target.uniqueid:
            rec.digits += digit
        target.signal(DIGIT, digit)

    # -- originate -----------------------------------------------------------------------
    async def originate(self, spec: str, *, app: str | None = None, data: str = "",
                        context: str | None = None, exten: str | None = None, priority: int = 1,
                        callerid: str | None = None, timeout_s: float = 30.0,
                        action_id: str | None = None, async_: bool = True, notify=None,
                        script: CallerScript | None = None, variables: dict | None = None):
        """Originate ``Local/EXTEN@CONTEXT``; returns (ok, ;1 channel or None).

        ``notify(headers)`` receives the OriginateResponse of an async originate.
        """
        local = split_local(spec)
        if local is None:
            self._originate_response(notify, action_id, False, spec, app, data, None, 0)
            return False, None
        lexten, lctx = local
        num, name = parse_callerid(callerid)
        one, two = self.local_pair(lexten, lctx)
        self.calls_processed += 1
        if script is not None:
            one.language = two.language = script.language
            two.dnid = script.did
        self.newexten(one, "AppDial2", "(Outgoing Line)")
        if num or name:
            for ch in (one, two):
                self.set_callerid(ch, num, name, num, name, connected_first=ch is two)
        for key, value in (variables or {}).items():
            self.varset(two, key, value)
        ctx = self.config.dialplan.get(lctx)
        if ctx is None or ctx.find(lexten) is None:
            self.destroy(two, 0)
            self.destroy(one, 0)
            self.device_state(one.device, "INVALID")
            self._originate_response(notify, action_id, False, spec, app, data, None, 0)
            self.device_state(one.device, "INVALID")
            return False, None
        rec = CallRecord(call_id=two.uniqueid, channel=two.name, caller_channel=one.name, caller=num,
                         caller_name=name, dialled=script.did if script else lexten, start=time.time())
        one.record = two.record = rec
        self.records.append(rec)
        self.local_bridge_event(one, two, lctx, lexten)
        if self._wanted & ev.CALL:
            self.emit(ev.CALL, "DialBegin", ev.channel_block(one, "Dest") + [("DialString", f"{lexten}@{lctx}")])
        loop = asyncio.get_running_loop()
        answered = loop.create_future()

        def on_answer(ok: bool) -> None:
            if not answered.done():
                answered.set_result(ok)

        one.on_answer = on_answer
        if script is not None:
            two.run = CallerRun(self, script, one, rec)
        from .dialplan import run_dialplan
        two.task = self.spawn(run_dialplan(self, two, lctx, lexten, 1))

        async def settle() -> bool:
            try:
                ok = await asyncio.wait_for(answered, timeout_s / self.speed)
            except asyncio.TimeoutError:
                ok = False
            if ok and not one.gone:
                if self._wanted & ev.CALL:
                    self.emit(ev.CALL, "DialEnd", ev.channel_block(one, "Dest") + [("DialStatus", "ANSWER")])
                self._originate_response(notify, action_id, True, one.name, app, data, one, 4)
                self._start_caller_app(one, app, data, context, exten, priority)
                return True
            one.on_answer = None
            self._originate_response(notify, action_id, False, spec, app, data, None, 1 if one.gone else 3)
            if not one.gone:
                self.hangup(one, cause=19, by="pbx")
            return False

        if async_:
            self.spawn(settle())
            return True, one
        ok = await settle()
        return ok, one

    def _start_caller_app(self, one: Channel, app, data, context, exten, priority) -> None:
        if app:
            if app.lower() == "wait" and data.strip():
                try:
                    secs = float(data.split(",")[0])
                except ValueError:
                    secs = 0.0
                if secs > 0:
                    one.app_timer = self.later(secs, self.hangup, one, 16, "caller")
        elif context and exten:
            from .dialplan import run_dialplan
            one.task = self.spawn(run_dialplan(self, one, context, exten, priority))

    def _originate_response(self, notify, action_id, ok, channel, app, data, one, reason) -> None:
        if notify is None:
            return
        headers = [("ActionID", action_id), ("Response", "Success" if ok else "Failure"),
                   ("Channel", channel)]
        if app:
            headers += [("Application", app), ("Data", data)]
        headers += [("Reason", reason), ("Uniqueid", one.uniqueid if one else "<unknown>"),
                    ("CallerIDNum", (one.cid_num if one else "") or "<unknown>"),
                    ("CallerIDName", (one.cid_name if one else "") or "<unknown>")]
        notify(headers)

    # -- scripted calls ------------------------------------------------------------------
    def place_call(self, script: CallerScript) -> CallHandle:
        """Start a scripted caller; the handle's ``wait()`` returns the call's record.

        The caller is originated into ``script.context``/``script.did`` at once (no
        await needed), as an AMI ``Originate ... Async: true`` would be.
        """
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        num, name = script.number, script.name
        callerid = f"{name} <{num}>" if name else f"<{num}>"
        coro = self.originate(f"Local/{script.did}@{script.context}", app="Wait", data="",
                              callerid=callerid, timeout_s=3600, script=script, async_=True)
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
            self.records.append(rec)
            ended.set_result(rec)
            _log.info("pbx.call_failed", dialled=script.did, context=script.context)
            return CallHandle(rec, None, ended)  # type: ignore[arg-type]
        handle = CallHandle(one.record, one, ended)
        self._handles[one.record.call_id] = handle
        return handle

    def agent_for(self, target: str) -> AgentBehaviour | None:
        """The behaviour of a dialled endpoint: the agents table, else the dialplan."""
        b = self.agents.get(target)
        if b is not None:
            return b
        base = target.split("/n")[0] if target.endswith("/n") else target
        b = self.agents.get(base)
        if b is not None:
            return b
        local = split_local(target)
        if local is None:
            return None
        exten, ctx = local
        c = self.config.dialplan.get(ctx)
        ext = c.find(exten) if c else None
        if ext is None:
            return None
        first = ext.steps[0].app
        kind = {"Answer": "answer", "Ringing": "noanswer", "Busy": "busy", "Congestion": "congestion"}.get(first, "answer")
        return AgentBehaviour(kind=kind, answer_after_s=self.default_answer_after_s if kind == "answer" else 0.0,
                              talk_s=self.default_talk_s)

    # -- robustness tests ----------------------------------------------------------------
    def inject(self, data: bytes, session=None) -> int:
        """Write raw bytes to one session (or all): garbage, huge lines, half messages."""
        targets = [session] if session is not None else list(self.sessions)
        for s in targets:
            s.write(data)
        return len(targets)
