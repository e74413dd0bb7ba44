"""Run the PBX in its own process, so a benchmark can tell its CPU from the engine's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import deque

#: Lines of its stderr kept (its summary line is the last): a long run logs more than a pipe holds.
KEEP_LINES = 500


class PbxProcess:
    """``async with PbxProcess("--speed", "1", "--secret", s) as pbx: pbx.port ...``"""

    def __init__(self, *args: str, on_stderr=None):
        """``on_stderr``: told each line of the PBX's log as it comes (bytes), e.g. to keep it in a file."""
        self.args = list(args)
        self.on_stderr = on_stderr
        self.proc: asyncio.subprocess.Process | None = None
        self.host = ""
        self.port = 0
        self._err: deque[bytes] = deque(maxlen=KEEP_LINES)
        self._drains: list[asyncio.Task] = []

    async def start(self, timeout: float = 20.0) -> tuple[str, int]:
        argv = [sys.executable, "-m", "ivr.pbx", "--port", "0", *self.args]
        self.proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE)
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            err = (await self.proc.stderr.read()).decode(errors="replace").strip()
            raise RuntimeError(f"PBX process did not start: {err}")
        info = json.loads(line)
        self.host, self.port = info["host"], info["port"]
        # Read both pipes for as long as it runs: a PBX whose pipe is full blocks on its next
        # log line, every call with it (a 500-call benchmark stalled so).
        self._drains = [asyncio.ensure_future(self._drain(self.proc.stdout, None, None)),
                        asyncio.ensure_future(self._drain(self.proc.stderr, self._err, self.on_stderr))]
        return self.host, self.port

    @staticmethod
    async def _drain(stream, keep: deque | None, tell) -> None:
        while line := await stream.readline():
            if keep is not None:
                keep.append(line)
            if tell is not None:
                tell(line)

    async def _drained(self) -> str:
        """Once the process has exited: the pipes' last lines read, the readers gone."""
        if self._drains:
            await asyncio.wait(self._drains, timeout=5)
            for task in self._drains:
                task.cancel()
            await asyncio.gather(*self._drains, return_exceptions=True)
            self._drains = []
        return b"".join(self._err).decode(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the PBX process has used so far (Linux /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    @property
    def pid(self) -> int:
        return self.proc.pid

    def freeze(self) -> None:
        """SIGSTOP: a PBX that answers nothing and sends nothing, its sockets still open."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL, as a crash: no clean-up; ``--records`` keeps only the calls that ended."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)      # a frozen process must be able to die
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 20)
            await self._drained()

    async def stop(self) -> str:
        """Stop it; returns what it printed on stderr (its summary line last)."""
        if self.proc is None:
            return ""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 20)
        return await self._drained()

    async def __aenter__(self) -> "PbxProcess":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
