"""The engine: AMI events in, one owner per live call, call stories out.

Events reach the engine through one table from event name to handler; the same
table tells the AMI link which events to ask Asterisk for (``Filter`` actions),
so adding a handler is the only step to subscribe to an event.  Events of a
channel are fed to that call's :class:`AgiCall` synchronously in arrival order;
the call's program runs as one task of the engine's scope of the supervision tree
(hotline/supervise.py), so a failure is logged with the call id and the call's end
is always recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from hotline import log as logmod
from hotline.supervise import Supervisor
from ivr.agi.call import AgiCall, Deadlines, ResumeTarget
from ivr.agi.caller_data import CallerData
from ivr.agi.interface import AgiError, CallerHungUp, CallInterrupted, EngineStopping
from ivr.ami.protocol import Message
from ivr.engine import resync
from ivr.engine.records import CallRecord

Program = Callable[[AgiCall, CallRecord], Awaitable[None]]

#: The event classes the engine needs (``Events`` action mask).
EVENT_MASK = "call,agi,dtmf"
#: How many ended channels the engine remembers, to ignore a late second AsyncAGIStart.
ENDED_MEMORY = 20_000
#: Longest wait for the HANGUP that ends a call (its own checks may take this long).
HANGUP_DEADLINE_S = 20.0


class Engine:
    #: event name -> handler method; also the list of events Asterisk is asked for.
    HANDLERS = {
        "AsyncAGIStart": "_on_agi_start",
        "AGIExecStart": "_to_call",      # a queued command starts: safe to interrupt it
        "AsyncAGIExec": "_to_call",
        "AsyncAGIEnd": "_to_call",
        "Hangup": "_to_call",
        "DialBegin": "_on_dial",
        "DialEnd": "_on_dial",
        "DTMFEnd": "_on_dtmf",
        "OriginateResponse": "_on_originate",
    }

    def __init__(self, link: Any, program: Program, *, node: str | None = None,
                 resume: ResumeTarget | None = None, contexts: tuple[str, ...] | None = None,
                 on_record: Callable[[CallRecord], None] | None = None, log=None,
                 context_programs: dict[str, Program] | None = None, leases=None, adopt: Program | None = None,
                 deadlines: Deadlines | None = None, sound_seconds: Callable[[str], float | None] | None = None,
                 tree: Supervisor | None = None):
        self.link = link
        self.program = program
        self.node = node or f"{os.uname().nodename}-{os.getpid()}"
        self.resume = resume or ResumeTarget()
        #: Only channels whose AGI runs in one of these contexts are ours (None: all).
        self.contexts = contexts
        self.on_record = on_record
        #: A program per dialplan context where it differs (callbacks run on the agent's channel).
        self.context_programs = dict(context_programs or {})
        #: Told of ``OriginateResponse`` events (the callback dialer).
        self.originate_listeners: list[Callable[[Message], None]] = []
        #: With several nodes on one Asterisk: this node's leases on channels
        #: (ivr.engine.ownership), the channels other nodes serve, and the program
        #: for a caller adopted from a node that died (or taken up after an outage).
        self.leases = leases
        self.adopt_program = adopt
        #: When Asterisk is overloaded, new callers get this program instead (a callback offer).
        self.shed_program: Program | None = None
        self.max_calls: int | None = None
        self.deadlines = deadlines or Deadlines()
        self.sound_seconds = sound_seconds
        self.foreign: dict[str, Message] = {}
        #: The far end of each call's answered Dial (the agent's leg) -> the call: an agent's keys.
        self.peers: dict[str, str] = {}
        self.adopted = 0
        self.taken_up = 0
        self._claiming: set[str] = set()   # channels whose first lease claim is on its way
        self.shed = 0
        self.accepting = True
        self.log = log or logmod.get("ivr.engine", node=self.node)
        self.calls: dict[str, AgiCall] = {}
        self.records: dict[str, CallRecord] = {}
        self.finished: list[CallRecord] = []
        self.ended: OrderedDict[str, str] = OrderedDict()   # channel -> how its call ended here
        self.repairs: dict[str, int] = {}                     # channel -> caller-id repairs tried
        #: The calls' tasks and the engine's loops: the runtime's tree (a tree of its own in tests).
        self.supervisor = tree.scope("engine", log=self.log) if tree is not None else Supervisor("engine", log=self.log)
        self._table = {name: getattr(self, meth) for name, meth in self.HANDLERS.items()}
        self.events_seen = 0
        self.resyncs = 0
        self.pbx_started: str | None = None
        self._take_up_task: asyncio.Task | None = None
        link.on_event = self.on_event
        link.on_connected = self.on_connected

    @classmethod
    def filters(cls) -> list[str]:
        """``Filter`` lines for the AMI link, one per handled event."""
        return [f"Event: {name}" for name in cls.HANDLERS]

    # ------------------------------------------------------------ dispatch
    def on_event(self, event: Message) -> None:
        handler = self._table.get(event.event or "")
        if handler is None:
            return
        self.events_seen += 1
        try:
            handler(event)
        except Exception as exc:
            self.log.error("event.handler_failed", ami_event=event.event, call_id=event.get("Uniqueid"),
                           error=f"{type(exc).__name__}: {exc}",
                           exc_info=(type(exc), exc, exc.__traceback__))

    def _to_call(self, event: Message) -> None:
        uid = event.get("Uniqueid", "")
        call = self.calls.get(uid)
        if call is not None:
            call.feed(event)
        elif event.event == "Hangup":
            self.foreign.pop(uid, None)
            self.peers.pop(event.get("Channel", ""), None)

    def _on_agi_start(self, event: Message) -> None:
        data = CallerData.from_start(event)
        uid = data.call_id
        call = self.calls.get(uid)
        if call is not None:  # re-entry after a Redirect: same channel, new AGI session
            call.feed(event)
            return
        if not uid or not data.channel or not data.context:
            # Cut short (a caller id ending in CR/LF on an Asterisk that does not clean it ends the
            # message early): the channel waits in AGI; mend its caller id and send it back in.
            self.log.warning("call.start_unreadable", call_id=uid or None, channel=data.channel or None,
                             headers=[k for k, _ in event.headers][:20])
            self.supervisor.spawn(resync.repair_start(self, event), name=f"repair {data.channel}")
            return
        if uid in self.foreign:  # another node's call re-entering AGI (its Redirect)
            self.foreign[uid] = event
            return
        if not self._ours(data.context):
            return
        if uid in self.ended:
            self._stale(uid, data.channel, "AsyncAGIStart")
            return
        if not self.accepting:
            self.log.info("call.left_for_others", call_id=uid, reason="engine stopping")
            return
        # A channel entering the resume context that nobody holds was left by a node that
        # stopped or lost it: where the ACD says it was decides, not the menu from the start.
        resumed = data.context == self.resume.context and self.adopt_program is not None
        self.start(data, event, program=self.adopt_program if resumed else None)

    def _ours(self, context: str) -> bool:
        return self.contexts is None or context in self.contexts or context in self.context_programs

    def start(self, data: CallerData, start: Message | None, *, program: Program | None = None,
              adopted: bool = False) -> None:
        """Own a call: its AgiCall, its record, its supervised program."""
        uid = data.call_id
        self.repairs.pop(data.channel, None)
        if program is None:
            program = self.context_programs.get(data.context)
            if program is None:         # a caller (not an agent's callback leg): may be shed
                program = self.program
                if self.shed_program is not None and self._overloaded():
                    program = self.shed_program
                    self.shed += 1
        call = AgiCall(self.link, data, resume=self.resume, deadlines=self.deadlines,
                       sound_seconds=self.sound_seconds)
        if data.cleaned:
            call.log.warning("call.caller_data_cleaned", fields=list(data.cleaned))
        record = CallRecord(call_id=call.call_id, channel=call.channel, caller=call.caller,
                            caller_name=call.caller_name, dialled=call.dialled, node=self.node)
        self.calls[uid] = call
        self.records[uid] = record
        claim = self.leases is not None and not adopted
        if not claim:
            call.log.info("call.start", caller=call.caller, caller_name=call.caller_name, dialled=call.dialled,
                          adopted=adopted or None, shed=program is self.shed_program or None)
        self.supervisor.spawn(self._own(call, record, program, claim=claim, start=start), name=f"call {uid}",
                              log=call.log, on_done=lambda _t, uid=uid: self._closed(uid))

    def _overloaded(self) -> bool:
        if self.max_calls is not None and len(self.calls) >= self.max_calls:
            return True
        return bool(getattr(self.link, "overloaded", False))

    def _stale(self, uid: str, channel: str, seen: str) -> None:
        """A channel whose call already ended here showed up again: end it, do not serve it twice."""
        self.log.warning("call.restart_ignored", call_id=uid, seen=seen, ended=self.ended.get(uid))

        async def hang_up() -> None:
            try:
                await self.link.action("Hangup", {"Channel": channel, "Cause": "16"})
            except Exception as exc:
                self.log.debug("call.stale_hangup_failed", call_id=uid, error=str(exc))

        self.supervisor.spawn(hang_up(), name=f"stale {uid}")

    def _on_dial(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid", ""))
        if call is None:
            return
        call.feed(event)
        record = self.records[call.call_id]
        if event.event == "DialEnd" and event.get("DialStatus") == "ANSWER":
            if record.agent_answered is None:
                record.agent_answered = call.dial_answered_at or time.time()  # the moment a person picked up
            if event.get("DestChannel"):
                self.peers[event["DestChannel"]] = call.call_id
        call.log.debug("call.dial_event", ami_event=event.event, dest=event.get("DestChannel"),
                       status=event.get("DialStatus"))

    def _on_originate(self, event: Message) -> None:
        for listener in self.originate_listeners:
            listener(event)

    def _on_dtmf(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid", ""))
        if call is not None:
            call.log.debug("call.dtmf", digit=event.get("Digit"))
            return
        # a key the agent pressed: it arrives on the agent's leg of the caller's bridge
        owner = self.peers.get(event.get("Channel", ""))
        call = self.calls.get(owner) if owner else None
        if call is not None and event.get("Direction") == "Received":
            call.peer_key(event.get("Digit", ""))

    # ------------------------------------------------------------ a call's life
    async def _own(self, call: AgiCall, record: CallRecord, program: Program, *, claim: bool = False,
                   start: Message | None = None) -> None:
        """Run the call's program; whatever happens, the call's end is recorded."""
        if claim:
            self._claiming.add(call.call_id)
            try:
                won = await self.leases.claim(call.call_id)
            finally:
                self._claiming.discard(call.call_id)
        if claim and not won:
            # Another node serves it: remember the channel, in case that node dies.
            if not call.hung_up and start is not None:
                self.foreign[call.call_id] = start
            record.outcome = "elsewhere"
            return
        if claim:
            call.log.info("call.start", caller=call.caller, caller_name=call.caller_name, dialled=call.dialled)
        reason, handed_over = "", False
        try:
            await program(call, record)
            reason = "program finished"
        except CallerHungUp as exc:
            reason = "pbx lost" if str(exc).startswith("pbx lost") else f"caller gone: {exc}"
        except EngineStopping:
            handed_over = True
        except (AgiError, CallInterrupted) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            record.outcome = record.outcome or "failed"
        except asyncio.CancelledError:
            handed_over = call.stopping
            if not handed_over:
                reason = "engine stopping"
                record.outcome = record.outcome or "failed"
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            record.outcome = record.outcome or "failed"
            call.log.error("call.program_failed", error=reason, exc_info=(type(exc), exc, exc.__traceback__))
        finally:
            if handed_over:
                reason = "engine stopping: left in AGI for another node"
                record.outcome = "handed_over"
            elif not call.hung_up:
                await self._hang_up(call)
            self._settle(call, record, reason)

    async def _hang_up(self, call: AgiCall) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(call.hangup()), HANGUP_DEADLINE_S)
        except Exception as exc:  # the channel may be gone already
            call.log.debug("call.hangup_failed", error=repr(exc))

    def _settle(self, call: AgiCall, record: CallRecord, reason: str) -> None:
        """The record's last word: it must agree with what the ACD was told."""
        if call.hangup_cause.startswith("pbx lost"):
            record.reason = "pbx lost"   # whatever the program said before, this is why it ended
        record.reason = record.reason or reason
        if record.agent_answered is not None and record.outcome in ("", "abandoned", "failed"):
            record.outcome = "answered"    # a person talked with the caller, whatever cut it short
        if not record.outcome:
            if reason.startswith("caller gone"):
                record.outcome = "abandoned"
            else:
                record.outcome = "completed"
        if record.outcome == "answered" and not record.talk_s and call.dial_answered_at is not None:
            record.talk_s = round(call.talk_s(), 3)
        record.agi_steps = len(call.steps)
        record.ended = time.time()
        call.log.info("call.end", outcome=record.outcome, reason=record.reason, agent=record.agent or None,
                      to_person_s=None if record.to_person_s is None else round(record.to_person_s, 3))

    def _closed(self, uid: str) -> None:
        self.calls.pop(uid, None)
        record = self.records.pop(uid, None)
        if record is not None and record.outcome == "elsewhere":
            return
        if self.leases is not None:
            self.supervisor.spawn(self.leases.release(uid), name=f"release {uid}")
        if record is not None:
            if record.ended is None:  # cancelled before the finally ran
                record.ended = time.time()
                record.outcome = record.outcome or "failed"
            if record.outcome != "handed_over":
                self.ended[uid] = record.outcome
                while len(self.ended) > ENDED_MEMORY:
                    self.ended.popitem(last=False)
            self.finished.append(record)
            if self.on_record is not None:
                self.on_record(record)

    # ------------------------------------------------------------ resync
    async def on_connected(self) -> None:
        """After every (re)login: settle the calls held, take up channels left waiting in AGI."""
        await resync.after_login(self)

    def take_up_soon(self) -> None:
        """List the channels and take up those waiting in AGI that nobody serves (one at a time)."""
        if self._take_up_task is None or self._take_up_task.done():
            self._take_up_task = self.supervisor.spawn(resync.take_up(self), name="take-up")

    async def renew_leases(self) -> None:
        """Keep this node's channels; adopt the callers of a node whose leases ran out."""
        if self.leases is None:
            return
        mine = [uid for uid, r in self.records.items() if r.outcome != "elsewhere" and uid not in self._claiming]
        won = await self.leases.renew(mine + list(self.foreign))
        if won is None:
            return
        for uid in mine:
            if uid not in won:
                self._lease_lost(uid)
        for uid in list(self.foreign):
            if uid in won:
                start = self.foreign.pop(uid)
                self.adopted += 1
                self.start(CallerData.from_start(start), start, program=self.adopt_program or self.program,
                           adopted=True)

    def _lease_lost(self, uid: str) -> None:
        """A renewal came too late (this node starved) and another node took the channel:
        it drives the call now, so this node lets go without touching the channel."""
        call, record = self.calls.get(uid), self.records.get(uid)
        if call is None or record is None or call.hung_up:
            return
        call.log.warning("lease.lost", phase=call.phase)
        record.reason = "lease lost: another node serves the call"
        call.stopping = True
        for task in self.supervisor.tasks:
            if task.get_name() == f"call {uid}":
                task.cancel()

    # ------------------------------------------------------------ stopping
    def at_safe_point(self, call: AgiCall) -> bool:
        """Waiting in a queue (the ACD keeps the place) or talking (the bridge needs no engine)."""
        return call.hung_up or call.phase in ("queue", "talk")

    async def drain(self, drain_s: float, *, report_every_s: float = 2.0) -> None:
        """Take no new calls; give running ones up to ``drain_s`` to reach a safe point, then hand over."""
        self.accepting = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while True:
            busy = [c for c in self.calls.values() if not self.at_safe_point(c)]
            if not busy or loop.time() >= deadline:
                break
            self.log.info("engine.draining", live=len(self.calls), not_at_safe_point=len(busy),
                          left_s=round(deadline - loop.time(), 1),
                          waiting_for=sorted({(c.steps[-1].command.split(" ", 2)[0] if c.steps else "start")
                                              for c in busy}))
            await asyncio.sleep(min(report_every_s, max(0.01, deadline - loop.time())))
        await self.hand_over()

    async def hand_over(self) -> None:
        """Leave every live call in AGI for another node (or this node's successor)."""
        calls = list(self.calls.values())
        if calls:
            self.log.info("engine.handing_over", calls=len(calls),
                          phases={p: sum(1 for c in calls if c.phase == p) for p in {c.phase for c in calls}})
        for call in calls:
            call.stopping = True
        tasks = [t for t in self.supervisor.tasks if t.get_name().startswith("call ")]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    async def stop(self, timeout: float = 5.0) -> None:
        """Give the calls (one-shot tasks: loops never end by themselves) up to ``timeout``,
        then cancel whatever is left and wait until none of it runs."""
        self.accepting = False
        await self.supervisor.wait(timeout)
        await self.supervisor.cancel_all()

    def status(self) -> dict[str, Any]:
        return {"node": self.node, "live_calls": len(self.calls), "finished": len(self.finished),
                "foreign_calls": len(self.foreign), "adopted": self.adopted, "taken_up": self.taken_up,
                "shed": self.shed, "events": self.events_seen, "resyncs": self.resyncs,
                "task_failures": self.supervisor.failures}
