"""Supervisor listening: the ``ChanSpy`` application on an originated supervisor's phone.

The engine (or a supervisor's console) sends ``Originate Channel=Local/9001@supervisor
Application=ChanSpy Data=<spyee>,qE`` (``qEw`` whisper, ``qEB`` barge).  As recorded
(capture ``xfer-f-chanspy``, ``transfers.md`` f):

- the supervisor's phone (``;2``, the ``supervisor`` context) answers; the ``;1`` leg
  runs ChanSpy, which finds its spyee ~0.1 s later and emits ``ChanSpyStart`` with the
  ``Spyer*`` (the ``;1`` leg) and ``Spyee*`` channel headers (class ``call``);
- the first argument is a channel-name *prefix*: ``Local/1101@agents-moh`` matches both
  halves of the agent's Local pair.  The real one picked ``;1`` in one run and ``;2`` in
  another; this PBX picks the exact name if given, else the bridged channel, else the
  oldest match.  With no match it looks again every second, as ChanSpy keeps scanning;
- AMI Hangup of the spyer's ``;1`` gives ``ChanSpyStop`` and then the pair's hang-up;
- with ``E`` the spyee's hang-up ends every spy on it: ``ChanSpyStop`` and the spyer's
  hang-up.  Without ``E`` the spyer goes back to scanning;
- without media through the spyee (``media: applications`` and nothing playing, capture
  ``xfer-f-chanspy-no-media``) a hung-up spyer does not go: ChanSpy waits for its
  audiohook to detach, which needs a frame.  The Hangup answers Success, then nothing
  until the spyee hangs up.  (Audio starting later does not release it here.)

Whisper and barge change only what is heard, which this PBX does not carry: they are
kept on the :class:`Spy` (``mode``) and behave as listening otherwise.
"""

from __future__ import annotations

from hotline import log

from . import events as ev
from .channels import Channel, Watcher
from .monitor import media_through

_log = log.get(__name__)

#: Seconds from the application's start to ChanSpyStart (recorded 0.10-0.11 s).
FIRST_LOOK_S = 0.1
#: Seconds between two scans while no channel matches.
SCAN_EVERY_S = 1.0


class Spy(Watcher):
    """One ChanSpy: its spyer (the supervisor's ``;1``) and, once found, its spyee."""

    def __init__(self, pbx, spyer: Channel, spec: str, options: str):
        self.pbx = pbx
        self.spyer = spyer
        self.spec = spec.strip()
        self.options = options
        self.exit_with_spyee = "E" in options
        self.mode = "barge" if "B" in options else "whisper" if "w" in options else "listen"
        self.spyee: Channel | None = None
        self.held = False            # the spyer was hung up; ChanSpy waits for a frame
        self.stopped = False

    # -- finding the spyee -----------------------------------------------------------------
    def look(self) -> None:
        if self.stopped or self.spyer.gone:
            return
        spyee = self._match()
        if spyee is None:
            self.pbx.later(SCAN_EVERY_S, self.look)
            return
        self.spyee = spyee
        spyee.watchers.append(self)
        self._event("ChanSpyStart")
        _log.debug("pbx.chanspy_start", spyer=self.spyer.name, spyee=spyee.name, mode=self.mode)

    def _match(self) -> Channel | None:
        found = [c for c in self.pbx.channels.values()
                 if c is not self.spyer and c is not self.spyer.peer and not c.gone
                 and c.name.startswith(self.spec) and not any(isinstance(w, Spy) and w.spyer is c for w in c.watchers)]
        if not found:
            return None
        exact = [c for c in found if c.name == self.spec]
        bridged = [c for c in found if c.bridge is not None]
        return (exact or bridged or found)[0]

    def _event(self, name: str) -> None:
        if self.pbx.wants(ev.CALL):
            self.pbx.emit(ev.CALL, name, ev.channel_block(self.spyer, "Spyer") + ev.channel_block(self.spyee, "Spyee"))

    # -- the end -----------------------------------------------------------------------------
    def _stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.spyee is not None:
            self._event("ChanSpyStop")
            if self in self.spyee.watchers:
                self.spyee.watchers.remove(self)

    def holds_hangup(self, ch: Channel) -> bool:
        if ch is not self.spyer or self.stopped:
            return False
        if self.spyee is not None and not self.spyee.gone and not media_through(self.pbx, self.spyee):
            self.held = True
            _log.debug("pbx.chanspy_waits_for_a_frame", spyer=ch.name, spyee=self.spyee.name)
            return True
        self._stop()             # ChanSpyStop comes before the pair's hang-up events
        return False

    def gone(self, ch: Channel) -> None:
        if ch is self.spyer:
            self._stop()
            return
        if ch is not self.spyee or self.stopped:
            return
        if self.exit_with_spyee or self.held:
            self._stop()
            # The spyer's hang-up follows the spyee's own events, as recorded.
            self.pbx.later(0, self._hang_up_spyer)
            return
        self._event("ChanSpyStop")
        ch.watchers.remove(self)
        self.spyee = None
        self.pbx.later(SCAN_EVERY_S, self.look)

    def _hang_up_spyer(self) -> None:
        if not self.spyer.gone:
            self.pbx.hangup(self.spyer, by="dialplan")


def spies_on(ch: Channel) -> list[Spy]:
    """The spies listening to ``ch``."""
    return [w for w in ch.watchers if isinstance(w, Spy) and w.spyee is ch]


def start_chanspy(pbx, spyer: Channel, data: str) -> Spy:
    """Run ``ChanSpy(data)`` on an answered leg (an Originate's ``Application``)."""
    spec, _, options = data.partition(",")
    spy = Spy(pbx, spyer, spec, options)
    spyer.watchers.append(spy)
    pbx.later(FIRST_LOOK_S, spy.look)
    return spy
