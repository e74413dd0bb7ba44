"""Tasks whose failure somebody sees.

Every background task the engine starts goes through :class:`TaskGroup`-like
:class:`Supervisor`: it keeps a reference (so the task is not garbage-collected
mid-flight), logs an exception with the task's bound context (the call id for a
call's task), and lets shutdown wait for or cancel what is left.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from hotline import log as logmod


class Supervisor:
    def __init__(self, log=None):
        self.log = log or logmod.get("ivr.supervisor")
        self.tasks: set[asyncio.Task] = set()
        self.failures = 0

    def spawn(self, coro: Awaitable[Any], *, name: str, log=None,
              on_done: Callable[[asyncio.Task], None] | None = None) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task_log = log or self.log

        def _done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.failures += 1
                exc = t.exception()
                task_log.error("task.failed", task=name, error=f"{type(exc).__name__}: {exc}",
                               exc_info=(type(exc), exc, exc.__traceback__))
            if on_done is not None:
                try:
                    on_done(t)
                except Exception as exc:  # a bookkeeping bug must not hide the call's end
                    task_log.error("task.on_done_failed", task=name, error=repr(exc))

        task.add_done_callback(_done)
        return task

    async def wait(self, timeout: float | None = None) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)

    async def cancel_all(self) -> None:
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
