"""What went wrong in Redis, in Redis's own words, and whether waiting will fix it.

Two kinds of failure matter to the ACD.  A *server condition* (out of memory under
``noeviction``, still loading its data set, a script running too long, a replica
that lost its master or is read-only, a lost connection, no answer in time) passes
by itself: :class:`StoreUnavailable`, retried.  Anything else from a script or a
command is a bug or corrupt data that no retry will mend: :class:`StoreScriptError`,
logged with the script's name and Redis's text.  Either way the reason is kept.

asyncio-redis 0.16 turns every EVALSHA error into a bare ``ScriptKilledError``; the
Redis text survives as the exception's ``__context__``, which is where it is read.
"""

from __future__ import annotations

import re
import time

import asyncio_redis
from asyncio_redis.exceptions import ConnectionLostError, NoAvailableConnectionsInPoolError, NotConnectedError

from acd.model import StoreError, StoreScriptError, StoreUnavailable

#: Errors that mean "the link is gone", not "Redis said no".
LINK_DOWN = (ConnectionLostError, NotConnectedError, NoAvailableConnectionsInPoolError, OSError, EOFError)

#: Redis error codes of conditions that clear without us (redis.io/docs/reference/...: each
#: is the first word of the error line; in a script on Redis 6 it follows ``-``).
TRANSIENT_CODES = ("OOM", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN",
                   "NOREPLICAS", "MISCONF", "NOAUTH", "WRONGPASS")
_TRANSIENT = re.compile(r"(?:^|-)(%s)\b" % "|".join(TRANSIENT_CODES))
_CLIENTS = "max number of clients reached"


class ScriptMissing(StoreUnavailable):
    """NOSCRIPT: Redis restarted and forgot the scripts; load them again and retry."""


def redis_text(exc: BaseException) -> str:
    """Redis's own error line, wherever asyncio-redis put it."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 4:
        if isinstance(cur, asyncio_redis.exceptions.ErrorReply):
            return str(cur.args[0] if cur.args else cur).strip()
        cur = cur.__context__ or cur.__cause__
        seen += 1
    return str(exc).strip() or type(exc).__name__


def is_transient(text: str) -> bool:
    head = text.lstrip("-")
    return bool(_TRANSIENT.search(head[:200])) or _CLIENTS in head


def classify(exc: BaseException, op: str, address: str) -> StoreError:
    """The store error to raise for ``exc`` met while running ``op`` on Redis at ``address``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, LINK_DOWN):
        detail = str(exc).strip()
        reason = type(exc).__name__ + (f": {detail}" if detail and detail != "None" else "")
        return StoreUnavailable(f"Redis at {address}: {op}: {reason}", op=op, reason=reason)
    text = redis_text(exc)
    if text.startswith("NOSCRIPT"):
        return ScriptMissing(f"Redis at {address}: {op}: {text}", op=op, reason=text)
    if is_transient(text):
        return StoreUnavailable(f"Redis at {address}: {op}: {text}", op=op, reason=text)
    return StoreScriptError(f"Redis at {address}: {op} failed: {text}", op=op, reason=text)


class SlowCalls:
    """Logs Redis calls slower than a threshold, at most one line per operation a second.

    A stall delays every call in flight at once; one line per call would bury the
    log, so the others are counted into the next line (``more``).
    """

    def __init__(self, log, threshold_s: float) -> None:
        self.log = log
        self.threshold_s = threshold_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self.count = 0
        self.worst_s = 0.0

    def note(self, op: str, duration_s: float, *, answered: bool = True) -> None:
        if duration_s < self.threshold_s:
            return
        self.count += 1
        self.worst_s = max(self.worst_s, duration_s)
        now = time.monotonic()
        if now - self._last.get(op, -1e9) < 1.0:
            self._held[op] = self._held.get(op, 0) + 1
            return
        self._last[op] = now
        more = self._held.pop(op, 0)
        self.log.warning("acd.store_slow", op=op, duration_s=round(duration_s, 3),
                         threshold_s=self.threshold_s, answered=answered, **({"more": more} if more else {}))
