"""A caller the ACD dropped as lost while they are still on the line goes back in line, not to a failure.

An offer nobody settles in time is taken back, and after a few times the call is
dropped as lost: under load a node starved of CPU looks dead to the others while
its caller still waits.  The engine asks the ACD what it holds before giving up.
"""

from __future__ import annotations

from types import SimpleNamespace

from acd_fixtures import fast_node, race_config

from acd.model import AcdError, CallRequest, CallState
from acd.store import MemoryStore
from hotline import log
from ivr.engine.acd_glue import AcdServices


def request(call_id: str) -> CallRequest:
    return CallRequest(call_id=call_id, queue="changchun", skills=["zh"], priority=0, caller="13800000000",
                       dialled="12345", center="changchun", language="zh", channel="Local/12345@hotline-in-1;2",
                       flow_path=[])


async def test_a_dropped_caller_still_here_is_put_back_in_line():
    acd = fast_node(MemoryStore(), race_config(1), "n1")
    await acd.start()
    try:
        services = AcdServices(acd, records=lambda _cid: None)
        here, gone = SimpleNamespace(call_id="c1", hung_up=False), SimpleNamespace(call_id="c2", hung_up=True)
        for call in (here, gone):
            await acd.enqueue(request(call.call_id))
        logger = log.get("test")
        assert not await services._dropped(here, AcdError("not waiting"), logger)   # still in line: a real error
        for call in (here, gone):
            await acd.abandoned(call.call_id)
        assert not await services._dropped(gone, AcdError("not waiting"), logger)   # hung up: nothing to do
        assert await services._dropped(here, AcdError("not waiting"), logger)
        await services._place(here, request("c1"))
        assert (await acd.get_call("c1")).state == CallState.WAITING
    finally:
        await acd.stop()
