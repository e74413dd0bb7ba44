"""The agents as the ACD keeps them in Redis, for whoever reads them (the store, seats/).

The key layout is the ACD's business (docs/acd.md): one JSON string per agent under
``<prefix>agent:<id>`` and the set of ids under ``<prefix>agents``.  It is read here
and nowhere else, so that seats/ can ask who is logged in without knowing it.
"""

from __future__ import annotations

import asyncio
import json

from redis import exceptions as rx

from acd.redis_connect import Link, RedisUnreachable, close_client, open_client
from acd.redis_faults import link_reason, redis_text
from hotline.errors import EXIT_USER

#: MGET in chunks: one reply for thousands of agents would hold Redis up for everyone.
CHUNK = 500


def agents_key(prefix: str) -> str:
    return prefix + "agents"


def agent_key(prefix: str, agent_id: str) -> str:
    return f"{prefix}agent:{agent_id}"


async def agent_records(client, prefix: str) -> list[tuple[str, str]]:
    """(agent id, its JSON) for every known agent, in id order; ids whose record is gone are left out."""
    ids = sorted(await client.smembers(agents_key(prefix)))
    out: list[tuple[str, str]] = []
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        values = await client.mget([agent_key(prefix, a) for a in chunk])
        out.extend((a, v) for a, v in zip(chunk, values) if v)
    return out


async def agent_states(host: str, port: int, *, prefix: str, db: int = 0, password: str | None = None,
                       timeout_s: float = 3.0) -> dict[str, dict]:
    """Agent id -> its record as the ACD wrote it (``state`` is ``logged_out`` when not logged in).

    Read-only, one connection, at most ``timeout_s``.  A Redis that does not answer is
    :class:`RedisUnreachable` (exit 3); one that refuses the read, the same with exit 2.
    A damaged record is the ACD's business and is skipped here.
    """
    link = Link(host, port, password, db)
    client, sentinel = await open_client(link, call_timeout_s=timeout_s, timeout_s=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            rows = await agent_records(client, prefix)
    except (TimeoutError, rx.TimeoutError):
        reason = f"no answer within {timeout_s:g} s"
        raise RedisUnreachable(f"cannot reach Redis at {link.address}: {reason}",
                               address=link.address, reason=reason) from None
    except rx.RedisError as exc:
        text = redis_text(exc)
        if text is None:
            reason = link_reason(exc)
            raise RedisUnreachable(f"cannot reach Redis at {link.address}: {reason}",
                                   address=link.address, reason=reason) from None
        raise RedisUnreachable(f"Redis at {link.address} refused us: {text}", address=link.address,
                               reason=text, code=EXIT_USER) from None
    finally:
        await close_client(client, sentinel)
    out: dict[str, dict] = {}
    for agent_id, raw in rows:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict):
            out[agent_id] = data
    return out
