"""Keep a caller on hold until something is ready, then take them off it at once.

Hold music (and the announcements between its chunks) run as AGI commands; when
the awaited thing (a free agent, an ACD offer) arrives first, the call is
interrupted with a Redirect back into AGI, so the next command (the Dial) starts
without waiting for the music or the announcement to run out.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar, Union

from ivr.agi.interface import CallControl, CallInterrupted

T = TypeVar("T")


async def hold_until(call: CallControl, ready: Awaitable[T], *, moh_class: str = "default",
                     chunk_s: Union[float, Callable[[], float]] = 60.0,
                     between: Callable[[], Awaitable[object]] | None = None, between_first: bool = False,
                     ready_within_s: float = 0.0) -> T:
    """Hold music until ``ready`` completes; return its result.

    ``between``, if given, is played after each chunk of music (e.g. the caller's
    place in the queue), and is cut short the same way; with ``between_first`` it
    also comes before the first chunk (a caller who must wait long hears so at once).
    ``chunk_s`` may be a callable, asked before each chunk (the next announcement may
    be due sooner than a whole period).  An exception ``between`` raises other than
    CallInterrupted ends the hold.  If the caller hangs up first, ``ready`` is
    cancelled and CallerHungUp propagates.

    ``ready_within_s``: wait that long before the first music starts.  When an agent is free
    as the caller joins the line, the offer arrives within milliseconds, and the Dial is
    then the next AGI command: no music started only to be cut off by a Redirect (which
    Asterisk's AsyncAGI picks up on a later frame or its ~100 ms poll).
    """
    ready_fut = asyncio.ensure_future(ready)
    hold: asyncio.Future | None = None
    length = chunk_s if callable(chunk_s) else (lambda: chunk_s)
    steps = [lambda: call.music_on_hold(length(), moh_class=moh_class)]
    if between is not None:
        steps.append(between)
    turn = 1 if between is not None and between_first else 0
    try:
        if ready_within_s > 0 and turn == 0:
            await asyncio.wait({ready_fut}, timeout=ready_within_s)
        while not ready_fut.done():
            hold = asyncio.ensure_future(steps[turn % len(steps)]())
            turn += 1
            await asyncio.wait({ready_fut, hold}, return_when=asyncio.FIRST_COMPLETED)
            if hold.done():
                done, hold = hold, None
                done.result()  # raises CallerHungUp when the caller left; else it ran out
                continue
            # Ready first: stop the music now, not when the chunk ends.
            await call.interrupt()
            done, hold = hold, None
            try:
                await done
            except CallInterrupted:
                pass
        return ready_fut.result()
    finally:
        if hold is not None:  # left early (an error or cancellation): never orphan the music task
            hold.cancel()
            await asyncio.gather(hold, return_exceptions=True)
        if not ready_fut.done():
            ready_fut.cancel()
