"""The runtime owns one supervision tree: the ACD, the callback dialer and the engine run their
tasks in scopes of it, a failing part is restarted without touching the others, and stop takes
them down in order (new calls off, callbacks, ACD loops, calls, link, store) leaving no task.

The AMI link is a stand-in: what is checked here is the tree, not the PBX."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from acd import config as acd_config_mod
from acd.store import MemoryStore
from acd.service import Acd
from hotline.supervise import Supervisor
from ivr.engine.callbacks import CallbackDialer
from ivr.engine.engine import Engine
from ivr.runtime import Runtime


class Link:
    """What the runtime and the engine ask of an AMI link when no call comes."""

    def __init__(self):
        self.on_event = self.on_connected = None
        self.status = {"state": "connected"}
        self.closed = False

    async def connect(self, *, spawn=None):
        """Like AmiLink: the task that keeps the link up is the tree's (spawn), stopped by close."""
        self._keeper = spawn(asyncio.Event().wait(), name="ami-link")

    async def close(self):
        self.closed = True
        self._keeper.cancel()
        await asyncio.gather(self._keeper, return_exceptions=True)


def build() -> Runtime:
    tree = Supervisor("node n1")
    cfg = acd_config_mod.load()
    acd = Acd(MemoryStore(), cfg, "n1", tree=tree, dispatch_interval_s=0.01, maintenance_interval_s=0.01)
    link = Link()
    dialer = CallbackDialer(link, acd, tree=tree)
    engine = Engine(link, None, node="n1", tree=tree)
    return Runtime(link=link, engine=engine, program=None, acd=acd, callbacks=dialer, tree=tree)


def names(scope: Supervisor) -> set[str]:
    return {t.get_name() for t in scope.all_tasks()}


async def test_stop_takes_the_tree_down_in_order_and_leaves_no_task():
    before = asyncio.all_tasks()
    rt = build()
    await rt.start()
    scopes = rt.tree.children
    assert {"acd-listen n1", "acd-dispatch n1", "acd-maint n1", "acd-stats n1"} <= names(scopes["acd"])
    assert names(scopes["callbacks"]) == {"callback-dialer"}
    assert names(scopes["link"]) == {"ami-link"}

    steps: list[tuple[str, set[str]]] = []   # each step, and which scopes still had tasks as it began
    loops_stopped = asyncio.Event()

    def spy(obj, method: str, step: str, after=None):
        original = getattr(obj, method)

        async def wrapped(*args, **kwargs):
            steps.append((step, {n for n, s in scopes.items() if s.all_tasks()}))
            result = await original(*args, **kwargs)
            if after is not None:
                after.set()
            return result

        setattr(obj, method, wrapped)

    async def call_ending():
        """A call still ending when the node stops: its last write must land before the store closes."""
        await loops_stopped.wait()
        await rt.acd.record({"call_id": "pbx-1.1", "outcome": "answered"})

    rt.engine.supervisor.spawn(call_ending(), name="call pbx-1.1")
    spy(rt.callbacks, "stop", "callbacks")
    spy(rt.acd, "stop_loops", "acd loops", after=loops_stopped)
    spy(rt.engine, "stop", "calls")
    spy(rt.link, "close", "link")
    spy(rt.acd, "stop", "store")
    await rt.stop()

    first = list(dict.fromkeys(step for step, _ in steps))
    assert first == ["callbacks", "acd loops", "calls", "link", "store"]
    running = dict(steps[:5])
    assert {"callbacks", "acd", "engine"} <= running["callbacks"]
    assert "callbacks" not in running["acd loops"] and "engine" in running["acd loops"]
    assert "acd" not in running["calls"] and "engine" in running["calls"]
    assert "engine" not in running["link"] and rt.link.closed
    assert rt.acd.outbox.landed == 1 and not rt.engine.accepting
    assert not rt.tree.all_tasks() and asyncio.all_tasks() <= before


async def test_the_callback_dialer_survives_its_first_error_inside_the_runtime():
    rt = build()
    asked, again = [], asyncio.Event()
    real = rt.acd.next_callback

    async def next_callback(timeout_s=None):
        asked.append(1)
        if len(asked) == 1:
            raise ConnectionResetError("store hung up mid-reply")
        again.set()
        return await real(timeout_s=timeout_s)

    rt.acd.next_callback = next_callback
    with capture_logs() as logs:
        await rt.start()
        await asyncio.wait_for(again.wait(), 5)
        dispatch_alive = "acd-dispatch n1" in names(rt.tree.children["acd"])
        await rt.stop()
    [line] = [e for e in logs if e["event"] == "task.failed"]
    assert line["task"] == "callback-dialer" and "mid-reply" in line["error"] and line["exc_info"]
    assert dispatch_alive, "a failing dialer must not take its siblings down (unlike asyncio.TaskGroup)"
    assert rt.tree.total_failures == 1 and not rt.tree.all_tasks()
