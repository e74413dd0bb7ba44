"""The numbers plan (吉政办发〔2021〕16号 四(一)) on the shipped config: each number as its merge mode
says, callers placed by their number, and the checker refusing what would strand a caller."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil

import pytest

from ivr.flows import model as m
from ivr.flows.check import load_and_check
from ivr.flows.simulate import simulate
from ivr.flows.steps import CHINA
from ivr.pbx.config import PbxConfig, build_dialplan

from flow_paths import CONFIG, FLOWS, ROOT

WORKDAY = dt.datetime(2026, 11, 27, 10, 0, tzinfo=CHINA)     # a Friday


@pytest.mark.parametrize("dialled,caller,flow,center,located_by,place", [
    ("12345", "15844301234", "yanbian", "yanbian", "mobile_segment", "吉林省延边朝鲜族自治州"),
    ("12345", "+8613804310000", "changchun", "changchun", "mobile_segment", "吉林省长春市"),
    ("12345", "13800000001", "changchun", "changchun", "default", "北京市"),
    ("12345", "043488881234", "city", "siping", "area_code", "0434"),
    ("12345", "01088881234", "changchun", "changchun", "default", "010"),
    ("043212345", "15844301234", "city", "jilin", "dialled_area_code", "0432"),
    ("12333", "043688881234", "kept", "baicheng", "area_code", "0436"),
    ("12315", "15844301234", "kept", "yanbian", "mobile_segment", "吉林省延边朝鲜族自治州"),
    ("12366", "043988881234", "kept", "baishan", "area_code", "0439"),
    ("12328", "043788881234", "merged", "liaoyuan", "area_code", "0437"),
    ("12319", "13800000001", "merged", "changchun", "default", "北京市"),
])
def test_every_number_is_routed_and_says_how_the_caller_was_placed(shipped, dialled, caller, flow, center,
                                                                   located_by, place):
    route = shipped.route(dialled, caller)
    assert route.matched
    assert (route.flow, route.center, route.located_by, route.place) == (flow, center, located_by, place)


def test_outside_callers_go_to_the_configured_default_center(tmp_path):
    config = copy_config(tmp_path, "numbers.yaml", "default_center: changchun", "default_center: jilin")
    flowset = checked(config).flowset
    route = flowset.route("12345", "13800000001")
    assert (route.center, route.flow, route.located_by) == ("jilin", "city", "default")


def walk(flowset, dialled, caller, presses, at=WORKDAY, **kw):
    return simulate(flowset, dialled=dialled, caller=caller, at=at, presses=presses, **kw)


@pytest.mark.parametrize("dialled,queue", [("12333", "hotline-12333"), ("12315", "hotline-12315"),
                                           ("12366", "hotline-12366")])
def test_kept_seats_answer_their_own_number(shipped, dialled, queue):
    w = walk(shipped, dialled, "043188881234", [])
    assert w.result.outcome["kind"] == "queue" and w.result.outcome["queue"] == queue


def test_a_kept_number_reaches_12345_and_12345_reaches_the_kept_seats(shipped):
    there = walk(shipped, "12333", "15844301234", ["0"])
    assert there.result.outcome["queue"] == "yanbian"          # the caller's own 12345
    back = walk(shipped, "12345", "043588881234", ["3", "3"])
    assert back.result.outcome["queue"] == "hotline-12315"
    tax = walk(shipped, "12345", "043188881234", ["3", "1"])   # Changchun's menu: the 12366 sub-center
    assert tax.result.flow == "changchun" and tax.result.outcome["queue"] == "hotline-12366"


def test_dual_number_without_seats_lands_in_12345(shipped):
    w = walk(shipped, "12328", "043788881234", [])
    assert [p["id"] for p in w.heard][0] == "notice_12328"
    assert w.result.outcome["queue"] == "liaoyuan"


@pytest.mark.parametrize("number", ["12319", "12369", "12358", "12328"])
def test_the_notice_plays_until_its_last_day_and_not_after(shipped, number):
    until = shipped.config.hotlines[number].notice_until
    assert until is not None
    last = dt.datetime.combine(until, dt.time(23, 59), CHINA)
    heard_last = [p["id"] for p in walk(shipped, number, "043788881234", [], at=last).heard]
    heard_after = [p["id"] for p in walk(shipped, number, "043788881234", [], at=last + dt.timedelta(minutes=2)).heard]
    assert heard_last[0] == f"notice_{number}"
    assert f"notice_{number}" not in heard_after
    after = walk(shipped, number, "043788881234", [], at=last + dt.timedelta(minutes=2))
    assert after.result.outcome["queue"] == "liaoyuan" and after.result.to_queue_s == 0


def test_simulate_reports_how_the_caller_was_placed(in_root, capsys):
    from ivr.cli import main

    assert main(["simulate", "--did", "12345", "--caller", "15844301234", "--press", "1,-"]) == 0
    out = capsys.readouterr().out
    assert "located by mobile_segment: 吉林省延边朝鲜族自治州" in out
    assert main(["simulate", "--did", "12345", "--caller", "15844301234", "--press", "1,-", "--json"]) == 0
    import json
    got = json.loads(capsys.readouterr().out)["route"]
    assert got == {"flow": "yanbian", "center": "yanbian", "matched": True, "located_by": "mobile_segment",
                   "place": "吉林省延边朝鲜族自治州"}


# ------------------------------------------------------------------ the checker


def copy_config(tmp_path, file, old, new):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / file).read_text(encoding="utf-8")
    assert old in text
    (config / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return config


def checked(config):
    return load_and_check(sorted(FLOWS.glob("*.yaml")), config, None)


def position(path, needle, line_has: str = "") -> str:
    """FILE:LINE:COL of the first ``needle`` in a file (on a line with ``line_has``), as the checker names places."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line and line_has in line:
            return f"{path}:{n}:{line.index(needle) + 1}"
    raise AssertionError(f"{needle!r} not in {path}")


def test_the_shipped_flows_and_config_pass_the_new_checks():
    result = checked(CONFIG)
    assert result.ok, [str(p) for p in result.errors]


def test_a_hotline_with_no_route_is_an_error_at_its_line(tmp_path):
    config = copy_config(tmp_path, "numbers.yaml", '  - {number: "12315", flow: kept, vars: {hotline: "12315"}}\n', "")
    result = checked(config)
    where = position(config / "subcenters.yaml", '"12315", name')
    assert any(str(p).startswith(where + ": hotline 12315") and "no route" in str(p) for p in result.errors), \
        [str(p) for p in result.problems]
    assert result.flowset is None


def test_a_center_number_another_route_catches_is_an_error_at_its_line(tmp_path):
    """Meihekou shares Tonghua's 0435: 043512345 listed for it would always reach Tonghua."""
    config = copy_config(tmp_path, "centers.yaml", "area_code_verified: false}",
                         'area_code_verified: false, numbers: ["043512345"]}')
    where = position(config / "centers.yaml", '"043512345"', line_has="meihekou")
    msgs = [str(p) for p in checked(config).errors]
    assert any(s.startswith(where + ": number 043512345 of center 'meihekou' is routed to 'tonghua'") for s in msgs), msgs


def test_a_skill_set_no_agent_has_is_an_error_at_the_queue_step(tmp_path):
    """12333's own seats asked for Korean and enterprise skills, and no agent has Korean."""
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    kept = flows / "kept.yaml"
    old = "    enqueue: hotline-12333\n    skills: [zh]\n"
    assert old in kept.read_text(encoding="utf-8")
    kept.write_text(kept.read_text(encoding="utf-8").replace(old, old.replace("[zh]", "[zh, ko, enterprise]")),
                    encoding="utf-8")
    config = copy_config(tmp_path, "acd.yaml", "agents:", "agents:")
    acd = (config / "acd.yaml").read_text(encoding="utf-8")
    (config / "acd.yaml").write_text(re.sub(r",\s*ko: \d", "", acd), encoding="utf-8")   # nobody speaks Korean
    result = load_and_check(sorted(flows.glob("*.yaml")), config, None)
    where = position(kept, "[zh, ko, enterprise]")
    msgs = [str(p) for p in result.errors]
    assert any(s.startswith(where + ": no agent in acd.yaml has all of the skills [zh, ko, enterprise]") for s in msgs), msgs
    assert result.flowset is None


def test_a_queue_no_agent_serves_is_an_error(tmp_path):
    config = copy_config(tmp_path, "acd.yaml", "queues: [hotline-12315]", "queues: [hotline-12333]")
    text = (config / "acd.yaml").read_text(encoding="utf-8").replace("queues: [hotline-12315]", "queues: [hotline-12333]")
    (config / "acd.yaml").write_text(text, encoding="utf-8")
    msgs = [str(p) for p in checked(config).errors]
    assert any("no agent in acd.yaml serves queue 'hotline-12315'" in s and "kept.yaml:" in s for s in msgs), msgs


def test_simulator_says_no_agent_can_take_this(shipped):
    nobody = tuple(dataclasses.replace(a, skills=a.skills - {"zh"}) for a in shipped.config.agents)
    flowset = m.FlowSet(flows=shipped.flows, config=dataclasses.replace(shipped.config, agents=nobody),
                        version="test")
    w = walk(flowset, "12333", "043288881234", [])
    assert w.result.outcome["queue"] == "hotline-12333" and w.result.outcome["talked"] is False
    assert any("no agent can take this" in n for n in w.notes), w.notes
    assert walk(shipped, "12333", "043288881234", []).result.outcome["talked"] is True   # the shipped agents can


# ------------------------------------------------------------------ the shipped dialplans


def hotline_in_conf():
    """[hotline-in] of config/asterisk/extensions.conf as the built-in PBX models a context."""
    raw, section, last = {}, None, None
    for text in (ROOT / "config" / "asterisk" / "extensions.conf").read_text(encoding="utf-8").splitlines():
        line = text.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "hotline-in" and line.startswith("exten =>"):
            last, _, app = line[len("exten =>"):].strip().split(",", 2)
            raw[last] = [app]
        elif section == "hotline-in" and line.startswith("same =>"):
            raw[last].append(line[len("same =>"):].strip().split(",", 1)[1])
    return build_dialplan({"hotline-in": raw}, lambda path: "extensions.conf")["hotline-in"]


PLAN_NUMBERS = ["12345", "12333", "12315", "12366", "12328", "12319", "12369", "12358",
                "043112345", "043212345", "043312345", "043912345", "043312333", "043512366"]


@pytest.mark.parametrize("source", ["extensions.conf", "pbx.yaml"])
def test_every_plan_number_reaches_the_engine_unchanged(source):
    """AGI first, no Goto(12345,1): the engine must see the area code the caller dialled."""
    context = hotline_in_conf() if source == "extensions.conf" else PbxConfig.load().dialplan["hotline-in"]
    for number in PLAN_NUMBERS:
        ext = context.find(number)
        assert ext is not None, f"{source}: no [hotline-in] extension for {number}"
        apps = [step.app for step in ext.steps if step.app != "NoOp"]
        assert apps[0] == "AGI" and ext.steps[[s.app for s in ext.steps].index("AGI")].data == "agi:async", \
            (source, number, ext.steps)
        assert not any(step.app == "Goto" and step.data.startswith("12345") for step in ext.steps), (source, number)
