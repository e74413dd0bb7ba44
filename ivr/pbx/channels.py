"""Channels and bridges, and the one way a channel waits for anything.

A channel that runs something (dialplan, an AGI command, a Dial) waits through
:meth:`Channel.wait`: one future and at most one timer, woken by a timeout, a
DTMF digit it accepts, a queued AGI command, a dial progress signal, or ended by
hang-up (:class:`Gone`) or Redirect (:class:`Redirected`).  No polling, so a
thousand idle channels cost nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


class Gone(Exception):
    """The channel was hung up while it waited."""


class Redirected(Exception):
    """A Redirect action moved the channel elsewhere while it waited."""


@dataclass(slots=True)
class Target:
    context: str
    exten: str
    priority: int = 1


# Signals a wait can accept.
DIGIT, AGI_CMD, DIAL = "digit", "agi", "dial"


class Channel:
    __slots__ = (
        "pbx", "name", "uniqueid", "linkedid", "state", "cid_num", "cid_name", "conn_num",
        "conn_name", "language", "context", "exten", "priority", "vars", "peer", "kind",
        "gone", "redirect", "hangupcause", "agi_queue", "in_agi", "task", "_bridge",
        "_wait", "_accept", "_timer", "run", "dnid", "moh", "device", "created",
        "answered_at", "agent", "hangup_by", "agi_store", "on_answer", "app_timer", "owner",
        "record", "app", "appdata", "watchers",
    )

    def __init__(self, pbx, name: str, uniqueid: str, linkedid: str, *, context: str, exten: str,
                 state: int = 0, kind: str = "local"):
        self.pbx = pbx
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.state = state
        self.cid_num = ""
        self.cid_name = ""
        self.conn_num = ""
        self.conn_name = ""
        self.language = "en"
        self.context = context
        self.exten = exten
        self.priority = 1
        self.vars: dict[str, str] = {}
        self.peer: Channel | None = None       # the other half of a Local pair
        self.kind = kind
        self.gone = False
        self.redirect: Target | None = None
        self.hangupcause = 0
        self.agi_queue: deque[tuple[str, str]] = deque()  # (command id, command text)
        self.in_agi = False
        self.task: asyncio.Task | None = None
        self._bridge = None
        self._wait: asyncio.Future | None = None
        self._accept: tuple = ()
        self._timer: asyncio.TimerHandle | None = None
        self.run = None          # the CallerRun of a scripted caller, on the channel running AGI
        self.dnid = "unknown"
        self.moh = False
        self.device = ""
        self.created = 0.0
        self.answered_at = None
        self.agent = None        # for an agent leg: its AgentBehaviour
        self.hangup_by = ""
        self.agi_store = False   # AsyncAGI ran here once: commands may be queued (res_agi's datastore)
        self.on_answer = None    # callback when a Local ;2 leg answers (the originate waits on it)
        self.app_timer = None    # the ;1 leg's Wait(N)
        self.owner = None        # for an agent leg: the channel whose Dial created it
        self.record = None       # the CallRecord this channel belongs to
        self.app = ""            # the application running now (CoreShowChannels, Status)
        self.appdata = ""
        self.watchers: list[Watcher] = []   # recordings and spies attached to this channel

    def __repr__(self) -> str:
        return f"<Channel {self.name} state={self.state}{' gone' if self.gone else ''}>"

    @property
    def bridge(self):
        return self._bridge

    @bridge.setter
    def bridge(self, new) -> None:
        """Entering or leaving a bridge is what a ``b`` recording counts (app_mixmonitor
        writes a frame only while ``ast_channel_is_bridged``), so watchers hear of it."""
        old, self._bridge = self._bridge, new
        if old is not new:
            for w in tuple(self.watchers):
                w.bridge_changed(self, old, new)

    # -- waiting -----------------------------------------------------------------------
    async def wait(self, seconds: float | None, accept: tuple = ()):
        """Wait up to ``seconds`` (PBX time, scaled by speed; None = forever).

        Returns None on timeout or ``(kind, value)`` for an accepted signal.
        """
        if self.gone:
            raise Gone()
        if self.redirect is not None:
            raise Redirected()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._wait = fut
        self._accept = accept
        if seconds is not None:
            self._timer = loop.call_later(max(seconds, 0.0) / self.pbx.speed, _timeout, fut)
        try:
            return await fut
        finally:
            self._wait = None
            self._accept = ()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def signal(self, kind: str, value=None) -> bool:
        """Wake the channel's wait if it accepts ``kind``; False when nobody took it."""
        fut = self._wait
        if fut is None or fut.done() or kind not in self._accept:
            return False
        fut.set_result((kind, value))
        return True

    def kill(self) -> None:
        """Mark hung up and end whatever wait is running with :class:`Gone`."""
        self.gone = True
        fut = self._wait
        if fut is not None and not fut.done():
            fut.set_exception(Gone())

    def move(self, target: Target) -> None:
        self.redirect = target
        fut = self._wait
        if fut is not None and not fut.done():
            fut.set_exception(Redirected())

    @property
    def waiting(self) -> bool:
        return self._wait is not None


def _timeout(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class Watcher:
    """Something attached to a channel that must hear of its bridge changes and its end
    (a MixMonitor recording, a ChanSpy), without the core knowing what it is."""

    def bridge_changed(self, ch: "Channel", old, new) -> None:
        pass

    def holds_hangup(self, ch: "Channel") -> bool:
        """True to swallow a hang-up request of ``ch`` for now (ChanSpy without media)."""
        return False

    def gone(self, ch: "Channel") -> None:
        pass


@dataclass(slots=True)
class Bridge:
    uniqueid: str
    members: list = field(default_factory=list)
    dial_options: str = ""      # the options of the Dial that made it (``t``: the agent may transfer)
    #: Loop time audio started to flow through the bridge (None: silent so far); see
    #: :mod:`ivr.pbx.monitor` for what counts as audio.
    audio_since: float | None = None
