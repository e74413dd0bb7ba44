"""AsyncAGI call control: what the flows and the ACD glue ask of a live call.

:class:`AgiCall` implements ``CallControl`` on top of :class:`AgiChannel`
(commands, deadlines, checks).  Here each command's failure modes are turned
into what a hotline wants: a missing sound file is logged and skipped, a lost
result takes the safe reading (a prompt counts as played, no key was pressed),
and talk time comes from the engine's own clock, never from ``ANSWEREDTIME``
(on a real Asterisk that is the caller channel's up time, IVR and wait included).

A running command cannot be stopped with ``ASYNCAGI BREAK`` (it waits behind
the command); :meth:`interrupt` redirects the channel back into
``AGI(agi:async)``, which ends the running command with ``result=-1`` and starts
a new AGI session on the same channel.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable, Sequence

from ivr.agi import commands as cmd
from ivr.agi.caller_data import CallerData
from ivr.agi.channel import AgiChannel, Deadlines, ResumeTarget, Step  # noqa: F401 - re-exported
from ivr.agi.interface import CallerHungUp, CallInterrupted, DialResult, PromptMissing, ResultLost
from ivr.ami.protocol import Message

#: Assumed length of a prompt whose length nobody told us (PBX seconds).
UNKNOWN_PROMPT_S = 30.0
#: How often a command that may safely run twice is sent while its results keep getting lost.
IDEMPOTENT_TRIES = 6


class AgiCall(AgiChannel):
    """Call control for one channel running AsyncAGI (implements ``CallControl``)."""

    def __init__(self, link: Any, start: Message | CallerData, *, resume: ResumeTarget | None = None,
                 deadlines: Deadlines | None = None, sound_seconds: Callable[[str], float | None] | None = None):
        data = start if isinstance(start, CallerData) else CallerData.from_start(start)
        super().__init__(link, data, resume=resume, deadlines=deadlines)
        self.env_context = data.context
        #: Length of a sound file in PBX seconds, for its deadline (None: unknown).
        self.sound_seconds = sound_seconds or (lambda name: None)
        self.missing_sounds: set[str] = set()

    def _sound_s(self, name: str) -> float:
        length = self.sound_seconds(name)
        return UNKNOWN_PROMPT_S if length is None else float(length)

    def _missing(self, exc: PromptMissing) -> None:
        if exc.sound not in self.missing_sounds:
            self.missing_sounds.add(exc.sound)
            self.log.error("call.prompt_missing", sound=exc.sound, pbx_file=f"{exc.sound}.<format>",
                           detail=str(exc))

    async def answer(self) -> None:
        await self._again(cmd.answer(), expect_s=2.0)
        self.log.info("call.answered", caller=self.caller, dialled=self.dialled)

    async def play(self, prompts: Sequence[str], *, interrupt_on: str = "") -> str | None:
        for prompt in prompts:
            try:
                result = await self.run(cmd.stream_file(prompt, interrupt_on), expect_s=self._sound_s(prompt))
            except PromptMissing as exc:
                self._missing(exc)
                continue
            except ResultLost:
                continue   # it played, or not: go on to the next prompt
            digit = _digit(result.result)
            if digit:
                return digit
        return None

    async def collect(self, prompt: str | None, *, max_digits: int, timeout_s: float,
                      inter_digit_timeout_s: float | None = None, terminator: str = "#") -> str:
        if prompt and inter_digit_timeout_s is None and terminator == "#":
            expect = self._sound_s(prompt) + timeout_s * max(1, max_digits)
            try:
                result = await self.run(cmd.get_data(prompt, timeout_s, max_digits), expect_s=expect)
            except PromptMissing as exc:
                self._missing(exc)
                return ""
            except ResultLost:
                return ""
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
        try:
            result = await self.run(cmd.wait_for_digit(timeout_s), expect_s=timeout_s)
        except ResultLost:
            return None
        return _digit(result.result)

    async def set_var(self, name: str, value: str) -> None:
        await self._again(cmd.set_variable(name, value))

    async def get_var(self, name: str) -> str | None:
        result = await self._again(cmd.get_full_variable(name))
        return result.data if result.result == "1" else None

    async def _again(self, line: str, *, expect_s: float = 0.0, tries: int = IDEMPOTENT_TRIES):
        """Commands that may run again safely: sent again while their results keep getting lost."""
        for attempt in range(1, tries + 1):
            try:
                return await self.run(line, expect_s=expect_s)
            except ResultLost:
                if attempt == tries:
                    raise
                self.log.info("call.command_again", command=line, attempt=attempt + 1)

    async def dial(self, target: str, *, timeout_s: float, options: str = "",
                   on_answer: Callable[[], Awaitable[None] | None] | None = None) -> DialResult:
        """Dial ``target``; ``on_answer`` runs the moment the far end picks up (DialEnd ANSWER).

        The ACD must hear of an answer when it happens, not when the conversation
        ends minutes later, or it would take the offer back as unanswered.
        """
        args = [target, str(int(timeout_s))] + ([options] if options else [])
        self.log.info("call.dial", target=target, timeout_s=timeout_s)
        self.dial_answered_at, self.dial_peer, self._peer_left = None, "", False
        phase_before = self.phase
        self._dial_answered = answered_evt = asyncio.Event()
        dial = asyncio.ensure_future(self.run(cmd.exec_app("Dial", *args), expect_s=timeout_s, allow_minus_one=True))
        lost = refused = False
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
                        outcome = await outcome
                    if outcome is False:
                        refused = True
                        await self._drop_dial_peer()
            try:
                result = await dial
            except ResultLost:
                lost, result = True, None
            if result is not None and result.hung_up and self._redirecting is not None:
                raise CallInterrupted("Dial")
        except CallerHungUp:
            self.log.info("call.dial_ended", target=target, hangup_by="caller", answered=answered_evt.is_set(),
                          talk_s=self.talk_s())
            raise
        finally:
            self._dial_answered = None
            if not self.hung_up:
                self.phase = phase_before
            if not dial.done():
                dial.cancel()
                await asyncio.gather(dial, return_exceptions=True)
        # After result=-1 the caller may still be there (the agent hung up) or not: asking
        # for DIALSTATUS tells, since a command on a gone channel fails with CallerHungUp.
        if self._peer_left and answered_evt.is_set() and result is not None and result.hung_up:
            # the engine cut the agent's leg itself (a transfer): the Dial was answered, and
            # the next command finds out soon enough whether the caller is still there
            status = "ANSWER"
        else:
            status = (await self.get_var("DIALSTATUS")) or "CHANUNAVAIL"
        talk = self.talk_s() if status == "ANSWER" else 0.0
        self.log.info("call.dial_ended", target=target, status=status, talk_s=round(talk, 2),
                      result_lost=lost or None)
        hung_up = result is not None and result.hung_up
        if refused:
            return DialResult(status=status, refused=True)
        return DialResult(status=status, answered_s=talk,
                          hangup_by="agent" if status == "ANSWER" and hung_up else "")

    async def _drop_dial_peer(self) -> None:
        """Hang up the far end of the running Dial; the caller stays (Dial returns)."""
        peer = self.dial_peer
        self.log.warning("call.dial_answer_refused", peer=peer)
        if peer:
            await self._hangup_peer(peer)

    async def _hangup_peer(self, peer: str) -> None:
        try:
            await self.link.action("Hangup", {"Channel": peer, "Cause": "16"})
        except Exception as exc:  # gone already, or the link is down: its own hang-up ends it
            self.log.debug("call.dial_peer_hangup_failed", peer=peer, error=str(exc))

    async def record_to(self, path: str) -> bool:
        """Record the conversations from now on: ``EXEC MixMonitor PATH,b`` (bridged audio only).

        From AGI, not by the AMI action: that one needs the ``system`` class, which also
        lets a client run shell commands, and the engine's AMI user does not have it.
        """
        try:
            result = await self.run(cmd.exec_app("MixMonitor", path, "b"))
        except ResultLost:
            self.log.warning("call.recording_failed", error="no answer to EXEC MixMonitor")
            return False
        if not result.ok:
            self.log.warning("call.recording_failed", error=result.raw.strip())
            return False
        self.log.info("call.recording")
        return True

    async def ring_into_bridge(self, phone: str, options: str) -> bool:
        """Ring ``phone`` (a supervisor) into ChanSpy on the agent's leg of the running Dial."""
        peer = self.dial_peer
        if not peer:
            return False
        try:
            await self.link.action("Originate", {"Channel": phone, "Application": "ChanSpy",
                                                 "Data": f"{peer},{options}", "Async": "true"})
        except Exception as exc:    # refused, or the link is down: the conversation goes on
            self.log.warning("call.spy_failed", phone=phone, error=str(exc))
            return False
        self.log.info("call.spy", phone=phone, options=options)
        return True

    async def leave_dial(self) -> None:
        """The agent leaves the conversation (a transfer): their leg is hung up, the running
        Dial answers -1 and the caller stays in AGI (../shared/ami-captures/transfers.md, c)."""
        peer = self.dial_peer
        self.log.info("call.dial_peer_leaves", peer=peer)
        if peer:
            self._peer_left = True
            await self._hangup_peer(peer)

    def talk_s(self) -> float:
        """Seconds since the far end answered, by the engine's clock (0 when it did not)."""
        if self.dial_answered_at is None:
            return 0.0
        return max(0.0, (self.ended_at or time.time()) - self.dial_answered_at)

    async def music_on_hold(self, seconds: float | None = None, *, moh_class: str = "default") -> None:
        args = [moh_class] + ([str(max(1, int(round(seconds))))] if seconds else [])
        try:
            await self.run(cmd.exec_app("MusicOnHold", *args), expect_s=seconds or 3600.0)
        except ResultLost:
            return   # the chunk is over one way or the other

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
        await self.redirect()
        # Commands still waiting belonged to the old AGI session: they will never run.
        self._fail_pending(CallInterrupted("redirected"))
        self.log.info("call.interrupted", agi_sessions=self.agi_sessions)

    async def hangup(self) -> None:
        if self.hung_up:
            return
        if self.outstanding:
            # A command still runs (a Dial, hold music): an AGI HANGUP would wait behind it.
            await self._hangup_by_ami()
            self.hung_up = True
            return
        try:
            await self.run(cmd.hangup())
        except CallerHungUp:
            pass
        except ResultLost:
            await self._hangup_by_ami()
        self.hung_up = True

    async def _hangup_by_ami(self) -> None:
        try:
            await self.link.action("Hangup", {"Channel": self.channel, "Cause": "16"})
        except Exception as exc:  # gone already, or the link is down: the dialplan ends it
            self.log.debug("call.hangup_by_ami_failed", error=str(exc))

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


def _digit(result: str | None) -> str | None:
    try:
        code = int(result or "")
    except ValueError:
        return None
    return chr(code) if code > 0 else None
