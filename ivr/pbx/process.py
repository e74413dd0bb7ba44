"""Run the PBX in its own process, so a benchmark can tell its CPU from the engine's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys


class PbxProcess:
    """``async with PbxProcess("--speed", "1", "--secret", s) as pbx: pbx.port ...``"""

    def __init__(self, *args: str):
        self.args = list(args)
        self.proc: asyncio.subprocess.Process | None = None
        self.host = ""
        self.port = 0

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
        return self.host, self.port

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
            await asyncio.wait_for(self.proc.communicate(), 20)

    async def stop(self) -> str:
        """Stop it; returns what it printed on stderr (its summary line last)."""
        if self.proc is None or self.proc.returncode is not None:
            return ""
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), 20)
        return err.decode(errors="replace")

    async def __aenter__(self) -> "PbxProcess":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
