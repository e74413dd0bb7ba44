"""The Lua scripts behind every state change in the Redis store.

Each script is one atomic step, so two engine nodes can never both commit the
same agent or the same call: :data:`CLAIM` re-checks that the call still waits
and the agent is still available and commits both, or skips the pair.  No
WATCH/MULTI loops anywhere.  The rules every script keeps are listed in
docs/acd.md ("Invariants"); tests/acd/test_invariants.py drives both stores
through random interleavings of nodes and checks them after every step.

Keys.  Every script declares the fixed keys it touches (:attr:`Script.keys`, passed
as KEYS in that order and reached in Lua as ``K.<name>``; a name the script did not
declare is an error, not a silent new key).  The keys of one call, agent or queue
(``call:<id>``, ``agent:<id>``, ``wait:<queue>``, ``out:<queue>``) cannot be known
before the script reads them, so they are built from the prefix in ARGV[1]; the
prefix carries a hash tag (``{hotline}:``) so that every key lives in one slot and
the scripts run unchanged on Redis Cluster.

Time.  Deadlines that another node acts on (an offer's ring deadline) are taken
from the Redis server's clock (``TIME``) when the caller passes ``""`` for the
server time, so nodes whose clocks disagree still agree on when a ring is over.

Every agent or call written bumps ``changes`` (declared by each script that writes
them), so a node with nothing to do can tell in one GET that its figures still stand.

Records are JSON (Lua's cjson); scripts return a JSON string or an integer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Script:
    """One atomic step: its name (for logs and errors), the keys it declares, its Lua."""

    name: str
    keys: tuple[str, ...]
    body: str

    @property
    def source(self) -> str:
        declared = ", ".join(f"{k} = KEYS[{i}]" for i, k in enumerate(self.keys, 1))
        return ("local P = ARGV[1]\n"
                f"local K = setmetatable({{{declared}}}, {{__index = function(_, name)\n"
                f"  error('{self.name}: key ' .. name .. ' is not declared in KEYS') end}})\n"
                + self.body)


PRELUDE = r"""
local function server_now(arg)
  -- '' asks for the Redis server's clock: the one clock every node agrees on
  if arg == '' then
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1e6
  end
  return tonumber(arg)
end
local function getj(k)
  local v = redis.call('GET', k)
  if v then return cjson.decode(v) end
  return nil
end
local function setj(k, t)
  redis.call('SET', k, cjson.encode(t))
  redis.call('INCR', K.changes)   -- read by idle nodes: nothing changed, no figures to recompute
end
local function score(c) return c.enqueued_at - c.priority * 1e10 end
local function kick() redis.call('PUBLISH', P .. 'events', 'kick:') end
local function enter(a, state, now)
  if a.state ~= 'logged_out' and a.since and a.since > 0 then
    if type(a.times) ~= 'table' then a.times = {} end
    a.times[a.state] = (a.times[a.state] or 0) + math.max(0, now - a.since)
  end
  a.state = state
  a.since = now
end
local function make_available(a, now)
  a.call_id = ''
  local pending = a.pending or ''
  a.pending = ''
  if pending == 'logout' then
    enter(a, 'logged_out', now)
  elseif string.sub(pending, 1, 6) == 'pause:' then
    enter(a, 'paused', now)
    a.reason = string.sub(pending, 7)
  else
    enter(a, 'available', now)
    a.idle_since = now
    redis.call('ZADD', K.avail, now, a.id)
    kick()
  end
end
local function route(c)
  -- what routing needs of a waiting call, one tab-separated line (read by SNAPSHOT)
  local skills = ''
  if type(c.skills) == 'table' then skills = table.concat(c.skills, ',') end
  redis.call('HSET', K.route, c.call_id, table.concat({c.call_id, c.queue, tostring(c.priority),
    string.format('%.17g', c.enqueued_at), string.format('%.17g', c.due_at or 0), c.kind, skills}, '\t'))
end
local function wait_add(c)
  redis.call('ZADD', P .. 'wait:' .. c.queue, score(c), c.call_id)
  redis.call('SADD', K.queues, c.queue)
  route(c)
end
local function requeue(c)
  c.state = 'waiting'
  c.agent_id = ''
  c.offer_until = 0
  redis.call('ZREM', K.offers, c.call_id)
  wait_add(c)
  kick()
end
local function log_outcome(c, outcome, wait, now)
  if c.kind ~= 'call' then return end
  local k = P .. 'out:' .. c.queue
  redis.call('ZADD', k, now, c.call_id .. '|' .. outcome .. '|' .. string.format('%.3f', wait))
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now - 86400))
  redis.call('SADD', K.queues, c.queue)
end
local function aroute(a)
  -- what routing needs of an agent besides its idle time (the score in avail)
  local q = ''
  if type(a.queues) == 'table' then q = table.concat(a.queues, ',') end
  local sk = {}
  if type(a.skills) == 'table' then
    for name, level in pairs(a.skills) do sk[#sk + 1] = name .. ':' .. tostring(level) end
  end
  redis.call('HSET', K.aroute, a.id, q .. '\t' .. table.concat(sk, ','))
end
local function finish(k, cid)
  redis.call('EXPIRE', k, 86400)
  redis.call('HDEL', K.route, cid)
end
"""

#: ARGV: prefix, now, agent JSON...  Adds new agents as logged out; refreshes dial string,
#: queues and skills of known ones without touching their state.
SYNC_AGENTS = Script("SYNC_AGENTS", ('aroute', 'agents', 'changes'), PRELUDE + r"""
local now = tonumber(ARGV[2])
for i = 3, #ARGV do
  local a = cjson.decode(ARGV[i])
  local k = P .. 'agent:' .. a.id
  local cur = getj(k)
  if cur then
    cur.dial = a.dial; cur.name = a.name; cur.center = a.center
    cur.queues = a.queues; cur.skills = a.skills
    setj(k, cur)
  else
    a.state = 'logged_out'; a.since = now
    setj(k, a)
  end
  aroute(a)
  redis.call('SADD', K.agents, a.id)
end
return #ARGV - 2
""")

#: ARGV: prefix, agent id, action (login|logout|pause|resume), reason, now.
#: Returns {"agent": {...}} or {"error": "..."}.  While the agent is on a call a
#: logout or pause is kept pending and applied when the call (and wrap-up) ends.
AGENT_ACTION = Script("AGENT_ACTION", ('avail', 'changes'), PRELUDE + r"""
local id, action, reason, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local k = P .. 'agent:' .. id
local a = getj(k)
if not a then return cjson.encode({error = "unknown agent '" .. id .. "'"}) end
local st = a.state
local busy = (st == 'ringing' or st == 'talking' or st == 'wrapup')
if action == 'login' then
  if st == 'logged_out' then
    a.times = {}; a.misses = 0; a.reason = ''
    enter(a, 'available', now); a.idle_since = now
    redis.call('ZADD', K.avail, now, id)
    kick()
  elseif a.pending == 'logout' then
    a.pending = ''
  end
elseif action == 'logout' then
  if busy then
    a.pending = 'logout'
  elseif st ~= 'logged_out' then
    enter(a, 'logged_out', now); a.reason = ''
    redis.call('ZREM', K.avail, id)
  end
elseif action == 'pause' then
  if reason == '' then reason = 'break' end
  if st == 'logged_out' then return cjson.encode({error = "agent '" .. id .. "' is logged out"}) end
  if busy then
    a.pending = 'pause:' .. reason
  else
    if st ~= 'paused' then enter(a, 'paused', now) end
    a.reason = reason
    redis.call('ZREM', K.avail, id)
  end
elseif action == 'resume' then
  if st == 'logged_out' then return cjson.encode({error = "agent '" .. id .. "' is logged out"}) end
  if busy then
    if string.sub(a.pending or '', 1, 6) == 'pause:' then a.pending = '' end
  elseif st == 'paused' then
    a.reason = ''; a.misses = 0
    enter(a, 'available', now); a.idle_since = now
    redis.call('ZADD', K.avail, now, id)
    kick()
  end
else
  return cjson.encode({error = "unknown agent action '" .. action .. "'"})
end
setj(k, a)
return cjson.encode({agent = a})
""")

#: ARGV: prefix, call JSON.  Puts a call in its queue unless it is already there or
#: connected (a node adopting a caller re-enqueues it harmlessly).  Returns its 1-based place.
ENQUEUE = Script("ENQUEUE", ('queues', 'route', 'changes'), PRELUDE + r"""
local c = cjson.decode(ARGV[2])
local k = P .. 'call:' .. c.call_id
local cur = getj(k)
if cur and (cur.state == 'waiting' or cur.state == 'offered' or cur.state == 'connected') then
  if cur.state ~= 'waiting' then return 0 end
  return redis.call('ZRANK', P .. 'wait:' .. cur.queue, c.call_id) + 1
end
c.state = 'waiting'
setj(k, c)
redis.call('PERSIST', k)
wait_add(c)
kick()
return redis.call('ZRANK', P .. 'wait:' .. c.queue, c.call_id) + 1
""")

#: ARGV: prefix, limit.  Nothing ('') when no call waits or no agent is free.  Otherwise
#: routing lines, no JSON: available agents
#: "id TAB idle_since TAB queue,.. TAB skill:level,..", an empty line, then the head of every
#: queue (4 calls per free agent, at least 8, at most ``limit``) as
#: "call_id TAB queue TAB priority TAB enqueued_at TAB due_at TAB kind TAB skill,..".
#: Read-only: the decisions made on it are checked by CLAIM.
SNAPSHOT = Script("SNAPSHOT", ('avail', 'aroute', 'queues', 'route'), r"""
local limit = tonumber(ARGV[2])
-- HMGET in chunks: Lua's unpack() stops at a few thousand values
local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local part = {}
    for j = i, math.min(i + 999, #ids) do part[#part + 1] = ids[j] end
    local got = redis.call('HMGET', key, unpack(part))
    for j = 1, #part do out[i + j - 1] = got[j] end
  end
  return out
end
local queues = redis.call('SMEMBERS', K.queues)
local waiting = false
for _, q in ipairs(queues) do
  if redis.call('ZCARD', P .. 'wait:' .. q) > 0 then waiting = true; break end
end
-- nothing to decide: an idle node's round reads no agents (with hundreds free, most of its cost)
if not waiting or redis.call('ZCARD', K.avail) == 0 then return '' end
local avail = redis.call('ZRANGE', K.avail, 0, -1, 'WITHSCORES')
local ids = {}
for i = 1, #avail, 2 do ids[#ids + 1] = avail[i] end
local routes = hmget(K.aroute, ids)
local lines = {}
for i, id in ipairs(ids) do
  if routes[i] then lines[#lines + 1] = id .. '\t' .. avail[2 * i] .. '\t' .. routes[i] end
end
lines[#lines + 1] = ''
local depth = math.min(limit, math.max(8, 4 * #ids))   -- acd.store.snapshot_depth
for _, q in ipairs(queues) do
  local cids = redis.call('ZRANGE', P .. 'wait:' .. q, 0, depth - 1)
  if #cids > 0 then
    local rows = hmget(K.route, cids)
    for i = 1, #cids do
      if rows[i] then lines[#lines + 1] = rows[i] end
    end
  end
end
return table.concat(lines, '\n')
""")

#: ARGV: prefix, server now ('' for TIME), then (call id, agent id, ring timeout s, grace s)
#: repeated.  The atomic claim: each pair is committed only if the call is still waiting and
#: the agent still available, its ring deadline on the server's clock; returns the committed offers as JSON lists
#: [call_id, agent_id, dial, ring_timeout, kind, caller, queue, offer number] and publishes them.
CLAIM = Script("CLAIM", ('avail', 'offers', 'cbready', 'changes'), PRELUDE + r"""
local now = server_now(ARGV[2])
local out = {}
for i = 3, #ARGV, 4 do
  local cid, aid = ARGV[i], ARGV[i + 1]
  local ring, grace = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local ck, ak = P .. 'call:' .. cid, P .. 'agent:' .. aid
  local c, a = getj(ck), getj(ak)
  if c and a and c.state == 'waiting' and a.state == 'available' then
    c.state = 'offered'; c.agent_id = aid
    c.offer_until = now + ring + grace
    c.rings = (c.rings or 0) + 1
    c.ring_s = ring
    enter(a, 'ringing', now); a.call_id = cid
    redis.call('ZREM', K.avail, aid)
    redis.call('ZREM', P .. 'wait:' .. c.queue, cid)
    redis.call('ZADD', K.offers, c.offer_until, cid)
    setj(ck, c); setj(ak, a)
    if c.kind == 'callback' then
      redis.call('RPUSH', K.cbready, cid)
      redis.call('PUBLISH', P .. 'events', 'callback:' .. cid)
    else
      redis.call('PUBLISH', P .. 'events', 'offer:' .. cid)
    end
    out[#out + 1] = {cid, aid, a.dial, ring, c.kind, c.caller, c.queue, c.rings}
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
""")

#: ARGV: prefix, call id, agent id, dial status, now, max misses, party, retry s, max
#: attempts, reason.  Party: agent (their phone did not answer: a miss, the call back at
#: the head), caller (a callback's citizen did not answer: retried after retry s), pbx (the
#: PBX refused the callback: retried after retry s x 2^(attempts-1), never the agent's
#: miss), invalid (the callback cannot be dialled: failed now).  An ANSWER applies only to
#: the call it names and never binds an agent already talking on another call (stale, the
#: offer back at the head).  It stands even when it arrives late (a repeat, or after the
#: offer was taken back during an outage): only the call's owner dials for it, so unless the
#: call has ended the agent answered this caller (and an offer ringing that agent meanwhile
#: goes back to its queue's head: an agent takes one call at a time).
#: Returns connected | requeued | retry | failed | stale.
RING_RESULT = Script("RING_RESULT", ('avail', 'offers', 'queues', 'route', 'changes'), PRELUDE + r"""
local cid, aid, status, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local max_misses, party = tonumber(ARGV[6]), ARGV[7]
local retry_s, max_attempts, reason = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10] or ''
local ck, ak = P .. 'call:' .. cid, P .. 'agent:' .. aid
local c = getj(ck)
if not c then return 'stale' end
local a = getj(ak)
if status == 'ANSWER' then
  if c.state == 'connected' and c.agent_id == aid then return 'connected' end
  if c.state ~= 'offered' and c.state ~= 'waiting' then return 'stale' end
  if not a or (a.state == 'talking' and a.call_id ~= cid) then
    -- the agent is on another call (or unknown): one call at a time, so the answer is refused;
    -- an offer to this agent goes back to the head of the line, with no miss
    if c.state == 'offered' and c.agent_id == aid then requeue(c); setj(ck, c) end
    return 'stale'
  end
  if a.state == 'ringing' and a.call_id ~= cid then
    -- re-offered meanwhile: the agent took this caller, so the other offer goes back (no miss)
    local rk = P .. 'call:' .. a.call_id
    local rc = getj(rk)
    if rc and rc.state == 'offered' and rc.agent_id == aid then requeue(rc); setj(rk, rc) end
  end
  if c.state == 'offered' and c.agent_id ~= aid then
    -- taken back and offered to someone else while this report was on its way: the call's
    -- owner is the only one dialling for it, so this answer stands and that ring is over
    local ok = P .. 'agent:' .. c.agent_id
    local other = getj(ok)
    if other and other.call_id == cid and other.state == 'ringing' then make_available(other, now); setj(ok, other) end
  end
  redis.call('ZREM', P .. 'wait:' .. c.queue, cid)
  redis.call('ZREM', K.avail, aid)
  c.state = 'connected'; c.answered_at = now; c.agent_id = aid
  redis.call('ZREM', K.offers, cid)
  enter(a, 'talking', now); a.misses = 0; a.call_id = cid; setj(ak, a)
  log_outcome(c, 'A', now - c.enqueued_at, now)
  setj(ck, c)
  return 'connected'
end
if c.state ~= 'offered' or c.agent_id ~= aid then return 'stale' end
if party ~= 'agent' then
  -- the callback's own failure: the agent did nothing wrong
  if a and a.call_id == cid then make_available(a, now); setj(ak, a) end
  redis.call('ZREM', K.offers, cid)
  c.attempts = (c.attempts or 0) + 1
  if reason ~= '' then c.reason = reason else c.reason = status end
  if party == 'invalid' or c.attempts >= max_attempts then
    c.state = 'failed'; c.outcome = status; c.ended_at = now; c.agent_id = ''
    setj(ck, c); finish(ck, cid)
    return 'failed'
  end
  if party == 'pbx' then c.due_at = now + retry_s * 2 ^ (c.attempts - 1) else c.due_at = now + retry_s end
  requeue(c); setj(ck, c)
  return 'retry'
end
requeue(c); setj(ck, c)
if a and a.call_id == cid then
  if status == 'NOANSWER' or status == 'BUSY' or status == 'CHANUNAVAIL' or status == 'CONGESTION' then
    a.misses = (a.misses or 0) + 1
  end
  if a.misses >= max_misses then
    a.call_id = ''
    enter(a, 'paused', now); a.reason = 'no answer'
    if a.pending ~= 'logout' then a.pending = '' end
  else
    make_available(a, now)
  end
  setj(ak, a)
end
return 'requeued'
""")

#: ARGV: prefix, call id, agent id, talk s, now, wrap-up s.  Ends a connected call and
#: starts the agent's wrap-up.  Returns 1, or 0 if the call was not connected to that agent.
CALL_ENDED = Script("CALL_ENDED", ('avail', 'wrap', 'route', 'changes'), PRELUDE + r"""
local cid, aid, talk, now, wrap = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ck, ak = P .. 'call:' .. cid, P .. 'agent:' .. aid
local c = getj(ck)
if not c or c.state ~= 'connected' or c.agent_id ~= aid then return 0 end
c.state = 'ended'; c.ended_at = now
setj(ck, c); finish(ck, cid)
local a = getj(ak)
if a and a.call_id == cid then
  a.calls = (a.calls or 0) + 1
  a.talk_s = (a.talk_s or 0) + talk
  if wrap > 0 then
    enter(a, 'wrapup', now); a.wrap_until = now + wrap
    redis.call('ZADD', K.wrap, a.wrap_until, aid)
  else
    make_available(a, now)
  end
  setj(ak, a)
end
return 1
""")

#: ARGV: prefix, now.  Agents whose wrap-up is over become available (or apply a
#: pending pause/logout).  Returns a JSON list of agent ids.
RELEASE_WRAPUPS = Script("RELEASE_WRAPUPS", ('avail', 'wrap', 'changes'), PRELUDE + r"""
local now = tonumber(ARGV[2])
local out = {}
for _, aid in ipairs(redis.call('ZRANGEBYSCORE', K.wrap, '-inf', now)) do
  redis.call('ZREM', K.wrap, aid)
  local ak = P .. 'agent:' .. aid
  local a = getj(ak)
  if a and a.state == 'wrapup' then
    make_available(a, now); setj(ak, a)
    out[#out + 1] = aid
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
""")

#: ARGV: prefix, server now ('' for TIME), max reaps.  Offers nobody settled in time (their node died) go back
#: to the head of the line; the agent is freed without a miss.  A call taken back ``max
#: reaps`` times has no owner left (its channel is gone too): it is dropped as abandoned
#: with outcome "lost".  Returns a JSON list of call ids taken back.
REAP_OFFERS = Script("REAP_OFFERS", ('avail', 'offers', 'queues', 'route', 'changes'), PRELUDE + r"""
local now, max_reaps = server_now(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', K.offers, '-inf', now)) do
  local ck = P .. 'call:' .. cid
  local c = getj(ck)
  if c and c.state == 'offered' then
    local ak = P .. 'agent:' .. c.agent_id
    local a = getj(ak)
    if a and a.call_id == cid and a.state == 'ringing' then make_available(a, now); setj(ak, a) end
    c.reaped = (c.reaped or 0) + 1
    if c.reaped >= max_reaps then
      redis.call('ZREM', K.offers, cid)
      c.state = 'abandoned'; c.outcome = 'lost'; c.ended_at = now; c.agent_id = ''
      log_outcome(c, 'X', now - c.enqueued_at, now)
      setj(ck, c); finish(ck, cid)
    else
      requeue(c); setj(ck, c)
    end
    out[#out + 1] = cid
  else
    redis.call('ZREM', K.offers, cid)
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
""")

#: ARGV: prefix, call id, now, callback JSON ('' when none).  The caller hung up while
#: waiting or ringing: the call leaves the line and, given a callback, a task to ring
#: them back joins it.  Returns the callback's call id or ''.
ABANDON = Script("ABANDON", ('avail', 'offers', 'queues', 'route', 'changes'), PRELUDE + r"""
local cid, now, cbjson = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ck = P .. 'call:' .. cid
local c = getj(ck)
if not c or c.kind ~= 'call' or (c.state ~= 'waiting' and c.state ~= 'offered') then return '' end
if c.state == 'offered' then
  local ak = P .. 'agent:' .. c.agent_id
  local a = getj(ak)
  if a and a.call_id == cid and a.state == 'ringing' then make_available(a, now); setj(ak, a) end
  redis.call('ZREM', K.offers, cid)
end
redis.call('ZREM', P .. 'wait:' .. c.queue, cid)
c.state = 'abandoned'; c.ended_at = now; c.agent_id = ''
log_outcome(c, 'X', now - c.enqueued_at, now)
setj(ck, c); finish(ck, cid)
if cbjson == '' or c.caller == '' then return '' end
local cb = cjson.decode(cbjson)
local bk = P .. 'call:' .. cb.call_id
if redis.call('EXISTS', bk) == 1 then return '' end
setj(bk, cb)
wait_add(cb)
return cb.call_id
""")

#: ARGV: prefix, call id, number to ring back (already checked by acd.phone).  A waiting
#: caller chose to be called back: the call keeps its place but becomes a callback task.
#: Returns 1 or 0 (not waiting, or no number).
REQUEST_CALLBACK = Script("REQUEST_CALLBACK", ('route', 'changes'), PRELUDE + r"""
local ck = P .. 'call:' .. ARGV[2]
local c = getj(ck)
if not c or c.kind ~= 'call' or c.state ~= 'waiting' or (ARGV[3] or '') == '' then return 0 end
c.kind = 'callback'
c.caller = ARGV[3]
setj(ck, c)
route(c)
return 1
""")

#: ARGV: prefix.  Takes one callback whose agent is claimed, for exactly one node to
#: originate.  Returns an offer JSON list or ''.
POP_CALLBACK = Script("POP_CALLBACK", ('cbready', 'changes'), PRELUDE + r"""
while true do
  local cid = redis.call('LPOP', K.cbready)
  if not cid then return '' end
  local c = getj(P .. 'call:' .. cid)
  if c and c.state == 'offered' and c.kind == 'callback' then
    local a = getj(P .. 'agent:' .. c.agent_id)
    if a then return cjson.encode({cid, a.id, a.dial, c.ring_s or 0, c.kind, c.caller, c.queue, c.rings or 0}) end
  end
end
""")

#: ARGV: prefix, call id.  Returns JSON [place (0 when not waiting), queue].
POSITION = Script("POSITION", (), r"""
local v = redis.call('GET', P .. 'call:' .. ARGV[2])
if not v then return '[0,""]' end
local c = cjson.decode(v)
local r = redis.call('ZRANK', P .. 'wait:' .. c.queue, ARGV[2])
if not r then r = -1 end
return cjson.encode({r + 1, c.queue})
""")

#: ARGV: prefix, agent JSON.  After Redis lost its data: puts an agent back only if
#: nobody has yet.  Returns 1 if written.
RESTORE_AGENT = Script("RESTORE_AGENT", ('aroute', 'agents', 'avail', 'wrap', 'changes'), PRELUDE + r"""
local a = cjson.decode(ARGV[2])
local k = P .. 'agent:' .. a.id
if redis.call('EXISTS', k) == 1 then return 0 end
setj(k, a)
aroute(a)
redis.call('SADD', K.agents, a.id)
if a.state == 'available' then redis.call('ZADD', K.avail, a.idle_since, a.id); kick() end
if a.state == 'wrapup' then redis.call('ZADD', K.wrap, a.wrap_until, a.id) end
return 1
""")

#: ARGV: prefix, call JSON (state waiting, offered or connected, with agent_id), node now,
#: server now ('' for TIME).  After Redis lost its data, the node holding a caller re-asserts
#: where it stands: a waiting call rejoins its queue at its old place; an offered or
#: connected one takes its agent back (ringing or talking), unless another node has already
#: bound that agent to its own call: then an offered call waits again at its old place and a
#: connected one is kept with no agent (the agent's record stays with the first call).  The
#: ring deadline, on the node's clock in the JSON, moves to the server's.  Returns 1 when
#: restored as given, 0 when not (the call had ended, or its agent was taken).
RESTORE_CALL = Script("RESTORE_CALL", ('avail', 'wrap', 'offers', 'queues', 'route', 'changes'), PRELUDE + r"""
local c = cjson.decode(ARGV[2])
local now, snow = tonumber(ARGV[3]), server_now(ARGV[4])
local ck = P .. 'call:' .. c.call_id
local cur = getj(ck)
if cur and cur.state ~= 'waiting' and cur.state ~= 'offered' and cur.state ~= 'connected' then return 0 end
if cur then redis.call('ZREM', P .. 'wait:' .. cur.queue, c.call_id) end
if c.state == 'waiting' then setj(ck, c); wait_add(c); kick(); return 1 end
local ak = P .. 'agent:' .. c.agent_id
local a = getj(ak)
if a and a.call_id ~= '' and a.call_id ~= c.call_id and (a.state == 'ringing' or a.state == 'talking') then
  if c.state == 'offered' then
    c.state = 'waiting'; c.agent_id = ''; c.offer_until = 0
    setj(ck, c); wait_add(c); kick()
  else
    c.agent_id = ''
    setj(ck, c)
  end
  return 0
end
if c.state == 'offered' then
  if not a then
    c.state = 'waiting'; c.agent_id = ''; c.offer_until = 0
    setj(ck, c); wait_add(c); kick()
    return 0
  end
  c.offer_until = snow + math.max(0, c.offer_until - now)
  redis.call('ZADD', K.offers, c.offer_until, c.call_id)
end
setj(ck, c)
if a then
  redis.call('ZREM', K.avail, a.id)
  redis.call('ZREM', K.wrap, a.id)
  local want = 'talking'
  if c.state == 'offered' then want = 'ringing' end
  if a.state ~= want then enter(a, want, now) end
  a.call_id = c.call_id
  setj(ak, a)
end
return 1
""")

#: ARGV: prefix, call id, record JSON, record time, retention s, now.  One record per
#: call, expiring after the retention period; the index is trimmed on the way.
PUT_RECORD = Script("PUT_RECORD", ('recs',), r"""
local id, ts, keep, now = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('SET', P .. 'rec:' .. id, ARGV[3], 'EX', math.max(1, math.floor(keep)))
redis.call('ZADD', K.recs, ts, id)
redis.call('ZREMRANGEBYSCORE', K.recs, '-inf', '(' .. (now - keep))
return 1
""")

#: ARGV: prefix, from, to.  Records in time order, as one JSON list.
GET_RECORDS = Script("GET_RECORDS", ('recs',), r"""
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.recs, ARGV[2], ARGV[3])) do
  local v = redis.call('GET', P .. 'rec:' .. id)
  if v then out[#out + 1] = v end
end
return '[' .. table.concat(out, ',') .. ']'
""")

#: ARGV: prefix, node id, now.  The data set's identity: created when missing (first start,
#: or Redis restarted without persistence).  A node that sees it change knows Redis lost
#: its state and re-asserts its own callers.  Returns the epoch string "node@time".
EPOCH = Script("EPOCH", ('epoch',), r"""
redis.call('SETNX', K.epoch, ARGV[2] .. '@' .. ARGV[3])
return redis.call('GET', K.epoch)
""")

SCRIPTS: dict[str, Script] = {
    value.name: value for value in dict(globals()).values() if isinstance(value, Script)
}

# -- wrap-up (acd/wrapup.py) ------------------------------------------------------------------------

#: ARGV: prefix, agent id, seconds, max wrap-up s, now.  An agent in wrap-up asks for more time:
#: the wrap-up ends ``seconds`` after its current end (after now, if that has passed unreleased),
#: never later than ``max wrap-up s`` after it began (the call's end).  Returns {"agent": {...}}, or
#: {"error": "..."} when the agent is unknown, not in wrap-up, or already at the maximum.
WRAPUP_EXTEND = Script("WRAPUP_EXTEND", ('wrap', 'changes'), PRELUDE + r"""
local id, secs, maxs, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local k = P .. 'agent:' .. id
local a = getj(k)
if not a then return cjson.encode({error = "unknown agent '" .. id .. "'"}) end
if a.state ~= 'wrapup' then
  return cjson.encode({error = "agent '" .. id .. "' is not in wrap-up (" .. a.state .. ")"})
end
local cur = a.wrap_until or 0
local new = math.min(math.max(cur, now) + secs, a.since + maxs)   -- since: when the wrap-up began
if new <= math.max(cur, now) then
  return cjson.encode({error = "agent '" .. id .. "': wrap-up is already at its maximum of "
    .. string.format('%g', maxs) .. " s"})
end
a.wrap_until = new
redis.call('ZADD', K.wrap, new, id)
setj(k, a)
return cjson.encode({agent = a})
""")

#: ARGV: prefix, agent id, call id, now.  The agent is done with the call (its disposition
#: recorded with --done): a wrap-up for that call ends now, applying a pending pause or logout.
#: Returns {"agent": {...}, "done": true|false} (false: not in wrap-up for that call, nothing
#: changed), or {"error": "..."} for an unknown agent.
WRAPUP_DONE = Script("WRAPUP_DONE", ('avail', 'wrap', 'changes'), PRELUDE + r"""
local id, cid, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local k = P .. 'agent:' .. id
local a = getj(k)
if not a then return cjson.encode({error = "unknown agent '" .. id .. "'"}) end
if a.state ~= 'wrapup' or a.call_id ~= cid then return cjson.encode({agent = a, done = false}) end
redis.call('ZREM', K.wrap, id)
make_available(a, now)
setj(k, a)
return cjson.encode({agent = a, done = true})
""")

SCRIPTS.update({s.name: s for s in (WRAPUP_EXTEND, WRAPUP_DONE)})
