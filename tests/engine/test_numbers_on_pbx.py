"""Every number of the plan on the built-in PBX, with the shipped dialplan, flows, queues and agents.

The whole engine (FlowProgram, in-memory ACD, every agent of config/acd.yaml answering) takes
calls the PBX places through [hotline-in]; each record must say where the call went and how
the caller was placed.

One hotline serves the whole module and every number's call is placed on it at once (a call
lasts seconds of wall time, mostly the survey after the agent; the hotline starts in a fraction
of one): each test then awaits and judges its own call, so one number's failure is its own.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import pytest_asyncio

from acd import config as acd_config
from ivr.flows.audio_len import sound_lengths
from ivr.flows.check import flow_files, load_and_check
from ivr.pbx.scripts import CallerScript
from engine_harness import engine_on_pbx
from hotline import paths

SPEED = 20.0

# The hotline, and the calls on it, live on one event loop for the whole module.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@contextlib.asynccontextmanager
async def shipped_hotline():
    cfg = acd_config.load()                      # config/acd.yaml as shipped, agents and all
    checked = load_and_check(flow_files(paths.flows_dir()), paths.config_dir(), None)
    assert checked.ok, checked.errors
    async with engine_on_pbx(cfg, sound_lengths(checked.flowset), speed=SPEED, seed=7, talk_s=2.0,
                             answer_after_s=0.5) as running:      # config/pbx.yaml's dialplan
        yield running


async def story(pbx, runtime, script: CallerScript):
    handle = pbx.place_call(script)
    pbx_record = await handle.wait(60)
    async with asyncio.timeout(20):
        while not any(r.call_id == pbx_record.call_id for r in runtime.engine.finished):
            await asyncio.sleep(0.02)
    return pbx_record, next(r for r in runtime.engine.finished if r.call_id == pbx_record.call_id)


YANBIAN_MOBILE = "15844301234"     # a Yanbian number segment (吉林省延边朝鲜族自治州)

CALLS = [
    # did, caller, keys, flow, queue, center, located_by, place
    ("12333", "043188880001", [], "kept", "hotline-12333", "changchun", "area_code", "0431"),
    ("12315", "13800000001", [], "kept", "hotline-12315", "changchun", "default", "北京市"),
    ("12366", YANBIAN_MOBILE, [], "kept", "hotline-12366", "yanbian", "mobile_segment", "吉林省延边朝鲜族自治州"),
    ("12315", "043388881234", [(0.3, "0")], "kept", "yanbian", "yanbian", "area_code", "0433"),
    ("043212345", "13800000002", [], "city", "jilin", "jilin", "dialled_area_code", "0432"),
    ("12345", YANBIAN_MOBILE, [], "yanbian", "yanbian", "yanbian", "mobile_segment", "吉林省延边朝鲜族自治州"),
    ("12345", "043588881234", [(0.3, "3"), (0.3, "2")], "city", "hotline-12333", "tonghua", "area_code", "0435"),
    ("12328", "13804310000", [], "merged", "changchun", "changchun", "mobile_segment", "吉林省长春市"),
]


KEPT_WITH_AREA_CODE = CallerScript(number="13800000003", did="043912333")


def _call_id(call) -> str:
    return f"{call[0]}-from-{call[1]}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stories():
    """id -> the task of that call's story (PBX record, engine record), all placed at once on
    one shipped hotline."""
    async with shipped_hotline() as (pbx, runtime):
        scripts = {_call_id(c): CallerScript(number=c[1], did=c[0], keys=c[2]) for c in CALLS}
        scripts["kept-with-area-code"] = KEPT_WITH_AREA_CODE
        tasks = {key: asyncio.create_task(asyncio.wait_for(story(pbx, runtime, script), 90))
                 for key, script in scripts.items()}
        try:
            yield tasks
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)


@pytest.mark.parametrize("did,caller,keys,flow,queue,center,located_by,place", CALLS,
                         ids=[_call_id(c) for c in CALLS])
async def test_each_number_reaches_its_place(stories, did, caller, keys, flow, queue, center, located_by, place):
    pbx_record, record = await stories[f"{did}-from-{caller}"]
    assert pbx_record.caller == caller and record.caller == caller   # this call's records, not another's
    assert record.dialled == did                 # the dialplan handed the number over unchanged
    assert (record.flow, record.queue, record.center) == (flow, queue, center)
    assert (record.located_by, record.place) == (located_by, place)
    assert record.outcome == "answered" and pbx_record.talked_to


async def test_a_kept_number_with_an_area_code_is_that_city_calling_the_kept_seats(stories):
    _, record = await stories["kept-with-area-code"]
    assert record.dialled == "043912333"
    assert (record.flow, record.queue, record.located_by) == ("kept", "hotline-12333", "dialled_area_code")
