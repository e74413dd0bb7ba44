"""One supervision tree for every task a node starts, so none fails unseen or outlives a stop.

A hotline must keep serving when one of its parts has a bug: a loop that raises
(the ACD's dispatch, the callback dialer, the store's event feed) is logged with
its reason and started again after :mod:`hotline.backoff`'s delay; a one-shot task
(a call's owner, an offer check) that raises is logged with its bound context (the
call id) and counted.  Nothing is fire-and-forget: every task is held by a scope
of the tree until it ends, so it is neither garbage-collected mid-flight nor left
running after :meth:`Supervisor.cancel_all`.

Why not :class:`asyncio.TaskGroup`: a failing child cancels all its siblings there,
which on a hotline would hang up every caller because one announcement failed.
Here a failure stays where it happened.  The tree keeps TaskGroup's other promise:
the owner stops its scope and awaits every task in it, and the runtime stops the
scopes in a fixed order (new calls off, callbacks, ACD loops, calls, link, store).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable

from hotline import log as logmod
from hotline.backoff import backoff_delay


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Supervisor:
    """A scope of the tree: its own tasks, and child scopes (one per owner: ``acd``, ``engine``...).

    ``failures`` counts this scope's failures (one-shot tasks that raised and loop
    crashes); :attr:`total_failures` adds the children's.
    """

    def __init__(self, name: str = "hotline", *, log=None, parent: "Supervisor | None" = None):
        self.name = name
        self.parent = parent
        self.log = log or logmod.get("hotline.supervisor", scope=name)
        self.tasks: set[asyncio.Task] = set()
        self.children: dict[str, Supervisor] = {}
        self.failures = 0
        self.restarts = 0
        self._loops: set[asyncio.Task] = set()

    def scope(self, name: str, log=None) -> "Supervisor":
        """The child scope ``name`` (made on first use): an owner's share of the tree."""
        child = self.children.get(name)
        if child is None:
            child = self.children[name] = Supervisor(name, log=log, parent=self)
        return child

    # -- starting -------------------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any], *, name: str, log=None,
              on_done: Callable[[asyncio.Task], None] | None = None) -> asyncio.Task:
        """A one-shot task: its failure is logged with ``log``'s context, never raised to anyone."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task_log = log or self.log

        def _done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            self._loops.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                self.failures += 1
                task_log.error("task.failed", task=name, error=_reason(exc),
                               exc_info=(type(exc), exc, exc.__traceback__))
            if on_done is not None:
                try:
                    on_done(t)
                except Exception as exc:  # a bookkeeping bug must not hide the task's end
                    task_log.error("task.on_done_failed", task=name, error=repr(exc))

        task.add_done_callback(_done)
        return task

    def keep_running(self, factory: Callable[[], Awaitable[Any]], *, name: str, log=None,
                     initial_s: float = 0.1, max_s: float = 5.0, healthy_s: float = 30.0) -> asyncio.Task:
        """A loop that must outlive its own bugs: each time ``factory()``'s coroutine raises, the
        failure is logged and the loop starts again after the project's backoff (which starts
        over once a run lasted ``healthy_s``).  A loop that returns has finished its work."""
        task = self.spawn(self._restarting(factory, name, log or self.log, initial_s, max_s, healthy_s), name=name,
                          log=log)
        self._loops.add(task)
        return task

    async def _restarting(self, factory, name: str, log, initial_s: float, max_s: float, healthy_s: float) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            started = loop.time()
            try:
                await factory()
                return
            except Exception as exc:
                if loop.time() - started >= healthy_s:
                    attempt = 0
                delay = backoff_delay(attempt, initial_s, max_s, random.random())
                self.failures += 1
                log.error("task.failed", task=name, error=_reason(exc), restart_in_s=round(delay, 3),
                          attempt=attempt + 1, exc_info=(type(exc), exc, exc.__traceback__))
            await asyncio.sleep(delay)
            attempt += 1
            self.restarts += 1
            log.info("task.restarted", task=name, attempt=attempt)

    # -- looking --------------------------------------------------------------------------
    def all_tasks(self) -> set[asyncio.Task]:
        """Every live task of this scope and of its children."""
        out = set(self.tasks)
        for child in self.children.values():
            out |= child.all_tasks()
        return out

    @property
    def total_failures(self) -> int:
        return self.failures + sum(c.total_failures for c in self.children.values())

    def status(self) -> dict[str, Any]:
        return {"tasks": len(self.tasks), "loops": len(self._loops), "failures": self.failures,
                "restarts": self.restarts, **{name: c.status() for name, c in self.children.items()}}

    # -- stopping -------------------------------------------------------------------------
    async def wait(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` for the one-shot tasks (loops never end by themselves)."""
        pending = self._one_shots()
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def _one_shots(self) -> set[asyncio.Task]:
        out = self.tasks - self._loops
        for child in self.children.values():
            out |= child._one_shots()
        return out

    async def cancel(self, tasks) -> None:
        """Cancel ``tasks`` and await them: when this returns none of them runs any more
        (but the task asking, if it is one of them: it is the one stopping the others)."""
        me = asyncio.current_task()
        tasks = [t for t in tasks if not t.done() and t is not me]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def cancel_all(self) -> None:
        """Cancel this scope's children (newest first), then its own tasks, and await them all.
        Repeats while a task being cancelled started another (a call's last write)."""
        for child in reversed(list(self.children.values())):
            await child.cancel_all()
        me = asyncio.current_task()
        for _ in range(10):
            if not self.tasks - {me}:
                return
            await self.cancel(list(self.tasks))
        if self.tasks - {me}:
            self.log.error("tasks.left_running", scope=self.name,
                           tasks=sorted(t.get_name() for t in self.tasks - {me})[:20])
