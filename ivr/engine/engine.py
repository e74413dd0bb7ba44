"""The engine: AMI events in, one owner per live call, call stories out.

Events reach the engine through one table from event name to handler; the same
table tells the AMI link which events to ask Asterisk for (``Filter`` actions),
so adding a handler is the only step to subscribe to an event.  Events of a
channel are fed to that call's :class:`AgiCall` synchronously in arrival order;
the call's program runs as one supervised task, so a failure is logged with the
call id and the call's end is always recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Awaitable, Callable

from ivr import log as logmod
from ivr.agi.call import AgiCall, ResumeTarget
from ivr.agi.interface import AgiError, CallerHungUp, CallInterrupted
from ivr.ami.protocol import Message
from ivr.engine.records import CallRecord
from ivr.engine.supervise import Supervisor

Program = Callable[[AgiCall, CallRecord], Awaitable[None]]

#: The event classes the engine needs (``Events`` action mask).
EVENT_MASK = "call,agi,dtmf"


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
                 context_programs: dict[str, Program] | None = None, leases=None, adopt: Program | None = None):
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
        #: for a caller adopted from a node that died.
        self.leases = leases
        self.adopt_program = adopt
        self.foreign: dict[str, Message] = {}
        self.adopted = 0
        self.log = log or logmod.get("ivr.engine", node=self.node)
        self.calls: dict[str, AgiCall] = {}
        self.records: dict[str, CallRecord] = {}
        self.finished: list[CallRecord] = []
        self.supervisor = Supervisor(self.log)
        self._table = {name: getattr(self, meth) for name, meth in self.HANDLERS.items()}
        self.events_seen = 0
        self.resyncs = 0
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

    def _on_agi_start(self, event: Message) -> None:
        uid = event.get("Uniqueid", "")
        call = self.calls.get(uid)
        if call is not None:  # re-entry after a Redirect: same channel, new AGI session
            call.feed(event)
            return
        context = event.get("Context", "")
        if self.contexts is not None and context not in self.contexts and context not in self.context_programs:
            return
        if uid in self.foreign:  # another node's call re-entering AGI (its Redirect)
            self.foreign[uid] = event
            return
        program = self.context_programs.get(context, self.program)
        self._start(uid, event, program, claim=self.leases is not None)

    def _start(self, uid: str, event: Message, program: Program, *, claim: bool, adopted: bool = False) -> None:
        call = AgiCall(self.link, event, resume=self.resume)
        record = CallRecord(call_id=call.call_id, channel=call.channel, caller=call.caller,
                            caller_name=call.caller_name, dialled=call.dialled, node=self.node)
        self.calls[uid] = call
        self.records[uid] = record
        if not claim:
            call.log.info("call.start", caller=call.caller, caller_name=call.caller_name, dialled=call.dialled,
                          adopted=adopted or None)
        self.supervisor.spawn(self._own(call, record, program, claim=claim, start=event), name=f"call {uid}",
                              log=call.log, on_done=lambda _t, uid=uid: self._closed(uid))

    def _on_dial(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid", ""))
        if call is None:
            return
        call.feed(event)
        record = self.records[call.call_id]
        if event.event == "DialEnd" and event.get("DialStatus") == "ANSWER" and record.agent_answered is None:
            record.agent_answered = time.time()  # the moment a person picked up
        call.log.debug("call.dial_event", ami_event=event.event, dest=event.get("DestChannel"),
                       status=event.get("DialStatus"))

    def _on_originate(self, event: Message) -> None:
        for listener in self.originate_listeners:
            listener(event)

    def _on_dtmf(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid", ""))
        if call is not None:
            call.log.debug("call.dtmf", digit=event.get("Digit"))

    # ------------------------------------------------------------ a call's life
    async def _own(self, call: AgiCall, record: CallRecord, program: Program, *, claim: bool = False,
                   start: Message | None = None) -> None:
        """Run the call's program; whatever happens, the call's end is recorded."""
        if claim and not await self.leases.claim(call.call_id):
            # Another node serves it: remember the channel, in case that node dies.
            if not call.hung_up and start is not None:
                self.foreign[call.call_id] = start
            record.outcome = "elsewhere"
            return
        if claim:
            call.log.info("call.start", caller=call.caller, caller_name=call.caller_name, dialled=call.dialled)
        reason = ""
        try:
            await program(call, record)
            reason = "program finished"
        except CallerHungUp as exc:
            reason = f"caller gone: {exc}"
        except (AgiError, CallInterrupted) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            record.outcome = record.outcome or "failed"
        except asyncio.CancelledError:
            reason = "engine stopping"
            record.outcome = record.outcome or "failed"
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            record.outcome = record.outcome or "failed"
            call.log.error("call.program_failed", error=reason, exc_info=(type(exc), exc, exc.__traceback__))
        finally:
            if not call.hung_up:
                try:
                    await asyncio.shield(call.hangup())
                except Exception as exc:  # the channel may be gone already
                    call.log.debug("call.hangup_failed", error=repr(exc))
            record.reason = record.reason or reason
            if not record.outcome:
                if record.agent_answered is not None:
                    record.outcome = "answered"
                elif reason.startswith("caller gone"):
                    record.outcome = "abandoned"
                else:
                    record.outcome = "completed"
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
            self.finished.append(record)
            if self.on_record is not None:
                self.on_record(record)

    # ------------------------------------------------------------ resync
    async def on_connected(self) -> None:
        """After every (re)login: close out the calls whose channels are gone."""
        if not self.calls:
            return
        self.resyncs += 1
        try:
            items = await self.link.action_list("CoreShowChannels", {})
        except Exception as exc:
            self.log.warning("resync.failed", error=f"{type(exc).__name__}: {exc}")
            return
        alive = {m.get("Uniqueid") for m in items if m.event == "CoreShowChannel"}
        gone = [uid for uid in self.calls if uid not in alive]
        for uid in gone:
            self.calls[uid].close("channel gone after AMI reconnect")
        self.log.info("resync.done", alive=len(self.calls) - len(gone), closed_out=len(gone))

    async def renew_leases(self) -> None:
        """Keep this node's channels; adopt the callers of a node whose leases ran out."""
        if self.leases is None:
            return
        mine = [uid for uid, r in self.records.items() if r.outcome != "elsewhere"]
        won = await self.leases.renew(mine + list(self.foreign))
        for uid in list(self.foreign):
            if uid in won:
                start = self.foreign.pop(uid)
                self.adopted += 1
                self._start(uid, start, self.adopt_program or self.program, claim=False, adopted=True)

    async def stop(self, timeout: float = 5.0) -> None:
        await self.supervisor.wait(timeout)
        await self.supervisor.cancel_all()

    def status(self) -> dict[str, Any]:
        return {"node": self.node, "live_calls": len(self.calls), "finished": len(self.finished),
                "foreign_calls": len(self.foreign), "adopted": self.adopted,
                "events": self.events_seen, "resyncs": self.resyncs, "task_failures": self.supervisor.failures}
