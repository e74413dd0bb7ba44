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

from hotline import log
from ivr.ami.protocol import encode

from . import events as ev
from .channels import DIGIT, Bridge, Channel, Target
from .config import ConfigError, PbxConfig
from .faults import AmiFaults
from .originate import CallHandle, originate, parse_callerid, place_call, split_local  # noqa: F401 (re-exported)
from .records import CallRecord
from .scripts import AgentBehaviour, CallerScript

_log = log.get(__name__)

#: Dialplan functions that set a channel's caller id or connected line, and the field each sets.
_CALLER_ID_FUNCTIONS = {"CALLERID(NUM)": "cid_num", "CALLERID(NAME)": "cid_name",
                        "CONNECTEDLINE(NUM)": "conn_num", "CONNECTEDLINE(NAME)": "conn_name"}


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
        #: Agents' phones ringing or talking (``config.one_call_per_agent``).
        self.lines_in_use: set[str] = set()
        self._uid = int(self.config.uniqueid_start)
        self._chan_seq = 0
        self._wanted = 0
        self._server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None
        self.boot = time.time()
        self.calls_processed = 0
        self.callers_placed = 0          # scripted callers (place_call), for a benchmark's count
        self._handles: dict[str, CallHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        #: Ring and talk time of agents found through the dialplan rather than the table.
        self.default_answer_after_s = 0.0
        self.default_talk_s = None
        #: Global dialplan variables (AMI Setvar without a channel, Set(GLOBAL(X)=...)).
        self.globals: dict[str, str] = {}
        #: Called with each CallRecord when its call ends (``python -m ivr.pbx --records``).
        self.record_sinks: list = []
        self.faults = AmiFaults(self)
        self._sounds = self.config.sounds()
        self.encode = ev.encode_raw_caller_id if self.config.raw_caller_id else encode

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
        self.faults.cancel()
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

    def drop_ami(self, down_s: float, mode: str = "refuse") -> asyncio.Task:
        """Cut every AMI session now and keep the AMI unreachable for ``down_s`` wall
        seconds while calls go on; see :meth:`ivr.pbx.faults.AmiFaults.drop`.  The task
        returned ends when the AMI answers again (awaiting it is optional)."""
        return self.faults.drop(down_s, mode)

    # -- sounds and variables ----------------------------------------------------------------
    def sound_seconds(self, name: str, language: str) -> float | None:
        """Seconds ``name`` plays, None when it is installed nowhere (``prompts:``, ``sounds_dir``)."""
        cat = self._sounds
        if cat.table is not self.config.prompts or cat.folder != self.config.sounds_dir:
            cat = self._sounds = self.config.sounds()
        return cat.seconds(name, language)

    def set_global(self, name: str, value: str) -> None:
        self.globals[name] = value
        if self._wanted & ev.DIALPLAN:
            self.emit(ev.DIALPLAN, "VarSet", [("Channel", "none"), ("Uniqueid", "none"),
                                             ("Variable", name), ("Value", value)])

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
                data = self.encode(msg)
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
        field = _CALLER_ID_FUNCTIONS.get(name.upper())
        if field is not None:   # CALLERID(name)=... changes the channel's caller id, as on Asterisk
            setattr(ch, field, value)
            self.chan_event(ev.CALL, "NewCallerid" if field.startswith("cid") else "NewConnectedLine", ch)
            return
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

    def local_pair(self, exten: str, context: str, linkedid: str | None = None,
                   uniqueids: tuple[str | None, str | None] = (None, None)) -> tuple[Channel, Channel]:
        seq = f"{self._chan_seq:08x}"
        self._chan_seq += 1
        base = f"Local/{exten}@{context}-{seq}"
        u1 = uniqueids[0] or self.new_uniqueid()
        u2 = uniqueids[1] or self.new_uniqueid()
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
        ch.app, ch.appdata = app, data
        if self._wanted & ev.DIALPLAN:
            self.chan_event(ev.DIALPLAN, "Newexten", ch, [
                ("Extension", ch.exten if extension is None else extension),
                ("Application", app), ("AppData", data)])

    def destroy(self, ch: Channel, cause: int) -> None:
        """Emit Hangup and forget the channel (its recordings end, its spies stop)."""
        if self.channels.get(ch.name) is ch:
            del self.channels[ch.name]
        ch.gone = True
        for w in tuple(ch.watchers):
            w.gone(ch)
        if ch.moh:                          # an originated ;1 leg playing hold music (capture f)
            ch.moh = False
            self.chan_event(ev.CALL, "MusicOnHoldStop", ch)
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
        if ch.gone or any(w.holds_hangup(ch) for w in tuple(ch.watchers)):
            return
        if cause is not None:
            ch.hangupcause = cause
        cause = ch.hangupcause
        if by and ch.record is not None and not ch.record.hangup_by and ch.owner is None:
            ch.record.hangup_by = by          # who ended the call: a dialled leg going ends only that leg
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
            # core_unreal queues the hang-up with this half's cause; the partner keeps a cause of
            # its own (16 after a bridged Dial: xfer-a-blind-agentchan's caller hangs up)
            peer.hangupcause = peer.hangupcause or cause
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
            if "DIALSTATUS" in ch.vars:     # core_local: the ;2 leg's DIALSTATUS, when it dialled
                self.varset(peer, "CHANLOCALSTATUS", ch.vars["DIALSTATUS"])
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
            self._record_ended(rec)
            log.get(__name__, call_id=rec.call_id).debug(
                "pbx.call_end", hangup_by=rec.hangup_by, cause=cause, dials=[d.status for d in rec.dials])

    def _record_ended(self, rec: CallRecord) -> None:
        for sink in self.record_sinks:
            try:
                sink(rec)
            except Exception:   # a broken sink must not end the call's clean-up
                _log.exception("pbx.record_sink_failed", call_id=rec.call_id)

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
        for leg in (ch, peer):      # ast_channel_answertime: what ANSWEREDTIME counts from
            if leg is not None and leg.answered_at is None:
                leg.answered_at = now
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
        # A key sent on one half of a Local pair is received on the other (capture xfer-h)
        target = ch.peer if ch.peer is not None and ch.name.startswith("Local/") else ch
        if target is None or target.gone:
            return
        self._dtmf_events(target, digit, ms, "Received")
        self.pass_dtmf(target, digit, ms)
        rec = target.record
        if rec is not None and rec.call_id == target.uniqueid:
            rec.digits += digit
        target.signal(DIGIT, digit)

    def pass_dtmf(self, ch: Channel, digit: str, ms: int) -> None:
        """In a bridge a key ``ch`` received goes on to the other side, as on a Dial without
        feature options (capture xfer-b-atxfer-no-t): sent on the bridged channel, received
        on its partner."""
        bridge = ch.bridge
        for member in list(bridge.members) if bridge is not None else ():
            if member is not ch and not member.gone:
                self._dtmf_events(member, digit, ms, "Sent")
                if member.peer is not None and not member.peer.gone:
                    self._dtmf_events(member.peer, digit, ms, "Received")

    def _dtmf_events(self, ch: Channel, digit: str, ms: int, direction: str) -> None:
        self.chan_event(ev.DTMF, "DTMFBegin", ch, [("Digit", digit), ("Direction", direction)])
        self.chan_event(ev.DTMF, "DTMFEnd", ch, [("Digit", digit), ("DurationMs", ms), ("Direction", direction)])

    # -- originate (ivr/pbx/originate.py) ---------------------------------------------
    async def originate(self, spec: str, **kwargs):
        """Originate ``Local/EXTEN@CONTEXT``; see :func:`ivr.pbx.originate.originate`."""
        return await originate(self, spec, **kwargs)

    def place_call(self, script: CallerScript) -> CallHandle:
        """Start a scripted caller; see :func:`ivr.pbx.originate.place_call`."""
        return place_call(self, script)

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
        talk = self.default_talk_s
        if talk is None and kind == "answer":
            from .dialplan import phone_talk_s
            talk = phone_talk_s(ext.steps, self.globals, self.config.timing.answer_s)
        return AgentBehaviour(kind=kind, answer_after_s=self.default_answer_after_s if kind == "answer" else 0.0,
                              talk_s=talk)

    # -- robustness tests ----------------------------------------------------------------
    def inject(self, data: bytes, session=None) -> int:
        """Write raw bytes to one session (or all): garbage, huge lines, half messages."""
        targets = [session] if session is not None else list(self.sessions)
        for s in targets:
            s.write(data)
        return len(targets)
