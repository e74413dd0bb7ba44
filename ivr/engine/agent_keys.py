"""Feature codes an agent on a plain phone keys in during the conversation: ``#1`` 12366 ``#``.

The engine reads the agent's keys from the DTMFEnd events of the agent's leg (the
channel in the bridge with the caller, Direction=Received) and asks the ACD for
the transfer, as the console would.  Asterisk's own in-call features (Dial option
``T``, features.conf ``blindxfer``) are not used: they send the caller to a
dialplan context and end the caller's AsyncAGI (../shared/ami-captures/transfers.md,
g), and they need the ``pbx-transfer`` sound installed.  The digits still reach
the caller, as any key pressed in a bridge does.

Plain state machine, no I/O: feed it digits, it answers a completed code.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The keys that start a code, per transfer kind, and the key that ends the target.
DEFAULT_STARTS = {"#1": "blind"}
DEFAULT_END = "#"
#: A target is at most this many digits (numbers are 3 to 20; queue codes 1 or 2).
MAX_TARGET = 20


@dataclass(frozen=True, slots=True)
class AgentCode:
    kind: str        # blind
    target: str      # the digits keyed: a queue's code or a number (acd.transfers.resolve_target)


class AgentKeys:
    """Collects an agent's keys; :meth:`feed` returns an AgentCode when one is complete.

    Keys before a start sequence are ignored (an agent pressing keys for the caller's
    benefit); a start sequence while a target is being keyed starts over.
    """

    def __init__(self, starts: dict[str, str] | None = None, end: str = DEFAULT_END):
        self.starts = dict(starts or DEFAULT_STARTS)
        self.end = end
        self._keys = ""          # the recent keys, while no start sequence is complete
        self._kind: str | None = None
        self._target = ""

    def feed(self, digit: str) -> AgentCode | None:
        if self._kind is not None:
            if digit == self.end and self._target:
                code = AgentCode(self._kind, self._target)
                self._kind, self._target = None, ""
                return code
            if digit.isdigit():
                if len(self._target) < MAX_TARGET:     # beyond it, keys are ignored
                    self._target += digit
                return None
            self._kind, self._target, self._keys = None, "", ""   # anything else: the code is dropped
        self._keys = (self._keys + digit)[-max(len(s) for s in self.starts):]
        for start, kind in self.starts.items():
            if self._keys.endswith(start):
                self._kind, self._target, self._keys = kind, "", ""
                break
        return None
