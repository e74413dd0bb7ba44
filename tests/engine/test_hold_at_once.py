"""An agent free as the caller joins the line: the Dial is the next AGI command, no music first.

Asterisk's AsyncAGI takes a queued command on the channel's next frame or its ~100 ms poll, so
music started only to be cut off by a Redirect costs the caller that delay before the agent's
phone even rings (measured beside app_queue on a real Asterisk: 0.21 s against 4-11 ms).
"""

from __future__ import annotations

import asyncio

from ivr.agi.interface import CallInterrupted
from ivr.engine.hold import hold_until


class Line:
    """The AGI commands a caller on hold is given, in order."""

    def __init__(self):
        self.commands: list[str] = []
        self._stop = asyncio.Event()

    async def music_on_hold(self, seconds, moh_class="default"):
        self.commands.append("MusicOnHold")
        await self._stop.wait()
        raise CallInterrupted()

    async def interrupt(self):
        self.commands.append("Redirect")
        self._stop.set()


async def offer_after(seconds: float, done: asyncio.Event | None = None):
    if done is not None:
        await done.wait()
    await asyncio.sleep(seconds)
    return "offer"


async def test_an_offer_made_at_once_is_dialled_with_no_music_before_it():
    line = Line()
    assert await hold_until(line, offer_after(0.001), ready_within_s=0.05) == "offer"
    assert line.commands == []


async def test_a_caller_who_must_wait_hears_music_and_is_taken_off_it_for_the_offer():
    line = Line()
    go = asyncio.Event()
    waiting = asyncio.ensure_future(hold_until(line, offer_after(0, go), ready_within_s=0.01))
    async def music_started():
        while "MusicOnHold" not in line.commands:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(music_started(), 5)         # the window passed with no offer: music
    go.set()
    assert await asyncio.wait_for(waiting, 5) == "offer"
    assert line.commands == ["MusicOnHold", "Redirect"]
