"""What went wrong in Redis, in Redis's own words, and whether waiting will fix it.

Two kinds of failure matter to the ACD.  A *server condition* (out of memory under
``noeviction``, still loading its data set, a script running too long, a replica
that lost its master or is read-only -- the old master during a Sentinel failover --,
a lost connection, no answer in time) passes by itself: :class:`StoreUnavailable`,
retried.  Anything else from a script or a command is a bug or corrupt data that no
retry will mend: :class:`StoreScriptError`, logged with the script's name and Redis's
text.  Either way the reason is kept.

redis-py strips the error code off the message (``OOM``, ``READONLY``...) and keeps it
in ``status_code``; the code is put back so that the reason reads as Redis wrote it.
It also files some server replies under ``ConnectionError`` (a wrong password, "max
number of clients", LOADING), so a reply is recognised by its code, not by its class.
"""

from __future__ import annotations

import asyncio
import re
import time

from redis import exceptions as rx

from acd.model import StoreError, StoreScriptError, StoreUnavailable

#: Errors that mean "the link is gone", not "Redis said no".
LINK_DOWN = (rx.ConnectionError, rx.TimeoutError, OSError, EOFError, asyncio.TimeoutError)

#: Redis error codes of conditions that clear without us (redis.io/docs/reference/...: each
#: is the first word of the error line; in a script on Redis 6 it follows ``-``).
TRANSIENT_CODES = ("OOM", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN",
                   "NOREPLICAS", "MISCONF", "NOAUTH", "WRONGPASS")
_TRANSIENT = re.compile(r"(?:^|-)(%s)\b" % "|".join(TRANSIENT_CODES))
_CLIENTS = "max number of clients reached"


def redis_text(exc: BaseException) -> str | None:
    """Redis's own error line (code first), or None when ``exc`` is no reply from Redis."""
    if not isinstance(exc, rx.RedisError):
        return None
    code = getattr(exc, "status_code", None)
    if code is None and not isinstance(exc, rx.ResponseError):
        return None          # raised by the client itself: the link, a timeout
    text = str(exc).strip()
    return f"{code} {text}" if code and not text.startswith(code) else text


def link_reason(exc: BaseException) -> str:
    """Why the link failed, in a few words (redis-py's message names the address already)."""
    detail = str(exc).strip()
    return type(exc).__name__ + (f": {detail}" if detail and detail != "None" else "")


def is_transient(text: str) -> bool:
    head = text.lstrip("-")
    return bool(_TRANSIENT.search(head[:200])) or _CLIENTS in head


def classify(exc: BaseException, op: str, address: str) -> StoreError:
    """The store error to raise for ``exc`` met while running ``op`` on Redis at ``address``."""
    if isinstance(exc, StoreError):
        return exc
    text = redis_text(exc)
    if text is None:
        if isinstance(exc, LINK_DOWN):
            reason = link_reason(exc)
            return StoreUnavailable(f"Redis at {address}: {op}: {reason}", op=op, reason=reason)
        text = str(exc).strip() or type(exc).__name__
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
