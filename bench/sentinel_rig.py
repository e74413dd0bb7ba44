"""A private Redis Sentinel set-up on loopback: one master, its replicas, three Sentinels.

Used by bench/bench_routing.py (decisions/s through Sentinel, the failover figure) and
tests/acd/test_sentinel.py.  Every server is its own ``redis-server`` process on a free
port, its files (configs, logs) in ``workdir``; :meth:`SentinelRig.stop` kills them all
and is safe to call at any point, also from a finalizer after a failed start.

A failover that loses writes, on demand: :meth:`SentinelRig.cut_replication` stops the
replicas (SIGSTOP, shorter than ``down-after-milliseconds`` so that the Sentinels still
count them as up) and closes the master's links to them (``CLIENT KILL TYPE replica``),
so whatever the master acknowledges from then on exists on the master alone;
:meth:`SentinelRig.kill_master` then kills it with SIGKILL and lets the replicas run
again.  Asynchronous replication loses writes in the same way, only fewer and by
chance: a master that dies before its replicas received its last writes.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

from redis.asyncio import Redis

SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class RigError(RuntimeError):
    """The set-up did not come up (or over) in time; the message ends with the logs' last lines."""


class SentinelRig:
    def __init__(self, workdir: str | os.PathLike, *, service: str = "hotline", replicas: int = 1,
                 sentinels: int = 3, quorum: int = 2, down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                 master_options: tuple[str, ...] = ()):
        self.workdir = pathlib.Path(workdir)
        self.service = service
        self.n_replicas, self.n_sentinels, self.quorum = replicas, sentinels, quorum
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.master_options = master_options      # e.g. ("--min-replicas-to-write", "1")
        self.procs: dict[int, subprocess.Popen] = {}   # port -> process
        self.master_port = 0
        self.replica_ports: list[int] = []
        self.sentinel_ports: list[int] = []
        self.killed_at: float | None = None        # time.monotonic() of kill_master
        self._stopped: set[int] = set()

    # -- addresses -----------------------------------------------------------------------------
    @property
    def sentinels(self) -> list[str]:
        """``host:port`` of each Sentinel, as config/acd.yaml's ``redis.sentinels`` lists them."""
        return [f"{HOST}:{p}" for p in self.sentinel_ports]

    def client(self, port: int) -> Redis:
        return Redis(host=HOST, port=port, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0)

    # -- start and stop -----------------------------------------------------------------------
    async def start(self, timeout_s: float = 20.0) -> "SentinelRig":
        """Master and replicas in sync, then Sentinels that see the master, every replica and
        each other: a failover can start as soon as this returns."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        self.master_port = free_port()
        self._server(self.master_port, "master", *self.master_options)
        for i in range(self.n_replicas):
            port = free_port()
            self.replica_ports.append(port)
            self._server(port, f"replica{i}", "--replicaof", HOST, str(self.master_port))
        await self._until(deadline, self._replicas_in_sync, "replicas in sync with the master")
        for i in range(self.n_sentinels):
            port = free_port()
            self.sentinel_ports.append(port)
            conf = self.workdir / f"sentinel{i}.conf"
            conf.write_text("\n".join([
                f"port {port}", f"bind {HOST}", f"dir {self.workdir}", f"logfile {self.workdir / f'sentinel{i}.log'}",
                f"sentinel monitor {self.service} {HOST} {self.master_port} {self.quorum}",
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
                f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {self.service} 1", ""]))
            self.procs[port] = subprocess.Popen([SERVER, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, cwd=self.workdir)
        await self._until(deadline, self._sentinels_ready, "Sentinels seeing the master, its replicas and each other")
        return self

    def _server(self, port: int, name: str, *extra: str) -> None:
        log = self.workdir / f"{name}.log"
        self.procs[port] = subprocess.Popen(
            [SERVER, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(log), "--dbfilename", f"{name}.rdb",
             "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir)

    def stop(self) -> None:
        """Kill every process of the set-up and reap it (stopped ones are continued first)."""
        for port, proc in self.procs.items():
            if proc.poll() is None:
                if port in self._stopped:
                    _signal(proc, signal.SIGCONT)
                _signal(proc, signal.SIGKILL)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._stopped.clear()

    async def __aenter__(self) -> "SentinelRig":
        try:
            return await self.start()
        except BaseException:
            self.stop()
            raise

    async def __aexit__(self, *exc) -> None:
        self.stop()

    # -- the failover ---------------------------------------------------------------------------
    async def master_offset(self) -> int:
        """The master's replication offset: how far its writes go."""
        return int((await self._info(self.master_port, "replication"))["master_repl_offset"])

    async def cut_replication(self) -> int:
        """From now on the master's writes reach no replica (see the module's doc); returns the
        master's replication offset at the cut."""
        for port in self.replica_ports:
            _signal(self.procs[port], signal.SIGSTOP)
            self._stopped.add(port)
        admin = self.client(self.master_port)
        try:
            await admin.execute_command("CLIENT", "KILL", "TYPE", "replica")
            return int((await admin.info("replication"))["master_repl_offset"])
        finally:
            await admin.aclose()

    def kill_master(self) -> float:
        """SIGKILL the master (and let stopped replicas run again); returns the moment (monotonic)."""
        proc = self.procs[self.master_port]
        _signal(proc, signal.SIGKILL)
        self.killed_at = time.monotonic()
        proc.wait(5)
        for port in list(self._stopped):
            _signal(self.procs[port], signal.SIGCONT)
            self._stopped.discard(port)
        return self.killed_at

    async def wait_failover(self, timeout_s: float = 20.0) -> int:
        """Until every Sentinel names a replica as the master and it says it is one; returns its port."""
        deadline = time.monotonic() + timeout_s

        async def promoted():
            ports = set()
            for port in self.sentinel_ports:
                addr = await self._ask(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                if not addr or int(addr[1]) == self.master_port:
                    return None
                ports.add(int(addr[1]))
            if len(ports) != 1:
                return None
            port = ports.pop()
            role = await self._info(port, "replication")
            return port if role.get("role") == "master" else None

        return await self._until(deadline, promoted, "a replica promoted by every Sentinel")

    async def replica_offset(self, port: int) -> int:
        """How far a replica (or a promoted one, before its own writes) got in the old master's stream."""
        info = await self._info(port, "replication")
        return int(info.get("slave_repl_offset") or info.get("master_repl_offset") or 0)

    # -- plumbing --------------------------------------------------------------------------------
    async def _replicas_in_sync(self) -> bool:
        info = await self._info(self.master_port, "replication")
        if int(info.get("connected_slaves", 0)) < self.n_replicas:
            return False
        for port in self.replica_ports:
            if (await self._info(port, "replication")).get("master_link_status") != "up":
                return False
        return True

    async def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            state = await self._ask(port, "SENTINEL", "MASTER", self.service)
            if not state:
                return False
            if int(state.get("num-slaves", 0)) < self.n_replicas or \
                    int(state.get("num-other-sentinels", 0)) < self.n_sentinels - 1:
                return False
        return True

    async def _info(self, port: int, section: str) -> dict:
        admin = self.client(port)
        try:
            return await admin.info(section)
        finally:
            await admin.aclose()

    async def _ask(self, port: int, *command):
        admin = self.client(port)
        try:
            return await admin.execute_command(*command)
        finally:
            await admin.aclose()

    async def _until(self, deadline: float, check, what: str, poll_s: float = 0.05):
        last = ""
        while True:
            for port, proc in self.procs.items():
                if proc.poll() is not None and port != self.master_port:
                    raise RigError(f"{what}: the server on port {port} exited ({proc.returncode}){self._tails()}")
            try:
                got = await check()
                if got:
                    return got
            except (OSError, ConnectionError, TimeoutError) as exc:
                last = f" (last error: {exc})"
            except Exception as exc:     # redis-py's own errors (connection refused while starting...)
                last = f" (last error: {type(exc).__name__}: {exc})"
            if time.monotonic() >= deadline:
                raise RigError(f"timed out waiting for {what}{last}{self._tails()}")
            await asyncio.sleep(poll_s)

    def _tails(self, lines: int = 5) -> str:
        out = []
        for log in sorted(self.workdir.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"\n--- {log.name}\n" + "\n".join(text))
        return "".join(out)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
