"""AsyncAGI call control: one object per live call, driven over the AMI link.

Asterisk queues each ``Action: AGI`` command and reports its result later as an
``AsyncAGIExec`` event carrying our ``CommandId``.  This object keeps the single
command in flight for its channel, resolves it from the events the engine feeds
it (in arrival order, synchronously, from the link's reader), and turns the
ways a call can end into :class:`CallerHungUp`.

A running command cannot be stopped with ``ASYNCAGI BREAK`` (the recordings show
it waits behind the command); :meth:`interrupt` instead redirects the channel
back into ``AGI(agi:async)``, which ends the running command with ``result=-1``
and starts a new AGI session on the same channel.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from ivr import log as logmod
from ivr.agi import commands as cmd
from ivr.agi.interface import AgiError, CallerHungUp, CallInterrupted, DialResult
from ivr.ami.agi_result import AgiResult, decode_exec_result, parse_env
from ivr.ami.protocol import Message

_ids = itertools.count(1)


@dataclass(slots=True)
class Step:
    """One line of a call's story: what was asked, what came back, how long it took."""

    command: str
    started: float
    ended: float = 0.0
    result: str = ""


@dataclass
class ResumeTarget:
    """Where :meth:`AgiCall.interrupt` sends the channel: a dialplan line running AGI(agi:async)."""

    context: str = "hotline-resume"
    exten: str = "s"
    priority: str = "1"


class AgiCall:
    """Call control for one channel running AsyncAGI (implements ``CallControl``)."""

    def __init__(self, link: Any, start: Message, *, resume: ResumeTarget | None = None,
                 command_timeout_s: float | None = None):
        self.link = link
        self.env = parse_env(start.get("Env", ""))
        self.call_id = start.get("Uniqueid") or self.env.get("agi_uniqueid", "")
        self.channel = start.get("Channel") or self.env.get("agi_channel", "")
        self.linkedid = start.get("Linkedid", "")
        self.caller = _known(self.env.get("agi_callerid")) or _known(start.get("CallerIDNum")) or ""
        name = _known(start.get("CallerIDName")) or _known(self.env.get("agi_calleridname"))
        self.caller_name = name or ""
        self.dialled = _known(self.env.get("agi_dnid")) or self.env.get("agi_extension", "") or start.get("Exten", "")
        self.language = self.env.get("agi_language", "") or start.get("Language", "")
        self.resume = resume or ResumeTarget()
        self.command_timeout_s = command_timeout_s
        self.log = logmod.get("ivr.call", call_id=self.call_id, channel=self.channel)
        self.steps: list[Step] = []
        self.hung_up = False
        self.hangup_cause = ""
        self.agi_sessions = 1
        self.started = time.monotonic()
        self._pending: dict[str, asyncio.Future] = {}
        self._redirecting: asyncio.Future | None = None
        self._agi_active = True
        self._dial_answered: asyncio.Event | None = None
        self._started: asyncio.Event | None = None   # set when the command in flight starts running
        #: Set when a result comes for a command this object did not send (another node's,
        #: before this node adopted the call).
        self.foreign_result = asyncio.Event()

    # ------------------------------------------------------------------ events
    def feed(self, event: Message) -> None:
        """Take one event of this channel, in arrival order (called by the engine's router)."""
        name = event.event
        if name == "AsyncAGIExec":
            fut = self._pending.pop(event.get("CommandId") or event.get("CommandID") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(event.get("Result", ""))
            elif fut is None:
                self.foreign_result.set()  # a command another node queued (before we adopted the call)
        elif name == "AGIExecStart":
            # Commands run one at a time: this is the one in flight now leaving the queue.
            if self._started is not None:
                self._started.set()
        elif name == "AsyncAGIEnd":
            self._agi_active = False
            if self._redirecting is None:
                self._fail_pending(CallerHungUp("AGI session ended"))
        elif name == "AsyncAGIStart":
            # A new AGI session on a channel we hold: the Redirect of interrupt() landed.
            self._agi_active = True
            self.agi_sessions += 1
            if self._redirecting is not None and not self._redirecting.done():
                self._redirecting.set_result(None)
        elif name == "DialEnd":
            if event.get("DialStatus") == "ANSWER" and self._dial_answered is not None:
                self._dial_answered.set()
        elif name == "Hangup":
            self.hung_up = True
            self.hangup_cause = event.get("Cause-txt") or event.get("Cause") or ""
            self._fail_pending(CallerHungUp(f"hangup: {self.hangup_cause or 'no cause'}"))
            self._fail_redirect(CallerHungUp("hung up during redirect"))

    def close(self, reason: str) -> None:
        """The channel is gone without our seeing its Hangup (e.g. during an AMI outage)."""
        if not self.hung_up:
            self.log.info("call.closed_out", reason=reason)
        self.hung_up = True
        self.hangup_cause = self.hangup_cause or reason
        self._fail_pending(CallerHungUp(reason))
        self._fail_redirect(CallerHungUp(reason))

    def _fail_redirect(self, exc: BaseException) -> None:
        fut = self._redirecting
        if fut is not None and not fut.done():
            fut.set_exception(exc)
            fut.exception()  # interrupt() may not be waiting on it yet; it checks hung_up

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the waiter may already be gone

    # ---------------------------------------------------------------- commands
    async def run(self, line: str, *, timeout_s: float | None = None, allow_minus_one: bool = False) -> AgiResult:
        """Queue one AGI command and wait for its result.

        ``allow_minus_one``: for ``EXEC Dial``, whose ``result=-1`` means the bridge
        ended (the agent hung up), not that the caller is gone.
        """
        if self.hung_up:
            raise CallerHungUp(self.hangup_cause or "caller gone")
        command_id = f"{self.call_id}/{next(_ids)}"
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending[command_id] = fut
        step = Step(line, time.monotonic())
        self.steps.append(step)
        self._started = asyncio.Event()
        try:
            try:
                await self.link.action("AGI", {"Channel": self.channel, "Command": line, "CommandID": command_id})
            except Exception as exc:
                if _is_channel_gone(exc):
                    self.close("channel does not exist")
                    raise CallerHungUp("channel does not exist") from None
                raise
            deadline = timeout_s or self.command_timeout_s
            raw = await (asyncio.wait_for(fut, deadline) if deadline else fut)
        except asyncio.TimeoutError:
            raise AgiError(f"no result for {line!r} within {deadline} s") from None
        finally:
            self._pending.pop(command_id, None)
            step.ended = time.monotonic()
        result = decode_exec_result(raw)
        step.result = result.raw.strip()
        self.log.debug("agi.step", command=line, result=step.result, ms=round((step.ended - step.started) * 1000, 1))
        if result.hung_up and not (allow_minus_one and result.code == 200):
            if self._redirecting is not None:
                raise CallInterrupted(line)
            # result=-1 says the command failed, usually because the caller left; the
            # Hangup event (or a refused next command) is the proof, so hung_up stays
            # unset here and the engine's final HANGUP settles it either way.
            raise CallerHungUp(f"result=-1 on {line.split(' ', 1)[0]}")
        if not result.ok and not (allow_minus_one and result.hung_up and result.code == 200):
            raise AgiError(f"{line!r}: {step.result}")
        return result

    async def answer(self) -> None:
        await self.run(cmd.answer())
        self.log.info("call.answered", caller=self.caller, dialled=self.dialled)

    async def play(self, prompts: Sequence[str], *, interrupt_on: str = "") -> str | None:
        for prompt in prompts:
            result = await self.run(cmd.stream_file(prompt, interrupt_on))
            digit = _digit(result.result)
            if digit:
                return digit
        return None

    async def collect(self, prompt: str | None, *, max_digits: int, timeout_s: float,
                      inter_digit_timeout_s: float | None = None, terminator: str = "#") -> str:
        if prompt and inter_digit_timeout_s is None and terminator == "#":
            result = await self.run(cmd.get_data(prompt, timeout_s, max_digits))
            return result.result or ""
        digits = ""
        first = None
        if prompt:
            first = await self.play([prompt], interrupt_on=cmd.ALL_DIGITS)
        wait = timeout_s
        while len(digits) < max_digits:
            digit = first or await self.wait_for_digit(wait)
            first = None
            if not digit or digit == terminator:
                break
            digits += digit
            wait = inter_digit_timeout_s or timeout_s
        return digits

    async def wait_for_digit(self, timeout_s: float) -> str | None:
        result = await self.run(cmd.wait_for_digit(timeout_s))
        return _digit(result.result)

    async def set_var(self, name: str, value: str) -> None:
        await self.run(cmd.set_variable(name, value))

    async def get_var(self, name: str) -> str | None:
        result = await self.run(cmd.get_full_variable(name))
        return result.data if result.result == "1" else None

    async def dial(self, target: str, *, timeout_s: float, options: str = "",
                   on_answer: Callable[[], Awaitable[None] | None] | None = None) -> DialResult:
        """Dial ``target``; ``on_answer`` runs the moment the far end picks up (DialEnd ANSWER).

        The ACD must hear of an answer when it happens, not when the conversation
        ends minutes later, or it would take the offer back as unanswered.
        """
        args = [target, str(int(timeout_s))] + ([options] if options else [])
        self.log.info("call.dial", target=target, timeout_s=timeout_s)
        started = time.monotonic()
        self._dial_answered = answered_evt = asyncio.Event()
        dial = asyncio.ensure_future(self.run(cmd.exec_app("Dial", *args), allow_minus_one=True))
        try:
            if on_answer is not None:
                waiter = asyncio.ensure_future(answered_evt.wait())
                try:
                    await asyncio.wait({dial, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if answered_evt.is_set():
                    outcome = on_answer()
                    if inspect.isawaitable(outcome):
                        await outcome
            result = await dial
            if result.hung_up and self._redirecting is not None:
                raise CallInterrupted("Dial")
        except CallerHungUp:
            # The caller left during the ring or the conversation.
            elapsed = time.monotonic() - started
            self.log.info("call.dial_ended", target=target, hangup_by="caller", s=round(elapsed, 2),
                          answered=answered_evt.is_set())
            raise
        finally:
            self._dial_answered = None
            if not dial.done():
                dial.cancel()
                await asyncio.gather(dial, return_exceptions=True)
        # After result=-1 the caller may still be there (the agent hung up) or not: asking
        # for DIALSTATUS tells, since a command on a gone channel fails with CallerHungUp.
        status = (await self.get_var("DIALSTATUS")) or "CHANUNAVAIL"
        answered = 0.0
        if status == "ANSWER":
            answered = _float(await self.get_var("ANSWEREDTIME"), time.monotonic() - started)
        self.log.info("call.dial_ended", target=target, status=status, answered_s=round(answered, 2))
        return DialResult(status=status, answered_s=answered,
                          hangup_by="agent" if status == "ANSWER" and result.hung_up else "")

    async def music_on_hold(self, seconds: float | None = None, *, moh_class: str = "default") -> None:
        args = [moh_class] + ([str(max(1, int(round(seconds))))] if seconds else [])
        await self.run(cmd.exec_app("MusicOnHold", *args))

    async def interrupt(self) -> None:
        """Redirect the channel back into AGI; the running command ends with CallInterrupted."""
        if self.hung_up:
            raise CallerHungUp(self.hangup_cause or "caller gone")
        if self._redirecting is not None:
            await asyncio.shield(self._redirecting)
            return
        started = self._started
        if self._pending and started is not None and not started.is_set():
            # A command still waiting in Asterisk's queue survives a Redirect and would run
            # in the new AGI session (hold music after all): let it start, then cut it.
            try:
                await asyncio.wait_for(started.wait(), 2.0)
            except asyncio.TimeoutError:
                self.log.warning("call.interrupt_before_start")
        loop = asyncio.get_running_loop()
        self._redirecting = loop.create_future()
        try:
            try:
                await self.link.action("Redirect", {"Channel": self.channel, "Context": self.resume.context,
                                                    "Exten": self.resume.exten, "Priority": self.resume.priority})
            except Exception as exc:
                if _is_channel_gone(exc):
                    self.close("channel does not exist")
                    raise CallerHungUp("channel does not exist") from None
                raise
            await asyncio.wait_for(asyncio.shield(self._redirecting), 10.0)
            # Commands still waiting belonged to the old AGI session: they will never run.
            self._fail_pending(CallInterrupted("redirected"))
            self.log.info("call.interrupted", agi_sessions=self.agi_sessions)
        finally:
            self._redirecting = None

    async def hangup(self) -> None:
        if self.hung_up:
            return
        try:
            await self.run(cmd.hangup())
        except CallerHungUp:
            pass
        self.hung_up = True

    def story(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "channel": self.channel,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "dialled": self.dialled,
            "steps": [{"command": s.command, "result": s.result, "ms": round((s.ended - s.started) * 1000, 1)}
                      for s in self.steps],
        }


def _known(value: str | None) -> str | None:
    if value in (None, "", "unknown", "<unknown>"):
        return None
    return value


def _digit(result: str | None) -> str | None:
    try:
        code = int(result or "")
    except ValueError:
        return None
    return chr(code) if code > 0 else None


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _is_channel_gone(exc: Exception) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "no such channel" in text
