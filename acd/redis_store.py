"""The shared store: Redis through asyncio-redis, every state change one Lua script.

Connection handling is the point of this module.  At start, an unreachable Redis
is one clear error naming the address (:class:`RedisUnreachable`).  Mid-run, every
call keeps Redis's own reason when it fails and says whether waiting helps
(acd/redis_faults.py): :class:`StoreUnavailable` for a passing condition (link down,
out of memory, loading, busy, read-only, no answer within ``call_timeout_s``), which
the ACD retries with backoff, and :class:`StoreScriptError` for a bug, never retried.
Since each script either ran whole or not at all, a retry never assigns anything
twice.  Scripts are registered once and re-loaded if Redis forgets them (a restart
empties its script cache).  Every call slower than ``slow_call_s`` is logged with its
duration and name.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Iterable

import asyncio_redis

from acd import lua
from acd.config import PASSWORD_ENV, RedisConfig
from acd.model import AcdError, Agent, Call, Offer, StoreUnavailable
from acd.redis_faults import ScriptMissing, SlowCalls, classify
from acd.store import Handler, Store
from hotline.errors import EXIT_UNREACHABLE, EXIT_USER, UserError, describe
from hotline import log as logmod
from hotline.backoff import pause_before_retry


class RedisUnreachable(UserError):
    """Redis cannot be reached at start; str() is the one line to show (exit status 3)."""

    code = EXIT_UNREACHABLE


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def probe(host: str, port: int, password: str | None = None, timeout: float = 3.0) -> None:
    """Fail fast with the address (asyncio-redis itself would retry forever), and check the
    password here, where a refusal can be one clear line (asyncio-redis only prints it)."""
    where = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        raise RedisUnreachable(f"cannot reach Redis at {where}: timed out after {timeout:g} s") from None
    except OSError as exc:
        raise RedisUnreachable(f"cannot reach Redis at {where}: {describe(exc)}") from None
    try:
        if password:
            writer.write(_resp("AUTH", password))
        writer.write(_resp("PING"))
        await writer.drain()
        replies = [await asyncio.wait_for(reader.readline(), timeout) for _ in range(2 if password else 1)]
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        raise RedisUnreachable(f"cannot talk to Redis at {where}: {type(exc).__name__}") from None
    finally:
        writer.close()
    for line in replies:
        text = line.decode(errors="replace").strip()
        if not text:
            raise RedisUnreachable(f"cannot talk to Redis at {where}: connection closed")
        if text.startswith("-"):
            hint = "" if password else f" (set ${PASSWORD_ENV} or redis.password_file)"
            refused = RedisUnreachable(f"Redis at {where} refused us: {text[1:].split('. ')[0]}{hint}")
            refused.code = EXIT_USER        # it answered: the password in the config is the mistake
            raise refused


class RedisStore(Store):
    def __init__(self, pool, host: str, port: int, prefix: str, password: str | None, db: int, *,
                 slow_call_s: float = 1.0, call_timeout_s: float = 10.0):
        self._pool = pool
        self.host, self.port, self.prefix = host, port, prefix
        self.address = f"{host}:{port}"
        self._password, self._db = password, db
        self._scripts: dict[str, str] = {}     # name -> sha
        self._sub_task: asyncio.Task | None = None
        self._sub_conn = None
        self._closed = False
        self.call_timeout_s = call_timeout_s
        self.log = logmod.get("acd.redis", store=self.address)
        self.slow = SlowCalls(self.log, slow_call_s)

    @classmethod
    async def connect(cls, host: str = "127.0.0.1", port: int = 6379, *, prefix: str = "hotline:",
                      password: str | None = None, db: int = 0, poolsize: int = 4,
                      slow_call_s: float = 1.0, call_timeout_s: float = 10.0) -> "RedisStore":
        await probe(host, port, password)
        try:
            pool = await asyncio.wait_for(
                asyncio_redis.Pool.create(host=host, port=port, password=password, db=db,
                                          poolsize=poolsize, auto_reconnect=True), 10)
        except asyncio.TimeoutError:
            raise RedisUnreachable(f"cannot reach Redis at {host}:{port}: no answer") from None
        except asyncio_redis.exceptions.ErrorReply as exc:
            raise RedisUnreachable(f"Redis at {host}:{port} refused us: {exc.args[0] if exc.args else exc}") from None
        for conn in getattr(pool, "_connections", []):
            _cap_reconnect_backoff(conn)
        store = cls(pool, host, port, prefix, password, db, slow_call_s=slow_call_s, call_timeout_s=call_timeout_s)
        try:
            await store._load_scripts()
        except Exception as exc:
            pool.close()
            raise RedisUnreachable(f"Redis at {host}:{port} refused us: {classify(exc, 'SCRIPT LOAD', store.address).reason}") from None
        return store

    @classmethod
    async def from_config(cls, cfg: RedisConfig) -> "RedisStore":
        """Connect as config/acd.yaml's ``redis`` section says (password from env or file)."""
        return await cls.connect(cfg.host, cfg.port, prefix=cfg.prefix, password=cfg.password(), db=cfg.db,
                                 poolsize=cfg.poolsize, slow_call_s=cfg.slow_call_s, call_timeout_s=cfg.call_timeout_s)

    async def _load_scripts(self) -> None:
        for name, code in lua.SCRIPTS.items():
            self._scripts[name] = await self._call("SCRIPT LOAD", "script_load", code)

    async def close(self) -> None:
        self._closed = True
        if self._sub_task:
            self._sub_task.cancel()
            try:
                await self._sub_task
            except (asyncio.CancelledError, Exception):
                pass
        if self._sub_conn is not None:
            self._sub_conn.close()
        self._pool.close()

    # -- which node owns which live channel -----------------------------------------------------
    async def lease_channels(self, node, channels, lease_s):
        if not channels:
            return []
        return json.loads(await self._run("CHANNEL_LEASE", node, float(lease_s), *channels))

    async def release_channel(self, node, channel):
        return bool(await self._run("CHANNEL_RELEASE", node, channel))

    # -- plumbing ---------------------------------------------------------------------------
    async def _call(self, op: str, method: str, *args):
        """One Redis call, timed, its failure classified (acd.redis_faults).

        The query runs as its own task that is never cancelled: asyncio-redis breaks a
        connection for good when a waiting query is cancelled and its answer is an error
        (it sets an exception on a cancelled future inside its reader).  A caller that
        gives up (timeout, cancellation) leaves the task to finish on its own.
        """
        conn = self._pool._get_free_connection()
        if conn is None:
            raise StoreUnavailable(f"Redis at {self.address}: {op}: no connection", op=op, reason="no connection")
        started = time.monotonic()
        task = asyncio.ensure_future(getattr(conn, method)(*args))
        task.add_done_callback(_consume)
        done, _ = await asyncio.wait((task,), timeout=self.call_timeout_s)
        elapsed = time.monotonic() - started
        if not done:
            self.slow.note(op, elapsed, answered=False)
            task.add_done_callback(lambda t: self.slow.note(op, time.monotonic() - started))
            # a connection that does not answer may be half-open: drop it, asyncio-redis reconnects
            transport = getattr(conn.protocol, "transport", None)
            if transport is not None:
                transport.abort()
            reason = f"no answer within {self.call_timeout_s:g} s"
            raise StoreUnavailable(f"Redis at {self.address}: {op}: {reason}", op=op, reason=reason)
        self.slow.note(op, elapsed)
        exc = task.exception()
        if exc is not None:
            raise classify(exc, op, self.address) from None
        return task.result()

    async def _run(self, name: str, *args) -> object:
        argv = [self.prefix, *[a if isinstance(a, str) else _num(a) for a in args]]
        try:
            reply = await self._call(name, "evalsha", self._scripts[name], [], argv)
        except ScriptMissing:
            # Redis restarted and forgot its scripts: load them again, run once more
            await self._load_scripts()
            reply = await self._call(name, "evalsha", self._scripts[name], [], argv)
        return await reply.return_value()

    async def _cmd(self, method: str, *args):
        return await self._call(method.partition("_")[0].upper(), method, *args)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def subscribe(self, handler: Handler) -> None:
        """One subscriber connection per node; re-subscribes after Redis comes back."""
        channel = self.prefix + "events"

        async def loop():
            attempt = 0
            while not self._closed:
                try:
                    conn = await asyncio_redis.Connection.create(
                        self.host, self.port, password=self._password, db=self._db, auto_reconnect=False)
                except (OSError, asyncio_redis.exceptions.Error) as exc:
                    if attempt == 0:
                        self.log.warning("acd.subscriber_down", error=str(exc) or type(exc).__name__)
                    await pause_before_retry(attempt, 0.1, 2.0)
                    attempt += 1
                    continue
                self._sub_conn = conn
                try:
                    sub = await conn.start_subscribe()
                    await sub.subscribe([channel])
                    if attempt:
                        self.log.info("acd.subscriber_back", attempts=attempt)
                    attempt = 0
                    handler("resubscribed", "")
                    while True:
                        msg = await sub.next_published()
                        kind, _, payload = msg.value.partition(":")
                        handler(kind, payload)
                except asyncio.CancelledError:
                    conn.close()
                    raise
                except Exception as exc:   # the connection broke, or a handler failed: log, resubscribe
                    conn.close()
                    self.log.warning("acd.subscriber_lost", error=str(exc) or type(exc).__name__,
                                     exc_info=not isinstance(exc, (OSError, asyncio_redis.exceptions.Error)))
                    await pause_before_retry(attempt, 0.1, 2.0)
                    attempt += 1

        self._sub_task = asyncio.create_task(loop(), name="acd-redis-subscriber")

    # -- operations -------------------------------------------------------------------------
    async def ensure_epoch(self, node, now):
        return await self._run("EPOCH", node, now)

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
        ids = await self._cmd("smembers_asset", self.key("agents"))
        ids = sorted(ids)
        if not ids:
            return []
        values = await self._mget([self.key("agent", i) for i in ids])
        return [Agent.from_dict(json.loads(v)) for v in values if v]

    async def _mget(self, keys: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for i in range(0, len(keys), 500):
            out.extend(await self._cmd("mget_aslist", keys[i:i + 500]))
        return out

    async def get_agent(self, agent_id):
        v = await self._cmd("get", self.key("agent", agent_id))
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
        rows = json.loads(await self._run("CLAIM", now, *flat))
        return [Offer(r[0], r[1], r[2], float(r[3]), r[4], r[5], r[6], int(r[7])) for r in rows]

    async def ring_result(self, call_id, agent_id, status, now, max_misses, party="agent", retry_s=0.0,
                          max_attempts=1, reason=""):
        return await self._run("RING_RESULT", call_id, agent_id, status, now, max_misses, party, retry_s,
                               max_attempts, reason)

    async def call_ended(self, call_id, agent_id, talk_s, now, wrapup_s):
        return bool(await self._run("CALL_ENDED", call_id, agent_id, talk_s, now, wrapup_s))

    async def release_wrapups(self, now):
        return json.loads(await self._run("RELEASE_WRAPUPS", now))

    async def reap_offers(self, now, max_reaps=3):
        return json.loads(await self._run("REAP_OFFERS", now, max_reaps))

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
        if not v:
            return None
        r = json.loads(v)
        return Offer(r[0], r[1], r[2], float(r[3]), r[4], r[5], r[6], int(r[7]))

    async def position(self, call_id):
        pos, queue = json.loads(await self._run("POSITION", call_id))
        return int(pos), queue

    async def queues_seen(self):
        return sorted(await self._cmd("smembers_asset", self.key("queues")))

    async def waiting(self):
        out = {}
        for q in await self.queues_seen():
            items = await self._cmd("zrange_asdict", self.key("wait", q), 0, -1)
            if items:
                out[q] = sorted(items.items(), key=lambda kv: kv[1])
        return out

    async def outcomes(self, queue, since):
        items = await self._cmd("zrangebyscore_asdict", self.key("out", queue),
                                asyncio_redis.ZScoreBoundary(float(since)), asyncio_redis.ZScoreBoundary("+inf"))
        rows = []
        for member, ts in items.items():
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
        return bool(await self._run("RESTORE_CALL", json.dumps(call.to_dict(), ensure_ascii=False), now))

    async def publish_stats(self, payload):
        await self._cmd("set", self.key("stats"), payload)
        await self._cmd("publish", self.prefix + "wallboard", payload)

    async def heartbeat(self, node, now, status):
        await self._cmd("hset", self.key("nodes"), node, json.dumps([now, status]))

    async def nodes(self):
        raw = await self._cmd("hgetall_asdict", self.key("nodes"))
        return {k: tuple(json.loads(v)) for k, v in raw.items()}

    async def delete_all(self) -> int:
        """Remove every key under this prefix (tests, and `acd reset`)."""
        cursor = await self._cmd("scan", self.prefix + "*")
        keys = []
        while True:
            k = await cursor.fetchone()
            if k is None:
                break
            keys.append(k)
        for i in range(0, len(keys), 500):
            await self._cmd("delete", keys[i:i + 500])
        return len(keys)


#: asyncio-redis backs off reconnects up to 60 s; a hotline wants Redis back within seconds.
RECONNECT_BACKOFF_MAX_S = 2.0


def _cap_reconnect_backoff(conn) -> None:
    def increase():
        conn._retry_interval = min(RECONNECT_BACKOFF_MAX_S, 1.5 * conn._retry_interval)

    if hasattr(conn, "_increase_retry_interval"):
        conn._increase_retry_interval = increase


def _consume(task: asyncio.Task) -> None:
    """Fetch a finished query's exception so that nobody reports it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _num(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
