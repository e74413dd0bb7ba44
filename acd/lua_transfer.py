"""The Redis store's scripts for transfers (acd/transfers.py); conventions as in acd/lua.py."""

from __future__ import annotations

from acd.lua import PRELUDE, Script

#: ARGV: prefix, call id, agent id, request JSON, now.  Keeps a transfer request on a call
#: connected to that agent, unless another one is running, and tells the call's owner
#: (``transfer:<call id>``).  Returns '' or the refusal, in acd.store.transfer_refusal's words.
REQUEST_TRANSFER = Script("REQUEST_TRANSFER", ('changes',), PRELUDE + r"""
local cid, aid, req = ARGV[2], ARGV[3], ARGV[4]
local ck = P .. 'call:' .. cid
local c = getj(ck)
if not c then return "unknown call '" .. cid .. "'" end
if c.state ~= 'connected' then
  return 'call ' .. cid .. ' is not talking to an agent (state: ' .. c.state .. ')'
end
if c.agent_id ~= aid then return 'agent ' .. aid .. ' is not on call ' .. cid end
if c.transfer and c.transfer ~= '' then return 'another transfer of call ' .. cid .. ' is running' end
c.transfer = req
setj(ck, c)
redis.call('PUBLISH', P .. 'events', 'transfer:' .. cid)
return ''
""")

#: ARGV: prefix, call id, agent id, ring s, grace s, server now ('' for TIME).  A transfer
#: failed: the agent who ended the call is rung again if still free, or in this call's
#: wrap-up, and the call is offered to them alone (offered, agent ringing, the offer's
#: deadline in ``offers``: the reaper takes it back if the owner dies).  Returns the
#: offer as CLAIM's rows do, or '' when the caller must queue instead.
RECALL_AGENT = Script("RECALL_AGENT", ('avail', 'wrap', 'offers', 'route', 'changes'), PRELUDE + r"""
local cid, aid = ARGV[2], ARGV[3]
local ring, grace, now = tonumber(ARGV[4]), tonumber(ARGV[5]), server_now(ARGV[6])
local ck, ak = P .. 'call:' .. cid, P .. 'agent:' .. aid
local c, a = getj(ck), getj(ak)
if not c or not a or c.state ~= 'ended' or c.agent_id ~= aid then return '' end
if not (a.state == 'available' or (a.state == 'wrapup' and a.call_id == cid)) then return '' end
redis.call('ZREM', K.wrap, aid)
redis.call('ZREM', K.avail, aid)
c.state = 'offered'; c.transfer = ''
c.offer_until = now + ring + grace
c.rings = (c.rings or 0) + 1
c.ring_s = ring
enter(a, 'ringing', now); a.call_id = cid
redis.call('ZADD', K.offers, c.offer_until, cid)
setj(ck, c); setj(ak, a)
redis.call('PERSIST', ck)
route(c)
return cjson.encode({cid, aid, a.dial, ring, c.kind, c.caller, c.queue, c.rings})
""")

SCRIPTS: dict[str, Script] = {s.name: s for s in (REQUEST_TRANSFER, RECALL_AGENT)}
