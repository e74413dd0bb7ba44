"""Opening the ACD's Redis: directly, or the current master as its Sentinels name it.

At start a Redis that cannot be reached is one line naming the address and why
(:class:`RedisUnreachable`, exit 3); a Redis that answers but refuses us (a missing
or wrong password) is the configuration's mistake (exit 2).  redis-py's client does
the connecting; this module only bounds the first contact in time and words its
failure, and turns off redis-py's own retries: the ACD retries with its backoff
(hotline.backoff), so a call fails within ``call_timeout_s`` and says why.

Through Sentinel, every new connection asks the Sentinels for the master first, so
after a failover the next connection goes to the promoted replica; a connection still
on the old master gets READONLY, which redis-py turns into a lost connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from acd.config import PASSWORD_ENV
from acd.redis_faults import redis_text
from hotline.errors import EXIT_UNREACHABLE, EXIT_USER, UserError, describe

#: How long the first contact may take before Redis counts as unreachable.
CONNECT_TIMEOUT_S = 3.0


class RedisUnreachable(UserError):
    """Redis cannot be reached (or refuses us) at start; str() is the one line to show.

    ``address`` and ``reason`` let another part word it its own way (seats/acd_state.py).
    """

    code = EXIT_UNREACHABLE

    def __init__(self, message: str, *, address: str = "", reason: str = "", code: int | None = None):
        super().__init__(message, code=code)
        self.address, self.reason = address, reason


def check_prefix(prefix: str, setting: str = "redis.prefix") -> None:
    """Refuse a key prefix without a Redis Cluster hash tag: the scripts touch keys of one
    call, agent and queue at once, which must share a slot (the tag is what Cluster hashes:
    the text between the first ``{`` and the next ``}``, when not empty)."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    if start < 0 or end <= start + 1:
        raise UserError(f"{setting} {prefix!r} has no hash tag: write it like '{{hotline}}:' so that every "
                        "ACD key lands in one Redis Cluster slot", code=EXIT_USER)


@dataclass(frozen=True, slots=True)
class Link:
    """Where the ACD's Redis is: an address, or a master known to Sentinels."""

    host: str = "127.0.0.1"
    port: int = 6379
    password: str | None = None         # never logged, never in a message
    db: int = 0
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = "mymaster"

    @property
    def address(self) -> str:
        if self.sentinels:
            return f"{self.service_name} via Sentinel " + ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (a Sentinel in the config) as a pair; ValueError when it is not one."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(text)
    return host.strip("[]"), int(port)


def client_for(link: Link, *, call_timeout_s: float) -> tuple[Redis, Sentinel | None]:
    """The client (and, through Sentinel, the Sentinel it asks); nothing is connected yet."""
    options = dict(db=link.db, password=link.password, decode_responses=True,
                   socket_timeout=call_timeout_s, socket_connect_timeout=min(call_timeout_s, CONNECT_TIMEOUT_S),
                   retry=Retry(NoBackoff(), 0), driver_info=None)
    if not link.sentinels:
        return Redis(host=link.host, port=link.port, **options), None
    sentinel = Sentinel(list(link.sentinels), sentinel_kwargs={
        "socket_timeout": CONNECT_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0), "decode_responses": True})
    return sentinel.master_for(link.service_name, **options), sentinel


async def open_client(link: Link, *, call_timeout_s: float = 10.0,
                      timeout_s: float = CONNECT_TIMEOUT_S) -> tuple[Redis, Sentinel | None]:
    """A client that has answered PING, or :class:`RedisUnreachable` in one line."""
    client, sentinel = client_for(link, call_timeout_s=call_timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except Exception as exc:
        await close_client(client, sentinel)
        raise unreachable(link, exc, timeout_s) from None
    except BaseException:
        await close_client(client, sentinel)
        raise
    return client, sentinel


async def close_client(client: Redis, sentinel: Sentinel | None) -> None:
    try:
        await client.aclose()
    finally:
        if sentinel is not None:
            await sentinel.aclose()


def unreachable(link: Link, exc: BaseException, timeout_s: float) -> RedisUnreachable:
    """The one line for a failed first contact."""
    where = link.address
    text = redis_text(exc)
    if text is not None:
        # Redis answered: a password missing or wrong, a database that does not exist...
        reason = text.split(". ")[0].rstrip(".")
        needs_password = any(code in text for code in ("NOAUTH", "WRONGPASS")) or isinstance(exc, rx.AuthenticationError)
        hint = f" (set ${PASSWORD_ENV} or redis.password_file)" if needs_password and not link.password else ""
        return RedisUnreachable(f"Redis at {where} refused us: {reason}{hint}", address=where, reason=reason,
                                code=EXIT_USER)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, rx.TimeoutError)):
        reason = f"timed out after {timeout_s:g} s"
    elif isinstance(exc, MasterNotFoundError):
        reason = f"no Sentinel names a master for {link.service_name!r}"
    else:
        cause = _os_error(exc)
        reason = describe(cause) if cause is not None else (str(exc) or type(exc).__name__)
    return RedisUnreachable(f"cannot reach Redis at {where}: {reason}", address=where, reason=reason)


def _os_error(exc: BaseException) -> OSError | None:
    """The socket's own error under redis-py's ConnectionError (it raises in the except block)."""
    cur: BaseException | None = exc
    for _ in range(4):
        if cur is None:
            return None
        if isinstance(cur, OSError) and not isinstance(cur, TimeoutError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None
