"""The supervision tree (hotline/supervise.py): failures logged with their reason and context,
loops restarted with the project's backoff, and a stop that leaves nothing running.
Every wait is for a condition, never a sleep that hopes the condition came."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from hotline import log as logmod
from hotline.supervise import Supervisor


def failed(logs):
    return [e for e in logs if e["event"] == "task.failed"]


async def test_a_loop_that_raises_is_logged_and_restarted():
    runs, second = [], asyncio.Event()

    async def dispatch():
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("claim returned nonsense")
        second.set()
        await asyncio.Event().wait()

    tree = Supervisor("node")
    with capture_logs() as logs:
        tree.scope("acd").keep_running(dispatch, name="acd-dispatch n1", initial_s=0.01, max_s=0.05)
        await asyncio.wait_for(second.wait(), 5)
        await tree.cancel_all()
    [line] = failed(logs)
    assert line["task"] == "acd-dispatch n1" and line["error"] == "RuntimeError: claim returned nonsense"
    assert line["exc_info"] and line["log_level"] == "error" and 0 < line["restart_in_s"] <= 0.01
    assert [e["task"] for e in logs if e["event"] == "task.restarted"] == ["acd-dispatch n1"]
    assert runs == [0, 1] and tree.total_failures == 1 and tree.children["acd"].restarts == 1
    assert not tree.all_tasks()


async def test_restarts_back_off_as_the_project_backoff_says():
    """Ceilings double from ``initial_s`` up to ``max_s``; the jitter keeps each in its upper half."""
    runs, fifth = [], asyncio.Event()

    async def broken():
        runs.append(1)
        if len(runs) == 5:
            fifth.set()
            await asyncio.Event().wait()
        raise ValueError("still broken")

    tree = Supervisor("node")
    with capture_logs() as logs:
        tree.keep_running(broken, name="feed", initial_s=0.004, max_s=0.016)
        await asyncio.wait_for(fifth.wait(), 5)
        await tree.cancel_all()
    delays = [e["restart_in_s"] for e in failed(logs)]
    ceilings = [0.004, 0.008, 0.016, 0.016]
    assert len(delays) == 4
    assert all(c / 2 - 1e-3 <= d <= c + 1e-3 for d, c in zip(delays, ceilings)), delays


async def test_a_loop_that_returns_has_finished_and_is_not_started_again():
    runs = []

    async def once():
        runs.append(1)

    tree = Supervisor("node")
    task = tree.keep_running(once, name="one-pass")
    await asyncio.wait_for(task, 5)
    assert runs == [1] and tree.failures == 0 and not tree.all_tasks()


async def test_a_one_shot_failure_is_logged_with_its_context_and_raised_to_nobody():
    ended = []

    async def owner():
        raise KeyError("agent")

    tree = Supervisor("node")
    engine = tree.scope("engine")
    call_log = logmod.get("ivr.engine", node="n1").bind(call_id="pbx-1.7")
    with capture_logs() as logs:
        task = engine.spawn(owner(), name="call pbx-1.7", log=call_log, on_done=lambda t: ended.append(t.get_name()))
        await asyncio.wait({task})
    [line] = failed(logs)
    assert (line["call_id"], line["node"], line["task"]) == ("pbx-1.7", "n1", "call pbx-1.7")
    assert line["error"] == "KeyError: 'agent'" and line["exc_info"]
    assert ended == ["call pbx-1.7"] and engine.failures == 1 and tree.total_failures == 1
    assert not tree.all_tasks()


async def test_cancel_all_awaits_every_task_of_every_scope_and_leaves_none():
    before = asyncio.all_tasks()
    cancelled, started = [], asyncio.Event()
    tree = Supervisor("node")

    async def last_write():
        cancelled.append("last write")

    async def call():
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            cancelled.append("call")
            tree.scope("acd-writes").spawn(last_write(), name="acd-write call_ended")

    async def forever():
        await asyncio.Event().wait()

    tree.scope("engine").spawn(call(), name="call x")
    tree.scope("acd").keep_running(forever, name="acd-listen n1")
    tree.scope("acd-writes").keep_running(forever, name="acd-outbox")
    await asyncio.wait_for(started.wait(), 5)
    assert {t.get_name() for t in tree.all_tasks()} == {"call x", "acd-listen n1", "acd-outbox"}
    await tree.cancel_all()
    assert "call" in cancelled and not tree.all_tasks()
    assert asyncio.all_tasks() <= before


async def test_wait_waits_for_the_one_shots_not_for_the_loops():
    go = asyncio.Event()

    async def forever():
        await asyncio.Event().wait()

    async def call():
        await go.wait()

    tree = Supervisor("node")
    tree.scope("engine").keep_running(forever, name="lease-renewal")
    task = tree.scope("engine").spawn(call(), name="call y")
    go.set()
    await asyncio.wait_for(tree.wait(), 5)
    assert task.done() and {t.get_name() for t in tree.all_tasks()} == {"lease-renewal"}
    await tree.cancel_all()
