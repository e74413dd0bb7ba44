"""The flows a running engine serves, and their safe reload.

A hotline never closes, so flows change under live calls.  A reload loads and
checks everything first and swaps one immutable :class:`FlowSet` for another
in a single assignment; a broken edit is refused, the reason logged on one
line, and the old version keeps serving.  A call takes a snapshot when it
starts and finishes on it whatever happens to the files meanwhile.

The files are read and checked in a thread of their own with a time limit:
the event loop that carries every call must never wait on a hostile or huge
edit.  A thread cannot be killed, so one that overruns is told to stop (the
loader looks at the flag as it goes), left to end on its own, and no second
reload starts until it has.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import threading
import time
from dataclasses import dataclass

from hotline import log
from ivr.flows import model as m
from ivr.flows.check import CheckResult, flow_files, load_and_check
from ivr.flows.config import CONFIG_FILES
from hotline.problems import Problem
from hotline.yamlpos import Stopped

RELOAD_TIMEOUT_S = 5.0     # the shipped flows load and check in about 0.1-0.3 s
SHOWN_PROBLEMS = 20        # problems carried in the one log line of a refused reload


class FlowsBroken(Exception):
    """The first load failed: there is no old version to fall back on."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0] if problems else "no problems listed"
        super().__init__(f"{len(problems)} error(s) in the flows, first: {first}")


@dataclass(frozen=True)
class CallPlan:
    """What a new call runs: the flow, its snapshot and the starting variables."""
    flowset: m.FlowSet
    flow: m.Flow
    route: m.Route


@dataclass
class _Attempt:
    """What a reload thread found: the files' stamp, and the check result or why there is none."""
    stamp: tuple
    result: CheckResult | None = None
    reason: str = ""            # "", "errors", "no flows", "crash"
    problems: list[Problem] | None = None


class FlowRegistry:
    def __init__(self, flows_dir: str | pathlib.Path = "flows", config_dir: str | pathlib.Path = "config",
                 prompts_dir: str | pathlib.Path | None = "build/prompts", *,
                 sounds_dir: str | pathlib.Path | None = None, reload_timeout_s: float = RELOAD_TIMEOUT_S):
        self.flows_dir = pathlib.Path(flows_dir)
        self.config_dir = pathlib.Path(config_dir)
        self.prompts_dir = prompts_dir
        self.sounds_dir = pathlib.Path(sounds_dir) if sounds_dir is not None else None
        self.reload_timeout_s = reload_timeout_s
        self._current: m.FlowSet | None = None
        self._stamp: tuple = ()
        self._running: concurrent.futures.Future | None = None   # a reload thread not yet finished
        self._stop_running: threading.Event | None = None
        self._running_stamp: tuple | None = None
        self._busy_logged = False
        self.log = log.get(__name__)
        self.refused = 0     # reloads refused since start

    # ---- loading (the parts that run in the reload thread touch no state of the registry)

    def _files(self) -> list[pathlib.Path]:
        files = flow_files(self.flows_dir) if self.flows_dir.is_dir() else []
        files += [self.config_dir / n for n in CONFIG_FILES + ("acd.yaml",) if (self.config_dir / n).exists()]
        return files

    def _stamp_now(self) -> tuple:
        out = []
        for f in self._files():
            try:
                st = f.stat()
                out.append((str(f), st.st_mtime_ns, st.st_size))
            except OSError:
                pass
        return tuple(out)

    def _attempt(self, stop: threading.Event, only_if_changed: bool) -> _Attempt | None:
        stamp = self._stamp_now()
        self._running_stamp = stamp      # for a timeout: the files this attempt was looking at
        if only_if_changed and stamp == self._stamp:
            return None
        files = flow_files(self.flows_dir) if self.flows_dir.is_dir() else []
        try:
            result = load_and_check(files, self.config_dir if self.config_dir.is_dir() else None, self.prompts_dir,
                                    sounds_dir=self.sounds_dir, stop=stop.is_set)
        except Stopped:
            raise
        except BaseException as exc:   # a checker bug or MemoryError must not take the serving version down
            text = f"the check itself failed ({type(exc).__name__}: {exc}); nothing changed"
            return _Attempt(stamp, reason="crash", problems=[Problem(str(self.flows_dir), 1, 1, text)])
        if not files:
            return _Attempt(stamp, reason="no flows", problems=[Problem(str(self.flows_dir), 1, 1, "no flow files found")])
        if any(p.blocks_serving for p in result.errors):
            return _Attempt(stamp, result, reason="errors", problems=result.causes_first)
        for problem in result.errors:       # reported by 'ivr check', logged here, and the calls go on
            self.log.error("flows.problem_not_blocking", problem=str(problem))
        return _Attempt(stamp, result)

    def _start(self, only_if_changed: bool) -> concurrent.futures.Future:
        """Run one attempt in a daemon thread (it must never hold up the process's exit)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        stop = threading.Event()

        def work():
            try:
                future.set_result(self._attempt(stop, only_if_changed))
            except BaseException as exc:
                future.set_exception(exc)

        self._running, self._stop_running, self._busy_logged, self._running_stamp = future, stop, False, None
        threading.Thread(target=work, name="flows-reload", daemon=True).start()
        return future

    def _busy(self) -> bool:
        return self._running is not None and not self._running.done()

    @property
    def reloading(self) -> bool:
        """A reload thread is still at work (perhaps one that ran out of time and was told to stop)."""
        return self._busy()

    # ---- deciding (on the caller's thread)

    def _refuse(self, reason: str, problems: list[Problem], stamp: tuple | None, started: float) -> list[Problem]:
        self.refused += 1
        if stamp is not None:
            self._stamp = stamp     # do not retry the same broken files on every poll
        self.log.error("flows.reload_refused", reason=reason, kept_version=self.version, errors=len(problems),
                       problem=str(problems[0]) if problems else "",
                       problems=[str(p) for p in problems[:SHOWN_PROBLEMS]],
                       elapsed_s=round(time.monotonic() - started, 3))
        return problems

    def _finish(self, future: concurrent.futures.Future, started: float) -> list[Problem]:
        try:
            attempt = future.result()
        except Stopped:
            return self._timed_out(started)
        except BaseException as exc:
            problem = Problem(str(self.flows_dir), 1, 1, f"the reload failed ({type(exc).__name__}: {exc}); nothing changed")
            return self._refuse("crash", [problem], None, started)
        if attempt is None:
            return []
        if attempt.problems:
            return self._refuse(attempt.reason, attempt.problems, attempt.stamp, started)
        old = self.version
        self._current = attempt.result.flowset
        self._stamp = attempt.stamp
        self.log.info("flows.loaded", version=self.version, previous=old, flows=sorted(self._current.flows),
                      elapsed_s=round(time.monotonic() - started, 3))
        return []

    def _timed_out(self, started: float) -> list[Problem]:
        if self._stop_running is not None:
            self._stop_running.set()
        problem = Problem(str(self.flows_dir), 1, 1, f"loading and checking the flows took longer than "
                                                      f"{self.reload_timeout_s:g} s; nothing changed")
        # the same files are not tried again on every poll (a change, or SIGHUP, tries again)
        return self._refuse("timeout", [problem], self._running_stamp, started)

    def _refuse_busy(self, started: float) -> list[Problem]:
        problem = Problem(str(self.flows_dir), 1, 1, "an earlier reload that ran out of time is still running; "
                                                      "nothing changed, try again when it has ended")
        if self._busy_logged:
            self.refused += 1
            return [problem]
        self._busy_logged = True
        return self._refuse("busy", [problem], None, started)

    # ---- the ways in

    def load(self) -> m.FlowSet:
        """First load; raises :class:`FlowsBroken` when the flows do not pass the check."""
        problems = self.reload()
        if self._current is None:
            raise FlowsBroken(problems)
        return self._current

    def reload(self) -> list[Problem]:
        """Load and check again, blocking the caller for at most ``reload_timeout_s``; swap only if
        there are no errors.  Returns the errors (empty: swapped).  For start-up, tests and tools;
        on the event loop use :meth:`reload_async`."""
        started = time.monotonic()
        if self._busy():
            return self._refuse_busy(started)
        future = self._start(only_if_changed=False)
        try:
            future.result(timeout=self.reload_timeout_s)
        except concurrent.futures.TimeoutError:
            return self._timed_out(started)
        except BaseException:
            pass    # reported by _finish
        return self._finish(future, started)

    async def reload_async(self, *, only_if_changed: bool = False) -> list[Problem]:
        """:meth:`reload` without ever blocking the event loop: the work runs in a thread, and after
        ``reload_timeout_s`` the old version is kept and the thread told to stop.  SIGHUP and the
        file watch both come here."""
        started = time.monotonic()
        if self._busy():
            return [] if only_if_changed else self._refuse_busy(started)
        future = self._start(only_if_changed)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.reload_timeout_s)
        except asyncio.TimeoutError:
            return self._timed_out(started)
        except asyncio.CancelledError:
            self._stop_running.set()
            raise
        except BaseException:
            pass    # reported by _finish
        return self._finish(future, started)

    # ---- serving

    @property
    def version(self) -> str:
        return self._current.version if self._current else ""

    def snapshot(self) -> m.FlowSet:
        if self._current is None:
            raise RuntimeError("flows not loaded: call load() first")
        return self._current

    def plan(self, dialled: str, caller: str) -> CallPlan:
        """Which flow serves a new call, on the version current at this instant."""
        flowset = self.snapshot()
        route = flowset.route(dialled, caller)
        return CallPlan(flowset=flowset, flow=flowset.flow(route.flow), route=route)

    def changed(self) -> bool:
        return self._stamp_now() != self._stamp

    async def watch(self, interval_s: float = 2.0) -> None:
        """Reload whenever a flow or config file changes (until cancelled); the files are looked at
        in the reload thread too, so a hung file system cannot hold up the loop either."""
        while True:
            await asyncio.sleep(interval_s)
            await self.reload_async(only_if_changed=True)
