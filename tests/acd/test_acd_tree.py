"""The ACD's tasks live in its scope of the supervision tree: the event feed and the loops are
restarted when they fail, each offer notice's check is a task of the tree whose failure is logged
with the call id, the outbox's drain outlives its bugs, and a stop leaves nothing running.
An ACD run without the engine (the `acd` commands, tests, benchmarks) has a tree of its own."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from acd.model import CallRequest
from acd.service import Acd
from acd.store import MemoryStore
from hotline.supervise import Supervisor


class FlakyFeed(MemoryStore):
    """A store whose event feed breaks on its first start (a bug in the subscriber)."""

    def __init__(self):
        super().__init__()
        self.listens = 0

    async def listen(self, handler):
        self.listens += 1
        if self.listens == 1:
            raise RuntimeError("subscriber lost its connection object")
        await super().listen(handler)


def failed(logs, task_prefix=""):
    return [e for e in logs if e["event"] == "task.failed" and e["task"].startswith(task_prefix)]


async def test_an_acd_without_the_engine_runs_in_a_tree_of_its_own(cfg, clock):
    before = asyncio.all_tasks()
    acd = Acd(MemoryStore(), cfg, "n1", clock=clock)
    await acd.start()
    assert {t.get_name() for t in acd.tree.all_tasks()} >= {
        "acd-listen n1", "acd-dispatch n1", "acd-maint n1", "acd-stats n1"}
    await acd.stop(flush_s=1)
    assert not acd.tree.all_tasks() and asyncio.all_tasks() <= before


async def test_an_acd_given_the_runtime_tree_runs_in_its_scopes(cfg, clock):
    tree = Supervisor("node n1")
    acd = Acd(MemoryStore(), cfg, "n1", clock=clock, tree=tree)
    await acd.start()
    assert "acd-dispatch n1" in {t.get_name() for t in tree.children["acd"].tasks}
    await acd.stop_loops()
    assert not tree.children["acd"].tasks
    await acd.record({"call_id": "late", "outcome": "answered"})   # a call still ending: its write lands
    await acd.stop(flush_s=1)
    assert not tree.all_tasks() and acd.outbox.landed == 1


async def test_the_event_feed_that_fails_is_restarted_and_offers_reach_the_caller_again(cfg, clock):
    store = FlakyFeed()
    a = Acd(store, cfg, "node-a", clock=clock, backoff_max_s=0.05)   # holds the caller, hears notices only
    b = Acd(store, cfg, "node-b", clock=clock)                       # makes the offer
    with capture_logs() as logs:
        await a.start(loops=False)                                  # returns once the feed listens again
        await b.start(loops=False)
    [line] = failed(logs, "acd-listen")
    assert line["task"] == "acd-listen node-a" and "lost its connection object" in line["error"]
    assert store.listens == 3 and a.tree.children["acd"].restarts == 1
    await b.login("c1")
    await a.enqueue(CallRequest("x", "changchun", caller="139"))
    waiting = asyncio.create_task(a.wait_offer("x"))
    await asyncio.sleep(0)
    await b.tick()                            # the claim's notice reaches node a through its feed
    assert (await asyncio.wait_for(waiting, 5)).agent_id == "c1"
    await a.stop(flush_s=1)
    await b.stop(flush_s=1)


async def test_a_failing_offer_check_is_logged_with_its_call_and_nothing_is_fire_and_forget(cfg, clock):
    store = MemoryStore()
    acd = Acd(store, cfg, "n1", clock=clock)
    await acd.start(loops=False)
    await acd.enqueue(CallRequest("x", "changchun", caller="139"))
    waiting = asyncio.create_task(acd.wait_offer("x"))
    await asyncio.sleep(0)

    async def broken_get_call(call_id):
        raise KeyError("state")

    store.get_call = broken_get_call
    with capture_logs() as logs:
        acd._on_event("offer", "x")
        [check] = [t for t in acd.tasks.tasks if t.get_name() == "acd-check-offer x"]
        await asyncio.wait({check})
    [line] = failed(logs, "acd-check-offer")
    assert (line["call_id"], line["node"], line["error"]) == ("x", "n1", "KeyError: 'state'") and line["exc_info"]
    waiting.cancel()
    await acd.stop(flush_s=1)
    assert not acd.tree.all_tasks()


async def test_the_outbox_drain_outlives_its_own_bug_and_the_write_lands(cfg, clock):
    acd = Acd(MemoryStore(), cfg, "n1", clock=clock, backoff_max_s=0.05)
    await acd.start(loops=False)
    launch, broke = acd.outbox._launch, []

    def launch_once_broken():
        if not broke:
            broke.append(1)
            raise RuntimeError("bookkeeping bug")
        launch()

    acd.outbox._launch = launch_once_broken
    with capture_logs() as logs:
        await asyncio.wait_for(acd.record({"call_id": "r1", "outcome": "answered"}), 5)
    [line] = failed(logs, "acd-outbox")
    assert "bookkeeping bug" in line["error"] and acd.outbox.landed == 1
    await acd.stop(flush_s=1)
    assert not acd.tree.all_tasks()


async def test_a_stopped_node_leaves_no_task_on_either_store(store, cfg, clock):
    """The store's event feed (Redis pub/sub included) runs in the node's tree and ends with it."""
    before = asyncio.all_tasks()
    acd = Acd(store, cfg, "n1", clock=clock)
    await acd.start()
    assert "acd-listen n1" in {t.get_name() for t in acd.tree.all_tasks()}
    await acd.login("c1")
    await acd.enqueue(CallRequest("x", "changchun", caller="139"))
    assert (await asyncio.wait_for(acd.wait_offer("x"), 5)).agent_id == "c1"   # dispatched by the loops
    await acd.stop(flush_s=1)
    assert not acd.tree.all_tasks() and asyncio.all_tasks() <= before
