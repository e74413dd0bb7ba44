"""What the rest of the engine may ask of a live call.

The flow interpreter, the ACD glue and the demo program against this protocol,
not against AMI: the AsyncAGI implementation (``ivr.agi.call.AgiCall``) drives a
real channel, and ``ivr simulate`` drives a scripted caller with no PBX at all.

Every coroutine raises :class:`CallerHungUp` once the caller is gone, so a flow
never keeps talking to a dead channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol, Sequence

#: Dial outcomes as Asterisk reports them in ``${DIALSTATUS}``.
DIAL_STATUSES = ("ANSWER", "NOANSWER", "BUSY", "CHANUNAVAIL", "CONGESTION", "CANCEL", "DONTCALL", "TORTURE", "INVALIDARGS")


class CallerHungUp(Exception):
    """The caller's channel is gone (AGI ``result=-1``, AsyncAGIEnd or Hangup)."""


class CallInterrupted(Exception):
    """A running command was cut short by :meth:`CallControl.interrupt` (e.g. an agent became free)."""


class AgiError(Exception):
    """Asterisk refused an AGI command (5xx answer); the call itself goes on."""


class PromptMissing(AgiError):
    """A sound file is not on the PBX: ``result=-1`` with the caller still there.

    ``AgiCall.play`` and ``collect`` log it and skip the prompt, so the caller
    keeps moving toward a person instead of being hung up.
    """

    def __init__(self, sound: str, command: str = ""):
        super().__init__(f"sound file {sound!r} is missing on the PBX ({command or 'playback'})")
        self.sound = sound


class ResultLost(AgiError):
    """A command's result never came (lost in an AMI outage): it finished, how is unknown.

    The AGI queue runs commands in order, so once a later probe has answered,
    this command is over.  The call control methods turn it into the safe
    reading for each command (a prompt counts as played, no digits were pressed).
    """


class EngineStopping(Exception):
    """This node is stopping: the call is left in AGI for another node (or this one's successor)."""


@dataclass(slots=True)
class DialResult:
    status: str              # one of DIAL_STATUSES
    answered_s: float = 0.0  # seconds the bridge lasted, 0 when not answered
    hangup_by: str = ""      # "caller", "agent" or "" when not answered
    refused: bool = False    # answered, but on_answer refused it and the far end was hung up


class CallControl(Protocol):
    call_id: str        # Uniqueid of the channel running AsyncAGI
    channel: str        # channel name, e.g. Local/12345@hotline-in-00000000;2 or PJSIP/trunk-0000002a
    caller: str         # caller number (agi_callerid)
    caller_name: str
    dialled: str        # number dialled: agi_dnid, else agi_extension
    language: str

    async def answer(self) -> None: ...

    async def play(self, prompts: Sequence[str], *, interrupt_on: str = "") -> str | None:
        """Play sound files in order; return the digit that interrupted, or None."""

    async def collect(
        self,
        prompt: str | None,
        *,
        max_digits: int,
        timeout_s: float,
        inter_digit_timeout_s: float | None = None,
        terminator: str = "#",
    ) -> str:
        """Play ``prompt`` and collect up to ``max_digits``; '' on timeout."""

    async def wait_for_digit(self, timeout_s: float) -> str | None: ...

    async def set_var(self, name: str, value: str) -> None: ...

    async def get_var(self, name: str) -> str | None: ...

    async def dial(self, target: str, *, timeout_s: float, options: str = "",
                   on_answer: Callable[[], Awaitable[None] | None] | None = None) -> DialResult:
        """Dial an agent's endpoint or an outside number; block until the bridge ends or dialling fails.

        ``on_answer`` runs when the far end picks up, while the conversation goes on; if it
        returns False the answer is refused (the ACD has that agent on another call): the far
        end is hung up and the result says ``refused``, the caller still on the line.
        """

    async def record_to(self, path: str) -> bool:
        """Start recording the caller's conversations (bridged audio only) into ``path``."""

    async def ring_into_bridge(self, phone: str, options: str) -> bool:
        """Ring ``phone`` into ChanSpy (``options``) on the far end of the running Dial."""

    async def leave_dial(self) -> None:
        """Hang up the far end of the running Dial (the agent hands the caller on); the caller stays."""

    async def music_on_hold(self, seconds: float | None = None, *, moh_class: str = "default") -> None:
        """Hold music until ``seconds`` pass or :meth:`interrupt` is called (raises CallInterrupted then)."""

    async def interrupt(self) -> None:
        """Cut short the running command (Redirect back into AGI(agi:async))."""

    async def hangup(self) -> None: ...
