"""The interpreter on a scripted CallControl: variables, sub-flows, hang-ups, the stored record."""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap

import pytest
import structlog

from ivr.agi.interface import DialResult
from ivr.flows.check import load_and_check
from ivr.flows.runner import run_flow
from ivr.flows.simulate import ScriptedCall, SimServices

from flow_paths import CONFIG

AT = dt.datetime(2026, 11, 27, 10, 0)

MAIN = """
flow: callback
entry: ask
prompts:
  ask_phone: {zh: 请输入您的手机号码，以井号结束。}
  thanks: {zh: 谢谢。}
  wrong: {zh: 号码有误。}
nodes:
  ask:
    collect: ask_phone
    into: mobile
    min_digits: 11
    max_digits: 11
    pattern: "1[3-9][0-9]{9}"
    invalid_prompt: wrong
    tries: 2
    next: mark
    on_failure: person
  mark:
    set: {matter: callback, language: zh}
    next: common
  common:
    run: shared
    next: decide
  decide:
    branch:
      - if: {var: {matter: callback}, caller_area: "0432"}
        goto: jilin_person
      - else: person
  jilin_person:
    enqueue: jilin
    skills: [zh]
    priority: 2
    after_talk: bye
    no_agent: bye
  person:
    enqueue: $center
  bye:
    hangup: thanks
"""

SHARED = """
flow: shared
entry: hello
nodes:
  hello:
    play: thanks
    next: back
  back:
    return: yes
"""


@pytest.fixture
def flowset(tmp_path):
    (tmp_path / "callback.yaml").write_text(textwrap.dedent(MAIN), encoding="utf-8")
    shared = SHARED.replace("play: thanks", "play: goodbye")
    (tmp_path / "shared.yaml").write_text(textwrap.dedent(shared), encoding="utf-8")
    result = load_and_check(sorted(tmp_path.glob("*.yaml")), CONFIG, None, whole_folder=False)
    assert result.ok, "\n".join(map(str, result.problems))
    return result.flowset


class RecordingServices(SimServices):
    def __init__(self, talked=True):
        super().__init__(agent_talks=talked)
        self.queued = []

    async def enqueue(self, call, queue, skills, priority, context):
        self.queued.append((queue, tuple(skills), priority, dict(context)))
        return self.agent_talks      # a bare bool is accepted too


def run(flowset, presses, caller="043288881234", services=None, variables=None):
    call = ScriptedCall(flowset, caller=caller, dialled="043212345", presses=presses)
    services = services or RecordingServices()
    result = asyncio.run(run_flow(flowset.flow("callback"), call, services, now=AT, clock=call.clock,
                                  variables=variables or {"center": "jilin"}))
    return call, services, result


def test_collect_set_subflow_branch_enqueue_hangup(flowset):
    call, services, result = run(flowset, ["12345", "13912345678#"])
    assert [(s.flow, s.node) for s in result.path] == [
        ("callback", "ask"), ("callback", "mark"), ("callback", "common"), ("shared", "hello"),
        ("shared", "back"), ("callback", "decide"), ("callback", "jilin_person"), ("callback", "bye")]
    assert result.variables["mobile"] == "13912345678" and result.variables["matter"] == "callback"
    assert result.path[0].input == "12345,13912345678"
    assert result.keys == ["12345", "13912345678"]
    assert result.prompts == ["ask_phone", "wrong", "ask_phone", "goodbye", "thanks"]
    queue, skills, priority, context = services.queued[0]
    assert (queue, skills, priority) == ("jilin", ("zh",), 2)
    assert context["mobile"] == "13912345678" and context["flow"] == "callback" and context["center"] == "jilin"
    assert result.outcome["kind"] == "queue" and result.outcome["talked"] is True
    assert result.hung_up_by == "flow" and call.hung_up
    assert services.recorded == [result]
    # timings follow the call's clock: the second attempt starts after prompt, wait and retry prompt
    assert result.path[1].at_s > result.path[0].at_s > -1 and result.duration_s == pytest.approx(call.now_s)


def test_branch_else_and_center_queue(flowset):
    _, services, result = run(flowset, ["13912345678"], caller="13900001111")
    assert services.queued[0][0] == "jilin" and result.path[-1].node == "person"


def test_failure_path_after_two_bad_tries(flowset):
    _, services, result = run(flowset, ["1", ""])
    assert [s.node for s in result.path] == ["ask", "person"]
    assert result.path[0].detail == "no valid input (timeout)"


def test_caller_hangs_up_mid_menu(flowset):
    class Gone(RecordingServices):
        pass

    call = ScriptedCall(flowset, caller="1", dialled="12345", presses=None, read=lambda: (_ for _ in ()).throw(EOFError()))
    services = Gone()
    result = asyncio.run(run_flow(flowset.flow("callback"), call, services, now=AT, clock=call.clock))
    assert result.hung_up_by == "caller" and result.outcome == {"kind": "abandoned", "node": "ask"}
    assert services.recorded == [result] and not call.hung_up


def test_record_failure_does_not_crash_the_call(flowset):
    class Broken(RecordingServices):
        async def record(self, call, result):
            raise ConnectionError("redis down")

    _, _, result = run(flowset, ["13912345678"], services=Broken())
    assert result.outcome["kind"] == "queue"


def test_every_log_line_carries_the_call_id(flowset):
    with structlog.testing.capture_logs() as logs:
        call, _, _ = run(flowset, ["13912345678"])
    flow_lines = [l for l in logs if l["event"].startswith("flow.")]
    assert flow_lines and all(l.get("call_id") == call.call_id for l in flow_lines)
    assert {"flow.node", "flow.enqueue", "flow.end"} <= {l["event"] for l in flow_lines}


def test_transfer_failure_follows_on_fail(shipped):
    call = ScriptedCall(shipped, caller="043388881234", dialled="12345", presses=["3"], dial_status="BUSY")
    services = SimServices(transfer_status="BUSY")
    from ivr.flows.runner import run_call
    result = asyncio.run(run_call(shipped, call, services, now=AT, clock=call.clock))
    assert [s.node for s in result.path][:3] == ["welcome", "to_tax", "tax_failed"]
    assert result.outcome["queue"] == "yanbian"


def test_default_transfer_dials_through_the_call():
    from ivr.flows.runner import dial_out

    class Dialer:
        async def dial(self, target, *, timeout_s, options=""):
            self.args = (target, timeout_s)
            return DialResult("ANSWER", 12.0, "caller")

    d = Dialer()
    res = asyncio.run(dial_out(d, "12366", timeout_s=20))
    assert d.args == ("Local/12366@hotline-out", 20) and res.status == "ANSWER"


def test_a_failing_queue_is_stored_then_raised(flowset):
    class AcdDown(RecordingServices):
        async def enqueue(self, call, queue, skills, priority, context):
            raise ConnectionError("ACD unreachable")

    services = AcdDown()
    call = ScriptedCall(flowset, caller="043288881234", dialled="043212345", presses=["13912345678"])
    with pytest.raises(ConnectionError):
        asyncio.run(run_flow(flowset.flow("callback"), call, services, now=AT, clock=call.clock,
                             variables={"center": "jilin"}))
    [stored] = services.recorded
    assert stored.outcome["kind"] == "error" and stored.outcome["was"] == "queue"
    assert "ACD unreachable" in stored.outcome["error"] and stored.path[-1].node == "jilin_person"
    assert stored.variables["mobile"] == "13912345678"
