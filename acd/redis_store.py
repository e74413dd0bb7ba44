"""The shared store: Redis through redis-py's asyncio client, every state change one Lua script.

Connection handling is the point of this module.  At start, an unreachable Redis
is one clear error naming the address (:class:`RedisUnreachable`, acd/redis_connect.py).
Mid-run, every call keeps Redis's own reason when it fails and says whether waiting
helps (acd/redis_faults.py): :class:`StoreUnavailable` for a passing condition (link
down, out of memory, loading, busy, read-only, a failover under way, no answer within
``call_timeout_s``), which the ACD retries with backoff, and :class:`StoreScriptError`
for a bug, never retried.  Since each script either ran whole or not at all, a retry
never assigns anything twice.  Every call slower than ``slow_call_s`` is logged with
its duration and name.

Scripts run as redis-py Script objects, registered once: they load themselves again
when Redis forgot them (a restart, a promoted replica).  KEYS are the script's declared
keys under the prefix and ARGV[1] is the prefix (acd/lua.py): the prefix carries a hash
tag, so every key a script builds lives in the same Cluster slot.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Callable, Iterable

from redis import exceptions as rx

from acd import agents_view, lua, lua_transfer
from acd.config import RedisConfig
from acd.model import AcdError, Agent, Call, Offer, StoreError, StoreUnavailable
from acd.redis_connect import Link, RedisUnreachable, check_prefix, close_client, open_client, parse_address
from acd.redis_faults import SlowCalls, classify, link_reason
from acd.store import Handler, Store
from hotline import log as logmod
from hotline.backoff import pause_before_retry

#: Every script of the store, by name (acd/lua.py, acd/lua_transfer.py).
SCRIPTS: dict[str, lua.Script] = {**lua.SCRIPTS, **lua_transfer.SCRIPTS}

__all__ = ["RedisStore", "RedisUnreachable"]

#: The subscriber pings Redis after this long without a message, and counts the link as
#: lost when the ping has no answer after as long again (a half-open TCP link says nothing).
LISTEN_PING_S = 5.0


#: ``server_clock`` for tests whose fake clock is the only clock: deadlines use the ``now``
#: each call is given, as in the memory store (production leaves ``server_clock`` None: TIME).
CALLERS_CLOCK = "caller"


class RedisStore(Store):
    def __init__(self, client, link: Link, prefix: str, *, sentinel=None, poolsize: int = 4,
                 slow_call_s: float = 1.0, call_timeout_s: float = 10.0,
                 server_clock: Callable[[], float] | str | None = None):
        self.redis = client
        self._sentinel = sentinel
        self.link, self.prefix = link, prefix
        self.host, self.port = link.host, link.port
        self.address = link.address
        self.call_timeout_s = call_timeout_s
        self.server_clock = server_clock
        self._in_flight = asyncio.Semaphore(poolsize)   # calls at once; the others wait their turn
        self._scripts: dict[lua.Script, object] = {}      # -> redis-py AsyncScript
        self.log = logmod.get("acd.redis", store=self.address)
        self.slow = SlowCalls(self.log, slow_call_s)

    @property
    def _pool(self):
        """The client, under the name tests that read keys directly still use."""
        return self.redis

    @classmethod
    async def connect(cls, host: str = "127.0.0.1", port: int = 6379, *, prefix: str = "{hotline}:",
                      password: str | None = None, db: int = 0, poolsize: int = 4,
                      slow_call_s: float = 1.0, call_timeout_s: float = 10.0,
                      sentinels: Iterable[str | tuple[str, int]] = (), service_name: str = "mymaster",
                      server_clock: Callable[[], float] | str | None = None) -> "RedisStore":
        """Connect (through ``sentinels`` when given: then host and port are not used)."""
        check_prefix(prefix)
        link = Link(host, port, password, db, tuple(parse_address(s) if isinstance(s, str) else tuple(s)
                                                   for s in sentinels), service_name)
        client, sentinel = await open_client(link, call_timeout_s=call_timeout_s)
        store = cls(client, link, prefix, sentinel=sentinel, poolsize=poolsize, slow_call_s=slow_call_s,
                    call_timeout_s=call_timeout_s, server_clock=server_clock)
        try:
            await store._load_scripts()
        except StoreError as exc:
            await store.close()
            raise RedisUnreachable(f"Redis at {link.address} refused us: {exc.reason}",
                                   address=link.address, reason=exc.reason) from None
        return store

    @classmethod
    async def from_config(cls, cfg: RedisConfig, *,
                          server_clock: Callable[[], float] | str | None = None) -> "RedisStore":
        """Connect as config/acd.yaml's ``redis`` section says (password from env or file)."""
        return await cls.connect(cfg.host, cfg.port, prefix=cfg.prefix, password=cfg.password(), db=cfg.db,
                                 poolsize=cfg.poolsize, slow_call_s=cfg.slow_call_s,
                                 call_timeout_s=cfg.call_timeout_s, sentinels=cfg.sentinels,
                                 service_name=cfg.service_name, server_clock=server_clock)

    async def _load_scripts(self) -> None:
        """Load every script at start, in one round trip: a script Redis cannot compile is
        found now, not at the first call that needs it."""
        runners = [self._runner(s) for s in SCRIPTS.values()]

        async def load():
            pipe = self.redis.pipeline(transaction=False)
            for r in runners:
                pipe.script_load(r.script)
            await pipe.execute()

        await self._call("SCRIPT LOAD", load)

    def _runner(self, script: lua.Script):
        runner = self._scripts.get(script)
        if runner is None:
            runner = self._scripts[script] = self.redis.register_script(script.source)
        return runner

    async def close(self) -> None:
        await close_client(self.redis, self._sentinel)

    # -- plumbing ---------------------------------------------------------------------------
    async def _call(self, op: str, fn, *args):
        """One Redis call, timed, bounded by ``call_timeout_s`` (waiting for a turn included),
        its failure classified (acd.redis_faults).  A call given up on is cut off with its
        connection, which redis-py drops rather than reuse half-read."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.call_timeout_s):
                async with self._in_flight:
                    result = await fn(*args)
        except (TimeoutError, rx.TimeoutError):
            self.slow.note(op, time.monotonic() - started, answered=False)
            reason = f"no answer within {self.call_timeout_s:g} s"
            raise StoreUnavailable(f"Redis at {self.address}: {op}: {reason}", op=op, reason=reason) from None
        except Exception as exc:
            self.slow.note(op, time.monotonic() - started)
            raise classify(exc, op, self.address) from None
        self.slow.note(op, time.monotonic() - started)
        return result

    async def run_script(self, script: lua.Script, *args, channel_keys: list[str] = ()) -> object:
        """Run ``script`` with KEYS = its declared keys under the prefix (then ``channel_keys``,
        whole keys of one channel each: acd.leases), ARGV = [prefix, *args]."""
        keys = [self.prefix + k for k in script.keys] + list(channel_keys)
        argv = [self.prefix, *[a if isinstance(a, str) else _num(a) for a in args]]
        return await self._call(script.name, self._runner(script), keys, argv)

    async def _run(self, name: str, *args) -> object:
        return await self.run_script(SCRIPTS[name], *args)

    async def _cmd(self, method: str, *args, **options):
        fn = getattr(self.redis, method)
        return await self._call(method.upper(), functools.partial(fn, **options) if options else fn, *args)

    def _server_now(self, now: float) -> str:
        """'' asks the scripts to use Redis's clock; tests that play the server's clock pass theirs
        (:data:`CALLERS_CLOCK`: the ``now`` each call is given, as the memory store does)."""
        if self.server_clock is None:
            return ""
        return _num(now if self.server_clock == CALLERS_CLOCK else self.server_clock())

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- events -----------------------------------------------------------------------------
    async def listen(self, handler: Handler) -> None:
        """Deliver ``<prefix>events`` to ``handler`` until cancelled (see Store.listen).

        Every failure is logged and the feed starts again, with ``("resubscribed", "")``
        once it listens: the handler catches up on what it may have missed.  A handler
        that raises missed its event, so it gets the same.
        """
        channel = self.prefix + "events"
        attempt = 0
        while True:
            pubsub = self.redis.pubsub()
            try:
                async with asyncio.timeout(self.call_timeout_s):
                    await pubsub.subscribe(channel)
                    while (await pubsub.get_message(timeout=None) or {}).get("type") != "subscribe":
                        pass
                if attempt:
                    self.log.info("acd.subscriber_back", attempts=attempt)
                attempt = 0
                self._deliver(handler, "resubscribed", "")
                await self._feed(pubsub, handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:        # the link broke: log, wait, subscribe again
                reason = f"no answer within {self.call_timeout_s:g} s" if isinstance(
                    exc, (TimeoutError, rx.TimeoutError)) else link_reason(exc)
                self.log.warning("acd.subscriber_lost" if attempt == 0 else "acd.subscriber_down",
                                 error=reason, attempt=attempt,
                                 exc_info=not isinstance(exc, (rx.RedisError, OSError, StoreError)))
                await pause_before_retry(attempt, 0.1, 2.0)
                attempt += 1
            finally:
                await _quietly(pubsub.aclose())

    async def _feed(self, pubsub, handler: Handler) -> None:
        pinged = False
        while True:
            msg = await pubsub.get_message(timeout=LISTEN_PING_S)
            if msg is None:
                if pinged:
                    raise StoreUnavailable(f"no answer to PING within {LISTEN_PING_S:g} s",
                                           op="SUBSCRIBE", reason="no answer to PING")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if msg.get("type") == "message":
                kind, _, payload = str(msg["data"]).partition(":")
                self._deliver(handler, kind, payload)

    def _deliver(self, handler: Handler, kind: str, payload: str) -> None:
        try:
            handler(kind, payload)
        except Exception as exc:
            self.log.error("acd.subscriber_handler_failed", kind=kind, error=str(exc) or type(exc).__name__,
                           exc_info=True)
            if kind != "resubscribed":
                self._deliver(handler, "resubscribed", "")

    # -- operations -------------------------------------------------------------------------
    async def ensure_epoch(self, node, now):
        return await self._run("EPOCH", node, now)

    async def server_id(self) -> str:
        """The run id of the server answering: another after a failover or a restart, when the
        data set stays but its last writes may be lost (acd.lifecycle reconciles them)."""
        return str((await self._cmd("info", "server")).get("run_id", ""))

    async def sync_agents(self, agents: Iterable[Agent], now):
        batch = [json.dumps(a.to_dict(), ensure_ascii=False) for a in agents]
        for i in range(0, len(batch), 200):
            await self._run("SYNC_AGENTS", now, *batch[i:i + 200])

    async def agent_action(self, agent_id, action, reason, now):
        out = json.loads(await self._run("AGENT_ACTION", agent_id, action, reason or "", now))
        if "error" in out:
            raise AcdError(out["error"])
        return Agent.from_dict(out["agent"])

    async def agents(self):
        rows = await self._call("AGENTS", agents_view.agent_records, self.redis, self.prefix)
        return [Agent.from_dict(json.loads(v)) for _, v in rows]

    async def _mget(self, keys: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for i in range(0, len(keys), 500):
            out.extend(await self._cmd("mget", keys[i:i + 500]))
        return out

    async def changes(self):
        return int(await self._cmd("get", self.key("changes")) or 0)

    async def get_agent(self, agent_id):
        v = await self._cmd("get", agents_view.agent_key(self.prefix, agent_id))
        return Agent.from_dict(json.loads(v)) if v else None

    async def enqueue(self, call):
        return int(await self._run("ENQUEUE", json.dumps(call.to_dict(), ensure_ascii=False)))

    async def get_call(self, call_id):
        v = await self._cmd("get", self.key("call", call_id))
        return Call.from_dict(json.loads(v)) if v else None

    async def get_calls(self, call_ids):
        if not call_ids:
            return []
        values = await self._mget([self.key("call", c) for c in call_ids])
        return [Call.from_dict(json.loads(v)) if v else None for v in values]

    async def snapshot(self, limit):
        raw = await self._run("SNAPSHOT", limit)
        if not raw:
            return [], []
        agent_part, _, call_part = raw.partition("\n\n")
        agents = []
        for row in agent_part.split("\n"):
            if not row:
                continue
            aid, idle, queues, skills = row.split("\t")
            levels = {}
            for item in skills.split(",") if skills else ():
                name, _, level = item.partition(":")
                levels[name] = int(float(level))
            agents.append(Agent(id=aid, dial="", queues=queues.split(",") if queues else [], skills=levels,
                                state="available", idle_since=float(idle)))
        calls = []
        for row in call_part.split("\n"):
            if not row:
                continue
            cid, queue, prio, enq, due, kind, skills = row.split("\t")
            calls.append(Call(call_id=cid, queue=queue, skills=skills.split(",") if skills else [],
                              priority=int(float(prio)), enqueued_at=float(enq), due_at=float(due), kind=kind))
        return agents, calls

    async def claim(self, pairs, now):
        if not pairs:
            return []
        flat: list = []
        for call_id, agent_id, ring, grace in pairs:
            flat += [call_id, agent_id, ring, grace]
        rows = json.loads(await self._run("CLAIM", self._server_now(now), *flat))
        return [_offer(r) for r in rows]

    async def ring_result(self, call_id, agent_id, status, now, max_misses, party="agent", retry_s=0.0,
                          max_attempts=1, reason=""):
        return await self._run("RING_RESULT", call_id, agent_id, status, now, max_misses, party, retry_s,
                               max_attempts, reason)

    async def call_ended(self, call_id, agent_id, talk_s, now, wrapup_s):
        return bool(await self._run("CALL_ENDED", call_id, agent_id, talk_s, now, wrapup_s))

    async def release_wrapups(self, now):
        return json.loads(await self._run("RELEASE_WRAPUPS", now))

    async def reap_offers(self, now, max_reaps=3):
        return json.loads(await self._run("REAP_OFFERS", self._server_now(now), max_reaps))

    async def abandon(self, call_id, now, callback):
        from acd.store import _callback_for
        cb = ""
        if callback:
            call = await self.get_call(call_id)
            task = _callback_for(call, now, callback) if call is not None else None
            if task is not None:
                cb = json.dumps(task.to_dict(), ensure_ascii=False)
        return await self._run("ABANDON", call_id, now, cb)

    async def request_callback(self, call_id, now, number=""):
        return bool(await self._run("REQUEST_CALLBACK", call_id, number))

    async def pop_callback(self):
        v = await self._run("POP_CALLBACK")
        return _offer(json.loads(v)) if v else None

    async def position(self, call_id):
        pos, queue = json.loads(await self._run("POSITION", call_id))
        return int(pos), queue

    async def queues_seen(self):
        return sorted(await self._cmd("smembers", self.key("queues")))

    async def waiting(self):
        out = {}
        for q in await self.queues_seen():
            items = await self._cmd("zrange", self.key("wait", q), 0, -1, withscores=True)
            if items:
                out[q] = sorted(items, key=lambda kv: kv[1])
        return out

    async def outcomes(self, queue, since):
        items = await self._cmd("zrangebyscore", self.key("out", queue), float(since), "+inf", withscores=True)
        rows = []
        for member, ts in items:
            _, outcome, wait = member.rsplit("|", 2)
            rows.append((ts, outcome, float(wait)))
        rows.sort()
        return rows

    async def put_record(self, record, now, retention_s):
        await self._run("PUT_RECORD", record["call_id"], json.dumps(record, ensure_ascii=False),
                        record.get("ts", now), retention_s, now)

    async def records(self, since, until=None):
        raw = await self._run("GET_RECORDS", since, "+inf" if until is None else until)
        return json.loads(raw)

    async def restore_agent(self, agent):
        return bool(await self._run("RESTORE_AGENT", json.dumps(agent.to_dict(), ensure_ascii=False)))

    async def restore_call(self, call, now):
        return bool(await self._run("RESTORE_CALL", json.dumps(call.to_dict(), ensure_ascii=False), now,
                                    self._server_now(now)))

    async def request_transfer(self, call_id, agent_id, request_json, now):
        return str(await self._run("REQUEST_TRANSFER", call_id, agent_id, request_json, now))

    async def request_spy(self, call_id, spy_json, now):
        return str(await self._run("REQUEST_SPY", call_id, spy_json, now))

    async def recall_agent(self, call_id, agent_id, ring_s, grace_s, now):
        row = await self._run("RECALL_AGENT", call_id, agent_id, ring_s, grace_s, self._server_now(now))
        return _offer(json.loads(row)) if row else None

    async def publish_stats(self, payload):
        await self._cmd("set", self.key("stats"), payload)
        await self._cmd("publish", self.prefix + "wallboard", payload)

    async def heartbeat(self, node, now, status):
        await self._cmd("hset", self.key("nodes"), node, json.dumps([now, status]))

    async def nodes(self):
        raw = await self._cmd("hgetall", self.key("nodes"))
        return {k: tuple(json.loads(v)) for k, v in raw.items()}

    async def delete_all(self) -> int:
        """Remove every key under this prefix (tests, and `acd reset`)."""
        async def scan():
            return [k async for k in self.redis.scan_iter(match=_glob_escape(self.prefix) + "*", count=500)]

        keys = await self._call("SCAN", scan)
        for i in range(0, len(keys), 500):
            await self._cmd("delete", *keys[i:i + 500])
        return len(keys)

    # -- wrap-up (acd/wrapup.py) ---------------------------------------------------------------
    async def wrapup_extend(self, agent_id, seconds, max_s, now):
        out = json.loads(await self._run("WRAPUP_EXTEND", agent_id, seconds, max_s, now))
        if "error" in out:
            raise AcdError(out["error"])
        return Agent.from_dict(out["agent"])

    async def wrapup_done(self, agent_id, call_id, now):
        out = json.loads(await self._run("WRAPUP_DONE", agent_id, call_id, now))
        if "error" in out:
            raise AcdError(out["error"])
        return Agent.from_dict(out["agent"]), bool(out["done"])


def _offer(r: list) -> Offer:
    return Offer(r[0], r[1], r[2], float(r[3]), r[4], r[5], r[6], int(r[7]))


async def _quietly(aw) -> None:
    try:
        await aw
    except Exception:
        pass


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _num(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
