"""One channel under AsyncAGI: commands out, results back, and a deadline on every wait.

Asterisk queues each ``Action: AGI`` command and reports its result later as an
``AsyncAGIExec`` event carrying our ``CommandId``.  The engine feeds this object
every event of its channel, in arrival order, from the link's reader.

Nothing here waits without a deadline.  Each command's deadline comes from what
it asked for (a prompt's length, a dial timeout, a chunk of hold music) plus
slack; when it passes with no news, the channel asks the PBX (:meth:`_check`):
gone → the caller left; bridged → a conversation, carry on; still in AGI → a
``NOOP`` queued behind the command answers first if the command's result was
lost (the AGI queue runs in order), so the command counts as finished-unknown
(:class:`ResultLost`); nothing answers at all → re-drive the channel into a
fresh AGI session, or hang it up with a logged reason.  An AMI outage is the
same story: the command waits for the link, then the check settles it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable

from hotline import log as logmod
from ivr.agi import commands as cmd
from ivr.agi.caller_data import CallerData
from ivr.agi.interface import AgiError, CallerHungUp, CallInterrupted, EngineStopping, PromptMissing, ResultLost
from ivr.ami.agi_result import AgiResult, decode_exec_result
from ivr.ami.errors import AmiActionError, AmiConnectionLost, AmiError, AmiTimeout
from ivr.ami.protocol import Message

_ids = itertools.count(1)

#: Commands whose ``result=-1`` may mean a missing sound file rather than a hang-up.
SOUND_COMMANDS = ("STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "EXEC Playback")


@dataclass
class Deadlines:
    """How long to wait before asking the PBX; ``scale`` turns PBX seconds into wall seconds."""

    slack_s: float = 5.0         # on top of what a command asked for (Asterisk polls its AGI queue)
    probe_s: float = 10.0        # for the NOOP (or Status) that asks whether a command is over
    talking_check_s: float = 30.0  # how often a bridged Dial is checked while it lasts
    link_wait_s: float = 300.0   # how long a call waits for a lost AMI link to come back
    redirect_s: float = 10.0     # for a Redirect to land (a new AsyncAGIStart)
    overrun_checks: int = 3      # checks of an application still running before re-driving
    scale: float = 1.0

    def for_command(self, expect_s: float) -> float:
        return max(expect_s, 0.0) * self.scale + self.slack_s


@dataclass
class ResumeTarget:
    """Where a Redirect sends the channel: a dialplan line running AGI(agi:async)."""

    context: str = "hotline-resume"
    exten: str = "s"
    priority: str = "1"


@dataclass(slots=True)
class Step:
    """One line of a call's story: what was asked, what came back, how long it took."""

    command: str
    started: float
    ended: float = 0.0
    result: str = ""


class AgiChannel:
    def __init__(self, link: Any, data: CallerData, *, resume: ResumeTarget | None = None,
                 deadlines: Deadlines | None = None):
        self.link = link
        self.data = data
        self.call_id, self.channel, self.linkedid = data.call_id, data.channel, data.linkedid
        self.caller, self.caller_name = data.caller, data.caller_name
        self.dialled, self.language = data.dialled, data.language
        self.resume = resume or ResumeTarget()
        self.deadlines = deadlines or Deadlines()
        self.log = logmod.get("ivr.call", call_id=self.call_id, channel=self.channel)
        self.steps: list[Step] = []
        self.hung_up = False
        self.hangup_cause = ""
        self.agi_sessions = 1
        self.started = time.monotonic()
        #: Set by the engine when this node stops: no new command is sent.
        self.stopping = False
        #: Where the call is, for a stopping node: ivr, queue (waiting for an agent), talk.
        self.phase = "ivr"
        self._pending: dict[str, asyncio.Future] = {}
        #: Commands sent whose result has not come: still queued or running in Asterisk, even
        #: when their waiter gave up (a cancelled Dial goes on until the bridge ends).
        self.outstanding: set[str] = set()
        self._redirecting: asyncio.Future | None = None
        self._agi_active = True
        self._waker: asyncio.Future | None = None   # wakes the wait for a result: now, not at its deadline
        self._started: asyncio.Event | None = None   # the command in flight left Asterisk's queue
        self._dial_answered: asyncio.Event | None = None
        self.dial_peer = ""       # the answered far end of the running Dial (DialEnd DestChannel)
        self._peer_left = False   # the engine hung that far end up itself (a transfer)
        #: Told each key the agent presses on the far end of the running Dial (ivr/engine/agent_keys.py).
        self.on_peer_key: Callable[[str], None] | None = None
        self.dial_answered_at: float | None = None   # engine clock (time.time) of DialEnd ANSWER
        self.ended_at: float | None = None            # set by close() when known
        #: Set when a result comes for a command this object did not send (another node's).
        self.foreign_result = asyncio.Event()

    # ------------------------------------------------------------------ events
    def feed(self, event: Message) -> None:
        """Take one event of this channel, in arrival order (called by the engine's router)."""
        name = event.event
        if name == "AsyncAGIExec":
            command_id = event.get("CommandId") or event.get("CommandID") or ""
            self.outstanding.discard(command_id)
            fut = self._pending.pop(command_id, None)
            if fut is not None and not fut.done():
                fut.set_result(event.get("Result", ""))
            elif fut is None:
                self.foreign_result.set()
        elif name == "AGIExecStart":
            if self._started is not None:
                self._started.set()
        elif name == "AsyncAGIEnd":
            # Queued commands survive the end of an AGI session (res_agi keeps the queue):
            # they run when the channel re-enters AGI, or fail with its Hangup.
            self._agi_active = False
        elif name == "AsyncAGIStart":
            self._agi_active = True
            self.agi_sessions += 1
            if self._redirecting is not None and not self._redirecting.done():
                self._redirecting.set_result(None)
        elif name == "DialEnd":
            if event.get("DialStatus") == "ANSWER":
                self.dial_peer = event.get("DestChannel") or self.dial_peer
                self._answered()
        elif name == "Hangup":
            self.hung_up = True
            self.hangup_cause = event.get("Cause-txt") or event.get("Cause") or ""
            self.outstanding.clear()
            self._fail_pending(CallerHungUp(f"hangup: {self.hangup_cause or 'no cause'}"))
            self._fail_redirect(CallerHungUp("hung up during redirect"))

    def peer_key(self, digit: str) -> None:
        if self.on_peer_key is not None and digit:
            self.on_peer_key(digit)

    def _answered(self) -> None:
        if self.dial_answered_at is None:
            self.dial_answered_at = time.time()
        self.phase = "talk"
        if self._dial_answered is not None:
            self._dial_answered.set()

    def close(self, reason: str, *, at: float | None = None) -> None:
        """The channel is gone without our seeing its Hangup (e.g. during an AMI outage).

        ``at`` is when it was last known alive (the moment the link dropped), so a
        conversation cut by a dying PBX is not counted as talking until now.
        """
        if not self.hung_up:
            self.log.info("call.closed_out", reason=reason)
            self.ended_at = at
        self.hung_up = True
        self.hangup_cause = self.hangup_cause or reason
        self._fail_pending(CallerHungUp(reason))
        self._fail_redirect(CallerHungUp(reason))

    def nudge(self) -> None:
        """Check the command in flight now rather than at its deadline (the link came back)."""
        _wake(self._waker)

    def _fail_redirect(self, exc: BaseException) -> None:
        fut = self._redirecting
        if fut is not None and not fut.done():
            fut.set_exception(exc)
            fut.exception()

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the waiter may already be gone

    # ---------------------------------------------------------------- commands
    async def run(self, line: str, *, expect_s: float = 0.0, allow_minus_one: bool = False) -> AgiResult:
        """Queue one AGI command and wait for its result, never past a checked deadline.

        ``expect_s`` is how long the command may rightly take in PBX seconds;
        ``allow_minus_one``: for ``EXEC Dial``, whose ``result=-1`` means the bridge
        ended (the agent hung up), not that the caller is gone.
        """
        if self.hung_up:
            raise CallerHungUp(self.hangup_cause or "caller gone")
        if self.stopping:
            raise EngineStopping(line)
        step = Step(line, time.monotonic())
        self.steps.append(step)
        self._started = asyncio.Event()
        try:
            raw = await self._command(line, expect_s, watch=True)
        finally:
            step.ended = time.monotonic()
        result = decode_exec_result(raw)
        step.result = result.raw.strip()
        self.log.debug("agi.step", command=line, result=step.result, ms=round((step.ended - step.started) * 1000, 1))
        if result.hung_up and not (allow_minus_one and result.code == 200):
            if self._redirecting is not None:
                raise CallInterrupted(line)
            await self._minus_one(line)
        if not result.ok and not (allow_minus_one and result.hung_up and result.code == 200):
            raise AgiError(f"{line!r}: {step.result}")
        return result

    async def _command(self, line: str, expect_s: float, *, watch: bool) -> str:
        command_id = f"{self.call_id}/{next(_ids)}"
        fut = asyncio.get_running_loop().create_future()
        self._pending[command_id] = fut
        self.outstanding.add(command_id)
        try:
            await self._send(line, command_id)
            if not watch:
                async with asyncio.timeout(self.deadlines.probe_s):
                    return await fut
            return await self._await_result(fut, line, self.deadlines.for_command(expect_s))
        finally:
            self._pending.pop(command_id, None)

    async def _send(self, line: str, command_id: str) -> None:
        await self._act("AGI", {"Channel": self.channel, "Command": line, "CommandID": command_id}, repr(line))

    async def _act(self, action: str, headers: dict, what: str) -> None:
        """Send an action about this channel once the link is up; an unsure send counts as sent.

        Only an action that certainly never left is sent again: one whose answer was lost
        may have run, and what became of it is settled by the deadline's check.
        """
        while True:
            try:
                await self.link.action(action, headers)
                return
            except AmiConnectionLost as exc:
                if exc.sent:
                    return
                await self._wait_for_link(what)
            except AmiTimeout:
                return
            except AmiActionError as exc:
                if _is_channel_gone(exc):
                    self.close("channel does not exist")
                    raise CallerHungUp("channel does not exist") from None
                raise AgiError(f"{what} refused: {exc}") from None

    async def _wait_for_link(self, what: str) -> None:
        if self.link.ready:
            return
        self.log.info("call.waiting_for_ami", command=what)
        if not await self.link.wait_connected(self.deadlines.link_wait_s):
            raise AgiError(f"AMI link down for {self.deadlines.link_wait_s:g} s during {what!r}")

    async def _await_result(self, fut: asyncio.Future, line: str, deadline: float) -> str:
        overruns = 0
        loop = asyncio.get_running_loop()
        while True:
            # One future woken by the result, the deadline or a nudge: no task per command.
            self._waker = waker = loop.create_future()
            fut.add_done_callback(lambda _f, w=waker: _wake(w))
            timer = loop.call_later(deadline, _wake, waker)
            try:
                await waker
            finally:
                timer.cancel()
                self._waker = None
            if fut.done():
                return fut.result()
            verdict = await self._check(fut, line, overruns)
            if verdict == "talking":
                overruns = 0
                deadline = self.deadlines.talking_check_s
            else:
                overruns += 1
                deadline = self.deadlines.slack_s

    async def _check(self, fut: asyncio.Future, line: str, overruns: int) -> str:
        """No news past the deadline: ask the PBX what became of the channel and the command."""
        await self._wait_for_link(line)
        status = await self._status()
        if fut.done():
            return "done"
        if status is None:
            return "unknown"        # the PBX did not answer in time: ask again later
        if not status:
            self.close("channel gone while its result was awaited")
            raise CallerHungUp("channel gone")
        app = (status.get("Application") or "").lower()
        if status.get("BridgeID") or status.get("BridgeId"):
            if line.startswith("EXEC Dial") and self.dial_answered_at is None:
                self.log.info("call.answer_seen_late", command=line)
                self._answered()
            return "talking"
        if app not in ("agi", "") and overruns < self.deadlines.overrun_checks:
            return "running"        # an application still runs (hold music, a ring): give it time
        if await self._probe(fut):
            raise ResultLost(f"result of {line!r} lost")
        if fut.done():
            return "done"
        if overruns + 1 < self.deadlines.overrun_checks:
            return "unknown"
        await self._redrive(line)
        raise ResultLost(f"{line!r} re-driven after no answer")

    async def _status(self) -> Message | dict | None:
        """The channel's Status item; ``{}`` when the channel is gone, None when unsure."""
        try:
            items = await self.link.action_list("Status", {"Channel": self.channel},
                                                timeout=self.deadlines.probe_s)
        except AmiActionError as exc:
            return {} if _is_channel_gone(exc) else None
        except AmiError:
            return None
        return next((m for m in items if m.event == "Status"), {})

    async def _probe(self, fut: asyncio.Future) -> bool:
        """Queue a NOOP behind the command: True once it answers while the command has not."""
        try:
            raw = await self._command(cmd.noop(), 0.0, watch=False)
        except TimeoutError:
            return False
        except AgiError:
            return False
        return not fut.done() and decode_exec_result(raw).code == 200

    async def _minus_one(self, line: str) -> None:
        """``result=-1``: the caller left, or (a missing sound file) the channel is still up."""
        if not self.hung_up:
            try:
                raw = await self._command(cmd.noop(), 0.0, watch=False)
                alive = decode_exec_result(raw).code == 200
            except CallerHungUp:
                alive = False
            except (TimeoutError, AgiError):
                alive = bool(await self._status())
            if alive:
                command = next((c for c in SOUND_COMMANDS if line.startswith(c)), "")
                if command:
                    sound = line[len(command):].split()[0] if line[len(command):].split() else ""
                    raise PromptMissing(sound.split(",")[0], command)
                raise AgiError(f"{line!r}: result=-1 with the channel still up")
        raise CallerHungUp(f"result=-1 on {line.split(' ', 1)[0]}")

    # ---------------------------------------------------------------- redirect
    async def redirect(self) -> None:
        """Send the channel back into AGI; a running command ends with CallInterrupted.

        Survives an AMI outage: a Redirect never sent goes out once the link is back; one
        whose fate is unknown is settled by the new AsyncAGIStart, or by the channel's
        Status when that event was lost.
        """
        if self.hung_up:
            raise CallerHungUp(self.hangup_cause or "caller gone")
        if self._redirecting is not None:
            await asyncio.shield(self._redirecting)
            return
        self._redirecting = asyncio.get_running_loop().create_future()
        try:
            for _attempt in range(3):
                await self._send_redirect()
                try:
                    await asyncio.wait_for(asyncio.shield(self._redirecting), self.deadlines.redirect_s)
                    return
                except TimeoutError:
                    pass
                status = await self._status()
                if status == {}:
                    self.close("channel gone during a Redirect")
                    raise CallerHungUp("channel gone")
                if status and (status.get("Application") or "").lower() == "agi":
                    # Back in AGI, its AsyncAGIStart lost in an outage: carry on in the new session.
                    self.log.info("call.redirect_landed_unseen")
                    self._agi_active = True
                    self.agi_sessions += 1
                    return
            raise AgiError(f"Redirect of {self.channel} did not land")
        finally:
            self._redirecting = None

    async def _send_redirect(self) -> None:
        await self._act("Redirect", {"Channel": self.channel, "Context": self.resume.context,
                                     "Exten": self.resume.exten, "Priority": self.resume.priority}, "Redirect")

    async def _redrive(self, line: str) -> None:
        """Nothing answers for this channel: a fresh AGI session, or hang it up with the reason."""
        self.log.warning("call.redrive", command=line)
        try:
            await self.redirect()
            return
        except CallerHungUp:
            raise
        except (AgiError, AmiError, TimeoutError) as exc:
            reason = f"no answer from the PBX for {line!r}; hung up ({type(exc).__name__})"
        try:
            await self.link.action("Hangup", {"Channel": self.channel, "Cause": "38"})
        except AmiError:
            pass
        self.log.error("call.given_up", reason=reason)
        self.close(reason)
        raise CallerHungUp(reason)


def _wake(waker: asyncio.Future | None) -> None:
    if waker is not None and not waker.done():
        waker.set_result(None)


def _is_channel_gone(exc: Exception) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "no such channel" in text
