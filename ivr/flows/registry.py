"""The flows a running engine serves, and their safe reload.

A hotline never closes, so flows change under live calls.  A reload loads and
checks everything first and swaps one immutable :class:`FlowSet` for another
in a single assignment; a broken edit is refused, its errors logged, and the
old version keeps serving.  A call takes a snapshot when it starts and finishes
on it whatever happens to the files meanwhile.
"""

from __future__ import annotations

import asyncio
import pathlib
from dataclasses import dataclass

from ivr import log
from ivr.flows import model as m
from ivr.flows.check import flow_files, load_and_check
from ivr.flows.config import CONFIG_FILES
from ivr.flows.problems import Problem


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


class FlowRegistry:
    def __init__(self, flows_dir: str | pathlib.Path = "flows", config_dir: str | pathlib.Path = "config",
                 prompts_dir: str | pathlib.Path | None = "build/prompts"):
        self.flows_dir = pathlib.Path(flows_dir)
        self.config_dir = pathlib.Path(config_dir)
        self.prompts_dir = prompts_dir
        self._current: m.FlowSet | None = None
        self._stamp: tuple = ()
        self.log = log.get(__name__)
        self.refused = 0     # reloads refused since start

    # ---- loading

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

    def load(self) -> m.FlowSet:
        """First load; raises :class:`FlowsBroken` when the flows do not pass the check."""
        problems = self.reload()
        if self._current is None:
            raise FlowsBroken(problems)
        return self._current

    def reload(self) -> list[Problem]:
        """Load and check again; swap only if there are no errors.  Returns the errors (empty: swapped)."""
        stamp = self._stamp_now()
        files = flow_files(self.flows_dir) if self.flows_dir.is_dir() else []
        try:
            result = load_and_check(files, self.config_dir if self.config_dir.is_dir() else None, self.prompts_dir)
        except Exception as exc:   # a checker bug must not take the serving version down with it
            self.log.exception("flows.check_crashed")
            result = None
            bad = [Problem(str(self.flows_dir), 1, 1, f"the check itself failed ({type(exc).__name__}: {exc}); nothing changed")]
        if result is None:
            pass
        elif not files:
            bad = [Problem(str(self.flows_dir), 1, 1, "no flow files found")]
        else:
            bad = result.errors
        if bad:
            self.refused += 1
            for problem in bad:
                self.log.error("flows.reload_refused", problem=str(problem))
            self.log.warning("flows.kept_old_version", version=self.version, errors=len(bad))
            self._stamp = stamp   # do not retry the same broken files on every poll
            return bad
        old = self.version
        self._current = result.flowset
        self._stamp = stamp
        self.log.info("flows.loaded", version=self.version, previous=old, flows=sorted(result.flowset.flows))
        return []

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
        """Reload whenever a flow or config file changes (until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.changed():
                self.reload()
