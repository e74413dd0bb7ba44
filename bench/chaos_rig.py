"""The chaos benchmark's rig: a private Redis, the built-in PBX's lives, `ivr serve`, and the
two small clients the benchmark talks through (AMI for the PBX's test actions, RESP for Redis).

Everything runs in its own process, as in production: a fault in one (SIGKILL, SIGSTOP, a CPU
hog pinned beside it, a Redis out of memory) reaches the others only over their sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

from ivr.ami.protocol import Message, Parser, encode
from ivr.pbx.process import PbxProcess

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- Redis ------------------------------------------------------------------------------------

class Resp:
    """One RESP connection: commands in, replies out (errors come back as ``RespError``)."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, timeout: float = 2.0) -> "Resp":
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        return cls(reader, writer)

    async def call(self, *args, timeout: float = 30.0):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.writer.write(b"".join(out))
        return await asyncio.wait_for(self._reply(), timeout)

    async def _reply(self):
        line = (await self.reader.readline()).rstrip(b"\r\n")
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = await self.reader.readexactly(n + 2)
            return data[:-2].decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [await self._reply() for _ in range(n)]
        raise ConnectionError(f"Redis sent {line[:40]!r}")

    def close(self) -> None:
        self.writer.close()


class RespError(str):
    """An error reply (``-OOM command not allowed ...``), kept as text."""


class RedisServer:
    """redis-server on a free loopback port, its data in ``folder`` (AOF: a restart keeps it)."""

    def __init__(self, folder: pathlib.Path, port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        return ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--enable-debug-command", "yes", "--maxmemory-policy", "noeviction", "--logfile",
                str(self.folder / "redis.log")]

    async def start(self, timeout: float = 10.0) -> None:
        try:
            self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = await Resp.connect(self.port)
                try:
                    if await r.call("PING", timeout=1) == "PONG":
                        return
                finally:
                    r.close()
            except (OSError, asyncio.TimeoutError, ConnectionError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port} (see {self.folder}/redis.log)")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SHUTDOWN as an operator does it: the AOF is flushed, the data survive the restart."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, 20)

    async def call(self, *args, timeout: float = 30.0):
        r = await Resp.connect(self.port)
        try:
            return await r.call(*args, timeout=timeout)
        finally:
            r.close()


# -- the PBX's AMI, for the benchmark's own actions --------------------------------------------

class Control:
    """A logged-in AMI session with no events, reconnecting on demand: the PBX drops it with
    every other session, and a new PBX life listens on the same port."""

    def __init__(self, host: str, port: int, secret: str):
        self.host, self.port, self.secret = host, port, secret
        self.reader = self.writer = None
        self.parser: Parser | None = None
        self.seq = 0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 3)
        self.parser = Parser(max_message=64 * 1024 * 1024)
        self.pending: list[Message] = []
        reply = await self._send("Login", [("Username", "hotline"), ("Secret", self.secret), ("Events", "off")])
        if reply.response != "Success":
            raise RuntimeError(f"PBX refused the benchmark's login: {reply.get('Message')}")

    def _drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _read(self) -> Message:
        while not self.pending:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("PBX closed the AMI session")
            self.pending += [m for m in self.parser.feed(data) if isinstance(m, Message)]
        return self.pending.pop(0)

    async def _send(self, name: str, headers: list, until: str | None = None):
        self.seq += 1
        aid = f"chaos-{self.seq}"
        self.writer.write(encode([("Action", name), ("ActionID", aid), *headers]))
        items, reply = [], None
        while True:
            m = await self._read()
            if m.action_id != aid:
                continue
            if m.response is not None:
                reply = m
                if until is None or m.response != "Success":
                    return m
            elif m.event == until:
                return reply, items
            elif m.event:
                items.append(m)

    async def action(self, name: str, headers: list | None = None, *, until: str | None = None,
                     timeout: float = 20.0):
        """One action (``until``: the event that ends its list); retried on a fresh session
        until ``timeout`` when the AMI is away."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.writer is None:
                    await self._connect()
                return await asyncio.wait_for(self._send(name, list(headers or []), until), 10)
            except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                self._drop()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PBX AMI did not answer {name} for {timeout:g} s: {exc!r}") from None
                await asyncio.sleep(0.2)

    async def test(self, operation: str, **headers):
        return await self.action("PbxTest", [("Operation", operation), *headers.items()])

    async def stats(self) -> dict:
        return dict((await self.test("Stats")).headers)

    async def live_calls(self) -> list[dict]:
        reply, items = await self.action("PbxTest", [("Operation", "LiveCalls")], until="PbxTestCallsComplete")
        out = []
        for m in items:
            rec = json.loads(m["Record"])
            rec["_application"], rec["_context"] = m.get("Application", ""), m.get("Context", "")
            out.append(rec)
        return out

    def close(self) -> None:
        self._drop()


# -- the PBX's lives ----------------------------------------------------------------------------

class PbxLives:
    """The built-in PBX in its own process; after a SIGKILL a new life takes the same port, its
    Uniqueids far from the previous life's, and generates the callers not yet placed."""

    def __init__(self, common: list[str], calls: int, rate: float, seed: int, log_path: pathlib.Path):
        self.common, self.calls, self.rate, self.seed = common, calls, rate, seed
        self.log_path = log_path
        self.life = 0
        self.proc: PbxProcess | None = None
        self.port = 0
        self.placed_before = 0          # callers placed by the lives that were killed

    def _keeper(self, life: int):
        """Each line of one life's log (read as it comes by PbxProcess) into one file."""
        def keep(raw: bytes) -> None:
            with open(self.log_path, "a", encoding="utf-8") as out:
                out.write(f"[life {life}] " + raw.decode("utf-8", "replace"))
        return keep

    async def _end(self, sig: int) -> None:
        proc = self.proc.proc
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)          # a frozen process must be able to go
            proc.send_signal(sig)
            await asyncio.wait_for(proc.wait(), 30)
        await self.proc.stop()          # the log's last lines read

    async def stop(self) -> None:
        """SIGTERM: the calls still up are hung up and their records appended."""
        await self._end(signal.SIGTERM)

    async def start(self) -> None:
        left = self.calls - self.placed_before
        args = [*self.common, "--uniqueid-start", str(self.life * 1_000_000 + 1),
                "--load-seed", str(self.seed * 100 + self.life)]
        if left > 0:
            args += ["--load-calls", str(left), "--load-rate", str(self.rate), "--load-after-login"]
        if self.port:
            args += ["--port", str(self.port)]
        self.proc = PbxProcess(*args, on_stderr=self._keeper(self.life))
        _, self.port = await self.proc.start()

    async def kill_and_restart(self, placed_now: int, down_s: float) -> None:
        await self._end(signal.SIGKILL)
        self.placed_before += placed_now
        await asyncio.sleep(down_s)
        self.life += 1
        await self.start()

    def set_cpus(self, cpus: set[int]) -> None:
        os.sched_setaffinity(self.proc.pid, cpus)


def cpu_hog(cpu: int) -> subprocess.Popen:
    """A CPU-bound neighbour pinned to ``cpu`` and given a better priority when allowed."""
    code = ("import os\nos.sched_setaffinity(0, {%d})\ntry:\n    os.nice(-5)\nexcept OSError:\n    pass\n"
            "while True:\n    pass\n" % cpu)
    return subprocess.Popen([sys.executable, "-c", code])


# -- `ivr serve` ---------------------------------------------------------------------------------

class EngineProcess:
    """`ivr serve` with its JSON log lines kept (and written to ``log_path`` as they come)."""

    def __init__(self, argv: list[str], env: dict, log_path: pathlib.Path):
        self.argv, self.env, self.log_path = argv, env, log_path
        self.events: list[dict] = []
        self.proc = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr.cli", "--log-level", "info", "serve", *self.argv, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT), limit=16 * 1024 * 1024)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with open(self.log_path, "w", encoding="utf-8") as out:
            while True:
                raw = await self.proc.stderr.readline()
                if not raw:
                    return
                text = raw.decode("utf-8", "replace")
                out.write(text)
                if text.startswith("{"):
                    try:
                        self.events.append(json.loads(text))
                    except ValueError:
                        pass

    async def wait_for(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("event") == event:
                    return e
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ivr serve: no {event} within {timeout:g} s (log: {self.log_path})")
            await asyncio.sleep(0.05)

    def held(self) -> dict[str, dict]:
        """Calls the engine started and has not ended (by its log lines): call id -> start line."""
        live: dict[str, dict] = {}
        for e in self.events:
            name, uid = e.get("event"), e.get("call_id")
            if not uid:
                continue
            if name in ("call.start", "call.taken_up"):
                live.setdefault(uid, e)
            elif name == "call.end":
                live.pop(uid, None)
        return live

    async def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)
        return self.proc.returncode


async def acd_cli(config: pathlib.Path, redis_port: int, *args: str) -> str:
    """The `acd` command as a supervisor runs it; its output (stdout)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "acd.cli", "--config", str(config), "--redis", f"127.0.0.1:{redis_port}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise RuntimeError(f"acd {' '.join(args)}: {err.decode().strip()}")
    return out.decode()
