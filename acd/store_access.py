"""Store access through faults (part of :class:`acd.service.Acd`).

Every store call goes through :meth:`StoreAccess._attempt`, which keeps the books:
the first failure of an outage is logged with Redis's own reason (and each new
reason after it), a script error with the script's name, the return with how long
it lasted; after an outage it checks whether Redis came back empty first.  Reads
retry with :meth:`_retry`; must-land writes go through the outbox and the caller's
task waits for them at most ``write_wait_s`` (:meth:`_landed`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

from acd.model import StoreError, StoreScriptError, StoreUnavailable
from hotline import log
from hotline.backoff import pause_before_retry

T = TypeVar("T")


class StoreAccess:
    """Mixed into Acd; uses its store, clock, outbox and log."""

    async def _attempt(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a store operation once, keeping the books on outages.

        After an outage it first checks whether Redis came back empty and, if so,
        re-asserts this node's callers, so no write lands on a data set not yet rebuilt.
        """
        try:
            if self._store_down_since is not None:
                await self._check_epoch()
            result = await op()
        except StoreUnavailable as exc:
            self._went_down(exc, what)
            raise
        except StoreScriptError as exc:
            self.log.error("acd.store_script_error", store=self.store.address, script=exc.script,
                           reason=exc.reason, during=what)
            raise
        if self._store_down_since is not None:
            self.log.warning("acd.store_back", store=self.store.address,
                             down_s=round(self.clock() - self._store_down_since, 3), during=what)
            self._store_down_since = None
            self._down_reasons.clear()
        return result

    def _went_down(self, exc: StoreError, what: str) -> None:
        """One line when the store goes away, and one for each new reason while it stays away."""
        self.store_errors += 1
        first = self._store_down_since is None
        if first:
            self._store_down_since = self.clock()
        self._down_last = exc.reason
        if exc.reason not in self._down_reasons and len(self._down_reasons) < 20:
            self._down_reasons.add(exc.reason)
            self.log.warning("acd.store_unreachable" if first else "acd.store_still_unavailable",
                             store=self.store.address, during=what, op=exc.op, reason=exc.reason)

    async def _retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a store operation until it succeeds (the project's backoff, 0.05 s doubling to ``backoff_max_s``).

        Each operation is one atomic script that either ran or did not, so running
        it again after a lost connection is safe; a claim whose reply was lost is
        taken back by the offer reaper.  A script error is not retried: it is raised.
        """
        attempt = 0
        while True:
            try:
                return await self._attempt(op, what)
            except StoreUnavailable:
                if not self._running and what.startswith("loop:"):
                    raise
                await pause_before_retry(attempt, 0.05, self.backoff_max_s)
                attempt += 1

    def _write(self, what: str, keys: tuple[str, ...], op: Callable[[], Awaitable[T]],
               on_landed: Callable[[T], None] | None = None) -> asyncio.Future:
        return self.outbox.put(what, keys, op, on_landed)

    async def _landed(self, fut: asyncio.Future, what: str, call_id: str, provisional: Any) -> Any:
        """The write's result if it lands within ``write_wait_s``; else ``provisional`` (it lands later)."""
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.write_wait_s)
        except asyncio.TimeoutError:
            self.outbox.deferred(fut)
            log.get("acd", call_id=call_id, node=self.node_id).warning(
                "acd.write_deferred", what=what, waited_s=self.write_wait_s, assumed=provisional,
                reason=self._last_reason())
        except StoreError:
            pass              # logged with its script and reason; the caller carries on
        return provisional

    def _last_reason(self) -> str:
        return self._down_last if self._store_down_since is not None else ""
