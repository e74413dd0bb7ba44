"""The one backoff of the project: how long to wait before trying a lost peer again."""

from __future__ import annotations

import asyncio
import random


def backoff_delay(attempt: int, initial: float, maximum: float, jitter: float) -> float:
    """Delay before retry attempt ``attempt`` (0 for the first).

    The ceiling doubles each attempt up to ``maximum``; ``jitter`` in [0, 1)
    picks a point in the upper half of it, so a hundred engines that lost the
    same PBX do not all knock at the same instant, yet the delay still grows.
    """
    ceiling = min(maximum, initial * float(2 ** min(max(attempt, 0), 60)))
    return ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))




async def pause_before_retry(attempt: int, initial: float, maximum: float) -> None:
    """Sleep :func:`backoff_delay` with a fresh jitter, for a loop that retries for ever."""
    await asyncio.sleep(backoff_delay(attempt, initial, maximum, random.random()))
