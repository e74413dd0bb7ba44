"""Writes that must land: in order per call and per agent, retried until they do.

A call ended, an agent's ring result, an abandon: if one of these is lost, an agent
stays ``talking`` for good or a caller is never put back in line.  So the ACD does
not run them on the caller's task; it puts them here and waits for them only a
little (``redis.write_wait_s``).  One drain loop, kept running by the node's supervision
tree (hotline/supervise.py: a crash is logged and the drain restarts), runs them:

- in order per key (``call:<id>``, ``agent:<id>``): a write starts only when every
  earlier write sharing one of its keys has landed or been given up; writes with
  no key in common run side by side (at most ``max_inflight``);
- a write that meets :class:`StoreUnavailable` stays where it is; the outbox then
  goes *down*: it waits (0.05 s doubling to ``backoff_max_s``) and probes with one
  write at a time until one lands, then runs at full width again;
- any other error (a script bug, corrupt data) cannot be mended by retrying: the
  write is given up with one error line, and the writes behind it carry on.

Each write is one atomic store operation whose script checks the state it applies
to, so running it again after an answer was lost is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from acd.model import StoreUnavailable
from hotline.supervise import Supervisor

Attempt = Callable[[Callable[[], Awaitable[Any]], str], Awaitable[Any]]


def call_key(call_id: str) -> str:
    """The key that keeps a call's writes in order."""
    return "call:" + call_id


def agent_key(agent_id: str) -> str:
    """The key that keeps an agent's writes in order."""
    return "agent:" + agent_id


@dataclass(eq=False)
class Write:
    what: str                                  # the operation, for logs ("call_ended", ...)
    keys: tuple[str, ...]                      # what it must stay in order with
    op: Callable[[], Awaitable[Any]]
    future: asyncio.Future
    on_landed: Callable[[Any], None] | None = None
    queued_at: float = field(default_factory=time.monotonic)
    attempts: int = 0
    running: bool = False
    error: str = ""                            # the reason of the last failed attempt
    deferred: bool = False                     # its caller stopped waiting: say when it lands


class Outbox:
    def __init__(self, attempt: Attempt, log, *, backoff_max_s: float = 2.0, max_inflight: int = 32,
                 tree: Supervisor | None = None) -> None:
        self._attempt = attempt      # runs one op once; raises StoreUnavailable when it may be retried
        self.log = log
        self.backoff_max_s = backoff_max_s
        self.max_inflight = max_inflight
        self._queue: deque[Write] = deque()
        #: The scope the drain and each write's task run in (the ACD's ``acd-writes``).
        self.tasks = tree if tree is not None else Supervisor("acd-writes", log=log)
        self._inflight: dict[asyncio.Task, Write] = {}
        self._wake = asyncio.Event()
        self._drain_task: asyncio.Task | None = None
        self._down = False
        self._delay = 0.05
        self._pause_until = 0.0
        self.landed = 0
        self.given_up = 0

    # -- the ACD's side ---------------------------------------------------------------------
    def put(self, what: str, keys: tuple[str, ...], op: Callable[[], Awaitable[Any]],
            on_landed: Callable[[Any], None] | None = None) -> asyncio.Future:
        """Queue a write; the future gets its result when it lands (or the error it was given up for)."""
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._queue.append(Write(what, keys, op, fut, on_landed))
        self._ensure_drain()
        self._wake.set()
        return fut

    def deferred(self, fut: asyncio.Future) -> None:
        """The caller stopped waiting for this write: its landing is worth a log line."""
        for w in self._queue:
            if w.future is fut:
                w.deferred = True

    def pending(self, key: str) -> list[asyncio.Future]:
        return [w.future for w in self._queue if key in w.keys]

    async def settled(self, key: str) -> None:
        """Wait until every write queued so far that touches ``key`` has landed or been given up."""
        futures = self.pending(key)
        if futures:
            await asyncio.wait([asyncio.shield(f) for f in futures])

    @property
    def status(self) -> dict:
        oldest = min((w.queued_at for w in self._queue), default=None)
        return {"writes_pending": len(self._queue),
                "writes_oldest_s": round(time.monotonic() - oldest, 3) if oldest is not None else 0.0,
                "writes_down": self._down, "writes_landed": self.landed, "writes_given_up": self.given_up}

    async def stop(self, flush_s: float) -> list[Write]:
        """Let queued writes land for up to ``flush_s``; returns (and logs) those left behind."""
        deadline = time.monotonic() + flush_s
        while self._queue and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        left = list(self._queue)
        await self.tasks.cancel_all()
        self._drain_task = None
        if left:
            self.log.error("acd.writes_left", count=len(left),
                           writes=[{"what": w.what, "keys": list(w.keys), "error": w.error} for w in left[:20]])
        return left

    # -- the drain ----------------------------------------------------------------------------
    def _ensure_drain(self) -> None:
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = self.tasks.keep_running(self._drain, name="acd-outbox", log=self.log,
                                                       max_s=self.backoff_max_s)

    async def _drain(self) -> None:
        """Until cancelled.  After a crash of an earlier run, a write whose task is gone is free
        to start again (its op is idempotent); one still in flight is left to finish."""
        live = set(self._inflight.values())
        for w in self._queue:
            w.running = w in live
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            wait = None
            if loop.time() < self._pause_until:
                wait = self._pause_until - loop.time()
            else:
                self._launch()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def _launch(self) -> None:
        """Start every write whose keys no earlier queued write holds (one at a time while down)."""
        budget = (1 if self._down else self.max_inflight) - len(self._inflight)
        blocked: set[str] = set()
        for w in self._queue:
            if budget <= 0:
                break
            free = blocked.isdisjoint(w.keys)
            blocked.update(w.keys)
            if free and not w.running:
                w.running = True
                budget -= 1
                task = self.tasks.spawn(self._try(w), name=f"acd-write {w.what}", log=self.log)
                self._inflight[task] = w

    async def _try(self, w: Write) -> None:
        loop = asyncio.get_running_loop()
        w.attempts += 1
        try:
            result = await self._attempt(w.op, w.what)
        except StoreUnavailable as exc:
            w.running = False
            w.error = exc.reason
            self._delay = min(self.backoff_max_s, self._delay * 2) if self._down else 0.05
            self._down = True
            self._pause_until = loop.time() + self._delay
        except asyncio.CancelledError:
            w.running = False
            raise
        except Exception as exc:
            self._remove(w)
            self.given_up += 1
            self.log.error("acd.write_given_up", what=w.what, keys=list(w.keys), attempts=w.attempts,
                           error=getattr(exc, "reason", "") or str(exc) or type(exc).__name__)
            if not w.future.done():
                w.future.set_exception(exc)
        else:
            self._down, self._delay = False, 0.05
            self._remove(w)
            self.landed += 1
            if w.attempts > 1 or w.deferred:
                self.log.warning("acd.write_landed", what=w.what, keys=list(w.keys), attempts=w.attempts,
                                 after_s=round(time.monotonic() - w.queued_at, 3))
            if w.on_landed is not None:
                try:
                    w.on_landed(result)
                except Exception:
                    self.log.exception("acd.write_landed_hook_failed", what=w.what)
            if not w.future.done():
                w.future.set_result(result)
        finally:
            self._inflight.pop(asyncio.current_task(), None)
            self._wake.set()

    def _remove(self, w: Write) -> None:
        try:
            self._queue.remove(w)
        except ValueError:
            pass


def _consume(fut: asyncio.Future) -> None:
    """A write's outcome may have nobody waiting for it any more (the caller's task moved on)."""
    if not fut.cancelled():
        fut.exception()
