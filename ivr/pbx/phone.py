"""The dialled phone of a Dial: where the ;2 leg of ``Local/EXTEN@CONTEXT`` is in its dialplan.

Dial (:mod:`ivr.pbx.dial`) models the phone rather than running its dialplan step by
step, so the phone's events must still carry the recorded dialplan's priorities.
"""

from __future__ import annotations

from . import events as ev
from .channels import Channel
from .monitor import audio_started
from .variables import substitute


class PhoneSteps:
    """Where the dialled phone (the ;2 leg of ``Local/EXTEN@CONTEXT``) is in its dialplan.

    Dial models the phone rather than running its dialplan, but its Newexten and the
    Priority of every later event (HangupRequest, Hangup...) must be those of the recorded
    dialplan: ``Answer()`` is priority 5 of the xfer captures' ``[agents]``, after a NoOp
    and three GotoIfs.  Each step is the first step running that application after the
    previous one; a context without it keeps counting from where the phone is.
    """

    def __init__(self, pbx, local: tuple[str, str] | None):
        self.pbx = pbx
        self.steps = []
        if local is not None:
            ctx = pbx.config.dialplan.get(local[1])
            ext = ctx.find(local[0]) if ctx is not None else None
            self.steps = ext.steps if ext is not None else []

    def run(self, ch: Channel, app: str, default_data: str) -> None:
        start = ch.priority if ch.app else 0           # the priority running now (none yet: 0)
        for i in range(start, len(self.steps)):
            if self.steps[i].app == app:
                data = self.steps[i].data
                ch.priority = i + 1
                self.pbx.newexten(ch, app, substitute(ch, data, self.pbx.globals) if "$" in data else data)
                return
        ch.priority = start + 1 if ch.app else ch.priority
        self.pbx.newexten(ch, app, default_data)

    def next_app(self, ch: Channel) -> str:
        """The application of the step after the one the phone is at."""
        return self.steps[ch.priority].app if ch.priority < len(self.steps) else ""

    def hold_music(self, ch: Channel, bridge) -> None:
        """The phone's ``MusicOnHold()`` after its ``Answer()`` (``[agents-moh]``): the
        bridge carries audio from now on."""
        if ch.gone:
            return
        self.run(ch, "MusicOnHold", "default")
        ch.moh = True
        self.pbx.chan_event(ev.CALL, "MusicOnHoldStart", ch, [("Class", ch.appdata.split(",")[0] or "default")])
        audio_started(bridge)

    def hang_up(self, ch: Channel) -> None:
        """The phone's talk time is over: its dialplan's ``Hangup()`` runs (when it has one
        after the step it is at), then the phone hangs up."""
        if any(step.app == "Hangup" for step in self.steps[ch.priority:]):
            self.run(ch, "Hangup", "")
        self.pbx.hangup(ch, 16, "")
