"""Matching Asterisk's answers to the actions that asked for them, with no I/O.

Every action carries an ActionID of ours; a response (or, for an EventList
action such as CoreShowChannels, the events up to its ``...Complete``) carrying
that id settles the action's future.  Everything else Asterisk sends is an
event for the engine.  Keeping this apart from the socket lets the link's
tests and the replay tests drive it message by message.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from ivr.ami.errors import AmiActionError, AmiError
from ivr.ami.protocol import Message, encode

Headers = Mapping[str, object] | Iterable[tuple[str, object]] | None


@dataclass(slots=True)
class PendingAction:
    name: str
    action_id: str
    future: asyncio.Future
    #: None for a plain action; the collected items for an EventList action
    items: list[Message] | None = None
    started: bool = False
    sent_at: float = 0.0


class Correlator:
    """The actions waiting for an answer on one link, by ActionID."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingAction] = {}
        self._prefix = os.urandom(4).hex()
        self._next = 0
        self.unmatched = 0

    def __len__(self) -> int:
        return len(self.pending)

    def new(self, name: str, headers: Headers, *, listing: bool) -> tuple[PendingAction, bytes]:
        """Register an action and return it with its bytes; ProtocolError before anything is kept."""
        self._next += 1
        action_id = f"{self._prefix}-{self._next}"
        pairs: list[tuple[str, object]] = [("Action", name), ("ActionID", action_id)]
        if headers:
            given = headers.items() if isinstance(headers, Mapping) else headers
            pairs += [(k, v) for k, v in given if k.lower() not in ("actionid", "action")]
        data = encode(pairs)
        pending = PendingAction(name, action_id, asyncio.get_running_loop().create_future(),
                                [] if listing else None, sent_at=time.monotonic())
        self.pending[action_id] = pending
        return pending, data

    def forget(self, action_id: str) -> None:
        self.pending.pop(action_id, None)

    def fail_all(self, make_error: Callable[[PendingAction], AmiError]) -> None:
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(make_error(p))

    def take_event(self, msg: Message) -> bool:
        """True when ``msg`` is an item (or the end) of a pending EventList action."""
        if not self.pending:
            return False
        action_id = msg.action_id
        p = self.pending.get(action_id) if action_id else None
        if p is None or p.items is None:
            return False
        if (msg.event or "").endswith("Complete"):
            self.pending.pop(action_id, None)
            if not p.future.done():
                p.future.set_result(p.items)
        else:
            p.items.append(msg)
        return True

    def take_response(self, msg: Message) -> PendingAction | None:
        """Settle the action ``msg`` answers; returns it, or None when nobody waits for it."""
        action_id = msg.action_id
        p = self.pending.get(action_id) if action_id else None
        if p is None:
            self.unmatched += 1
            return None
        if p.future.done():
            return None
        response = msg.response or ""
        if response.lower() in ("error", "failure", "fail"):
            self.pending.pop(action_id, None)
            text = msg.get("Message") or f"{p.name} failed"
            p.future.set_exception(AmiActionError(text, action=p.name, response=msg))
        elif p.items is not None and (msg.get("EventList") or "").lower() == "start":
            p.started = True  # the items and the Complete event follow
        elif p.items is not None:
            self.pending.pop(action_id, None)
            p.future.set_result(p.items)
        else:
            self.pending.pop(action_id, None)
            p.future.set_result(msg)
        return p
