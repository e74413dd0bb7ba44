"""Every number of the plan on the built-in PBX, with the shipped dialplan, flows, queues and agents.

The whole engine (FlowProgram, in-memory ACD, every agent of config/acd.yaml answering) takes
calls the PBX places through [hotline-in]; each record must say where the call went and how
the caller was placed.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from acd import config as acd_config
from ivr.flows.audio_len import sound_lengths
from ivr.flows.check import flow_files, load_and_check
from ivr.pbx.scripts import CallerScript
from engine_harness import engine_on_pbx
from hotline import paths

SPEED = 20.0


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


@pytest.mark.parametrize("did,caller,keys,flow,queue,center,located_by,place", CALLS,
                         ids=[f"{c[0]}-from-{c[1]}" for c in CALLS])
async def test_each_number_reaches_its_place(did, caller, keys, flow, queue, center, located_by, place):
    async with shipped_hotline() as (pbx, runtime):
        pbx_record, record = await asyncio.wait_for(
            story(pbx, runtime, CallerScript(number=caller, did=did, keys=keys)), 90)
    assert record.dialled == did                 # the dialplan handed the number over unchanged
    assert (record.flow, record.queue, record.center) == (flow, queue, center)
    assert (record.located_by, record.place) == (located_by, place)
    assert record.outcome == "answered" and pbx_record.talked_to


async def test_a_kept_number_with_an_area_code_is_that_city_calling_the_kept_seats():
    async with shipped_hotline() as (pbx, runtime):
        _, record = await asyncio.wait_for(
            story(pbx, runtime, CallerScript(number="13800000003", did="043912333")), 90)
    assert record.dialled == "043912333"
    assert (record.flow, record.queue, record.located_by) == ("kept", "hotline-12333", "dialled_area_code")
