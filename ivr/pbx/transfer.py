"""The AMI transfer actions on a Dial's bridge: ``BlindTransfer`` and ``Atxfer``.

Both act on the two-party bridge an AGI ``EXEC Dial`` made between the caller's
channel (C2) and the agent's leg (A1), and answer with the texts the recorded
Asterisk sent (captures ``xfer-a-*``, ``xfer-b-*``; ``transfers.md``).  Both
actions are of manager class ``call`` (manager.c registers them with
EVENT_FLAG_CALL), as is the ``BlindTransfer`` event.

BlindTransfer moves the *other* channel of the bridge (the transferee) to the
target, as bridge_basic.c does with an async goto:

- transferer A1: C2 goes to the target at once (its events already show the new
  context), its Dial answers ``200 result=0`` and AsyncAGI ends; the agent's legs
  hang up.  To ``s@hotline-resume`` C2 re-enters AsyncAGI (a new AsyncAGIStart).
- transferer C2: the agent's leg A1 runs the target's dialplan itself; C2 leaves
  the bridge, its Dial answers ``200 result=-1`` and the AGI session goes on.
- a channel in no bridge (the agent's phone A2, the caller's phone C1):
  ``Transfer invalid`` and a ``BlindTransfer Result: Invalid`` event.

Atxfer only queues the DTMF of features.conf's ``atxfer`` (``*2``) and the digits
on the channel's read side.  Without Dial option ``t`` the bridge passes them to
the other side as plain keys (``xfer-b-atxfer-no-t``); with ``t`` but without the
``pbx-transfer`` sound the transfer aborts at once (Hold/Unhold, hold music on and
off for the caller) and the digits leak to the caller (``xfer-b-atxfer-missing-sound``).
The consultation call itself (``t`` and the sound present) is not modelled.
"""

from __future__ import annotations

from hotline import log
from ivr.ami.protocol import Message

from . import events as ev
from .channels import DIAL, Channel, Target

_log = log.get(__name__)

#: features.conf ``atxfer`` of the recorded Asterisk (asterisk-config/xfer-features.conf).
ATXFER_CODE = "*2"
#: Seconds between two digits Atxfer queues (recorded: 160 ms apart).
ATXFER_DIGIT_GAP_S = 0.16
#: How long the bridge plays a key it passes on (DTMFEnd DurationMs on the other side).
PASSED_KEY_MS = 100


class TransferActions:
    """Mixed into :class:`ivr.pbx.session.Session`."""

    def _transfer_args(self, m: Message) -> tuple[Channel, str, str] | None:
        name, exten = m.get("Channel") or "", m.get("Exten") or ""
        if not name:
            self.error(m, "No channel specified")
            return None
        if not exten:
            self.error(m, "No extension specified")
            return None
        ch = self.pbx.find(name)
        if ch is None or ch.gone:
            self.error(m, "Channel specified does not exist")
            return None
        return ch, exten, m.get("Context") or ch.context

    async def do_blindtransfer(self, m: Message) -> None:
        args = self._transfer_args(m)
        if args is None:
            return
        ch, exten, context = args
        pbx = self.pbx
        bridge = ch.bridge
        others = [c for c in bridge.members if c is not ch and not c.gone] if bridge is not None else []
        tail = [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
        if len(others) != 1:
            self.error(m, "Transfer invalid")
            pbx.emit(ev.CALL, "BlindTransfer", [("Result", "Invalid")] + ev.channel_block(ch, "Transferer") + tail)
            return
        (other,) = others
        self.ack(m, "Transfer succeeded")
        # The event shows both channels as they were before the move.
        event = ([("Result", "Success")] + ev.channel_block(ch, "Transferer") + ev.channel_block(other, "Transferee")
                 + ev.bridge_block(bridge) + tail)
        pbx.chan_event(ev.CALL, "Unhold", ch)
        pbx.varset(other, "BLINDTRANSFER", ch.name)
        pbx.varset(ch, "BLINDTRANSFER", other.name)
        target = Target(context, exten, 1)
        if other.owner is not None:           # the agent's leg: it leaves the Dial and runs the target
            other.context, other.exten, other.priority = context, exten, 1
            pbx.emit(ev.CALL, "BlindTransfer", event)
            other.owner.signal(DIAL, ("transferred", other))
        else:                                 # the caller's channel: an async goto out of its Dial
            other.context, other.exten, other.priority = context, exten, 1
            pbx.newexten(other, other.app or "Dial", other.appdata)
            pbx.emit(ev.CALL, "BlindTransfer", event)
            pbx.redirect(other, target)

    async def do_atxfer(self, m: Message) -> None:
        args = self._transfer_args(m)
        if args is None:
            return
        ch, exten, _context = args
        self.ack(m, "Atxfer successfully queued")
        bridge = ch.bridge
        options = bridge.dial_options if bridge is not None else ""
        digits = ATXFER_CODE + exten
        if "t" not in options:                 # no transfer rights: the keys go through
            self._queue_keys(ch, digits, 0)
            return
        self._queue_keys(ch, ATXFER_CODE, 0, pass_on=False)
        if self.pbx.sound_seconds("pbx-transfer", ch.language) is not None:
            _log.warning("pbx.atxfer_not_modelled", channel=ch.name, exten=exten)
            return
        after = len(ATXFER_CODE) * ATXFER_DIGIT_GAP_S - ATXFER_DIGIT_GAP_S / 2
        self.pbx.later(after, self._aborted_transfer, ch)
        self._queue_keys(ch, exten, len(ATXFER_CODE))

    def _queue_keys(self, ch: Channel, digits: str, first: int, pass_on: bool = True) -> None:
        for n, digit in enumerate(digits):
            self.pbx.later((first + n) * ATXFER_DIGIT_GAP_S, self._queued_key, ch, digit, pass_on)

    def _queued_key(self, ch: Channel, digit: str, pass_on: bool) -> None:
        """A DTMF END frame queued on the read side: no DTMFBegin, DurationMs 0."""
        if ch.gone:
            return
        pbx = self.pbx
        pbx.chan_event(ev.DTMF, "DTMFEnd", ch, [("Digit", digit), ("DurationMs", 0), ("Direction", "Received")])
        if pass_on:
            pbx.pass_dtmf(ch, digit, PASSED_KEY_MS)

    def _aborted_transfer(self, ch: Channel) -> None:
        """features: the transfer prompt is missing, so the attended transfer ends at once."""
        if ch.gone or ch.bridge is None:
            return
        pbx = self.pbx
        held = [c for c in ch.bridge.members if c is not ch and not c.gone]
        pbx.chan_event(ev.CALL, "Hold", ch)
        for other in held:
            pbx.chan_event(ev.CALL, "MusicOnHoldStart", other, [("Class", "default")])
        pbx.chan_event(ev.CALL, "Unhold", ch)
        for other in held:
            pbx.chan_event(ev.CALL, "MusicOnHoldStop", other)
