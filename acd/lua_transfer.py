"""The Redis store's scripts for transfers (acd/transfers.py); conventions as in acd/lua.py."""

from __future__ import annotations

from acd.lua import PRELUDE, Script

#: The call a request is about, if it talks to an agent now: (call, key) or (nil, refusal).
CONNECTED = PRELUDE + r"""
local function connected_call(cid)
  local ck = P .. 'call:' .. cid
  local c = getj(ck)
  if not c then return nil, "unknown call '" .. cid .. "'" end
  if c.state ~= 'connected' then
    return nil, 'call ' .. cid .. ' is not talking to an agent (state: ' .. c.state .. ')'
  end
  return c, ck
end
"""

#: ARGV: prefix, call id, agent id, request JSON, now.  Keeps a transfer request on a call
#: connected to that agent, unless another one is running, and tells the call's owner
#: (``transfer:<call id>``).  Returns '' or the refusal, in acd.store.transfer_refusal's words.
REQUEST_TRANSFER = Script("REQUEST_TRANSFER", ('changes',), CONNECTED + r"""
local cid, aid, req = ARGV[2], ARGV[3], ARGV[4]
local c, ck = connected_call(cid)
if not c then return ck end
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

#: ARGV: prefix, call id, spy JSON (acd.supervision.SpyRequest), now.  Adds a supervisor's
#: request to a connected call, unless that supervisor already asked for that mode on it, and
#: tells the call's owner (``spy:<call id>``).  Returns '' or the refusal (acd.store.spy_refusal).
REQUEST_SPY = Script("REQUEST_SPY", ('changes',), CONNECTED + r"""
local cid, spy = ARGV[2], cjson.decode(ARGV[3])
local c, ck = connected_call(cid)
if not c then return ck end
local list = {}
if c.spies and c.spies ~= '' then list = cjson.decode(c.spies) end
for _, other in ipairs(list) do
  if other.supervisor == spy.supervisor and other.mode == spy.mode then
    return 'supervisor ' .. spy.supervisor .. ' already asked to ' .. spy.mode .. ' on call ' .. cid
  end
end
list[#list + 1] = spy
c.spies = cjson.encode(list)
setj(ck, c)
redis.call('PUBLISH', P .. 'events', 'spy:' .. cid)
return ''
""")

SCRIPTS: dict[str, Script] = {s.name: s for s in (REQUEST_TRANSFER, RECALL_AGENT, REQUEST_SPY)}
