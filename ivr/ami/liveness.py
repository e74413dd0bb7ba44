"""Is Asterisk there, and is it keeping up?

A saturated Asterisk answers a Ping late while it keeps sending events; taking
it for dead and dropping the connection cost hundreds of calls (issue 8). So
the link is judged by everything it hears: any message proves the peer alive,
and only a silence longer than the Ping deadline means it is gone.  The same
record of answer delays tells the engine when Asterisk is overloaded, so it can
shed new callers before it ever lets go of the ones it holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Awaitable, Callable


class Liveness:
    """The last time anything arrived, and how long recent actions waited for their answer."""

    def __init__(self, *, slow_s: float = 1.0, overload_s: float = 2.0, window_s: float = 10.0,
                 warn_every_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.slow_s = slow_s
        self.overload_s = overload_s
        self.window_s = window_s
        self.warn_every_s = warn_every_s
        self.clock = clock
        self.last_heard = clock()
        self._delays: deque[tuple[float, float]] = deque(maxlen=512)   # (answered at, seconds waited)
        self._warned_at = float("-inf")
        self.slow_answers = 0

    def heard(self) -> None:
        self.last_heard = self.clock()

    def silent_for(self) -> float:
        return self.clock() - self.last_heard

    def answered(self, waited_s: float) -> None:
        self._delays.append((self.clock(), waited_s))
        if waited_s >= self.slow_s:
            self.slow_answers += 1

    def recent(self) -> list[float]:
        since = self.clock() - self.window_s
        return sorted(d for t, d in self._delays if t >= since)

    def report(self) -> dict[str, float | int]:
        """Answer delays of the last ``window_s``: what a supervisor reads in the log."""
        delays = self.recent()
        if not delays:
            return {"samples": 0}
        return {"samples": len(delays), "p50_ms": round(_pick(delays, 0.5) * 1000, 1),
                "p90_ms": round(_pick(delays, 0.9) * 1000, 1), "max_ms": round(delays[-1] * 1000, 1)}

    @property
    def overloaded(self) -> bool:
        """Most recent answers took longer than ``overload_s``: Asterisk is not keeping up."""
        delays = self.recent()
        return len(delays) >= 5 and _pick(delays, 0.9) >= self.overload_s

    def warn_if_slow(self, log) -> None:
        """One warning per ``warn_every_s`` while answers are slow, with the measured delays."""
        delays = self.recent()
        if not delays or _pick(delays, 0.9) < self.slow_s:
            return
        now = self.clock()
        if now - self._warned_at < self.warn_every_s:
            return
        self._warned_at = now
        log.warning("ami.slow", overloaded=self.overloaded, **self.report())


async def keep_alive(liveness: Liveness, *, lost: asyncio.Event, interval_s: float, timeout_s: float,
                     ping: Callable[[float], Awaitable[None]], drop: Callable[[str], None], log) -> None:
    """Until ``lost`` is set: Ping after ``interval_s`` of silence; ``drop`` after ``timeout_s`` more.

    Nothing heard at all, not a late Pong, is what ends a connection: a slow
    answer while traffic flows is a busy peer.
    """
    pinging: asyncio.Future | None = None
    try:
        while not lost.is_set():
            silent = liveness.silent_for()
            limit = interval_s + timeout_s
            if silent >= limit:
                log.warning("ami peer silent; dropping the connection", silent_s=round(silent, 2),
                            ping_timeout_s=timeout_s, **liveness.report())
                drop(f"nothing heard for {silent:.1f} s, Ping included")
                return
            if silent >= interval_s and (pinging is None or pinging.done()):
                pinging = asyncio.ensure_future(ping(limit))
            liveness.warn_if_slow(log)
            wake = interval_s - silent if silent < interval_s else limit - silent
            try:
                async with asyncio.timeout(max(0.01, min(wake, interval_s))):
                    await lost.wait()
            except TimeoutError:
                pass
    finally:
        if pinging is not None and not pinging.done():
            pinging.cancel()


def _pick(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
