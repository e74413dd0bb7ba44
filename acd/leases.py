"""Which engine node owns which live channel, so that two nodes serving one Asterisk never
both drive the same caller (the engine side is ivr/engine/ownership.py).

Not the ACD's business: a lease is about a channel, not about a queue or an agent.  It
lives here, beside the stores, only because it shares their Redis connection.  A lease
is a channel's Uniqueid, the node holding it and until when; a node renews its
leases every third of ``lease_s`` and a channel whose lease ran out is anybody's (its
node died: another node adopts the caller).
"""

from __future__ import annotations

import json
import time
from typing import Protocol

from acd.lua import Script


class Leases(Protocol):
    async def lease(self, node: str, channels: list[str], lease_s: float) -> list[str]:
        """Claim or renew ``node``'s lease on ``channels``; returns those it holds now."""

    async def release(self, node: str, channel: str) -> bool:
        """The call ended on ``node``: drop its lease (only if it still holds it)."""


#: KEYS: ``owner:<uniqueid>`` of each channel, in the order of the channels in ARGV.
#: ARGV: prefix, node id, lease s, then the channels' Uniqueids.  Each channel that has no owner, an
#: owner whose lease ran out, or this node as owner becomes (or stays) this node's for another
#: lease.  Time is the Redis server's, so nodes with skewed clocks agree.  Returns the
#: channels won, as JSON.
CHANNEL_LEASE = Script("CHANNEL_LEASE", (), r"""
local node, lease = ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local won = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local v = redis.call('GET', k)
  local free = true
  if v then
    local sep = string.find(v, '|', 1, true)
    free = string.sub(v, 1, sep - 1) == node or tonumber(string.sub(v, sep + 1)) < now
  end
  if free then
    redis.call('SET', k, node .. '|' .. string.format('%.17g', now + lease), 'EX', math.ceil(lease * 4 + 60))
    won[#won + 1] = ARGV[i + 3]
  end
end
if #won == 0 then return '[]' end
return cjson.encode(won)
""")

#: KEYS: ``owner:<uniqueid>`` of the channel.  ARGV: prefix, node id.  Returns 1 if dropped.
CHANNEL_RELEASE = Script("CHANNEL_RELEASE", (), r"""
local k = KEYS[1]
local v = redis.call('GET', k)
if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  redis.call('DEL', k)
  return 1
end
return 0
""")

SCRIPTS = {s.name: s for s in (CHANNEL_LEASE, CHANNEL_RELEASE)}


class RedisLeases:
    """Leases in the shared Redis, on the server's clock."""

    def __init__(self, store) -> None:
        self._store = store      # acd.redis_store.RedisStore: runs the scripts on its connection

    async def lease(self, node, channels, lease_s):
        if not channels:
            return []
        owners = [self._store.key("owner", ch) for ch in channels]
        return json.loads(await self._store.run_script(CHANNEL_LEASE, node, float(lease_s), *channels,
                                                       channel_keys=owners))

    async def release(self, node, channel):
        return bool(await self._store.run_script(CHANNEL_RELEASE, node,
                                                 channel_keys=[self._store.key("owner", channel)]))


class MemoryLeases:
    """Leases of one process (a single node: nobody to share channels with but its own tests)."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, float]] = {}   # channel -> (node, lease until, monotonic)

    async def lease(self, node, channels, lease_s):
        now = time.monotonic()
        won = []
        for ch in channels:
            owner = self._owners.get(ch)
            if owner is None or owner[0] == node or owner[1] < now:
                self._owners[ch] = (node, now + lease_s)
                won.append(ch)
        return won

    async def release(self, node, channel):
        owner = self._owners.get(channel)
        if owner is not None and owner[0] == node:
            del self._owners[channel]
            return True
        return False


def leases_for(store) -> Leases:
    """The leases that live beside ``store``: Redis shares its connection, memory its process
    (every node of one process shares the memory store's).  Anything else is a bug: a node with
    leases of its own would think it owns every channel."""
    leases = getattr(store, "leases", None)
    if isinstance(leases, MemoryLeases):
        return leases
    if hasattr(store, "run_script"):
        return RedisLeases(store)
    raise TypeError(f"no channel leases for a {type(store).__name__}")
