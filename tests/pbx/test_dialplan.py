"""The dialplan model: GotoIf, Set, labels and ``$[...]`` as the shipped dialplan uses them.

config/asterisk/extensions.conf re-enters AsyncAGI after it ends abnormally::

    [hotline-resume]
    exten => s,1,AGI(agi:async)
     same => n,GotoIf($["${AGISTATUS}" = "SUCCESS"]?hotline-fallback,s,1)
     same => n,Wait(1)
     same => n,Goto(s,1)
"""

from __future__ import annotations

import pytest

from ivr.pbx import CallerScript, ConfigError, Pbx, PbxConfig
from ivr.pbx.dialplan import gotoif_branch
from ivr.pbx.variables import check_condition, evaluate, substitute

from pbx_client import SECRET, Client, agi, next_call


@pytest.mark.parametrize("expr,value", [
    ('"SUCCESS" = "SUCCESS"', "1"), ('"FAILURE" = "SUCCESS"', "0"), ('"" = "SUCCESS"', "0"),
    ("FAILURE != SUCCESS", "1"), ("3 < 10", "1"), ('"3" < "10"', "1"), ("abc < abd", "1"),
    ("1 & 0", "0"), ("0 | 7", "7"), ("!0", "1"), ("(2 + 3) = 5", "1"), ("10 - 4", "6"),
    ("= = =", ""), (" + 1", ""),     # syntax errors: Asterisk substitutes nothing
])
def test_expressions(expr, value):
    assert evaluate(expr) == value


def test_substitution_reads_channel_then_global_variables_then_expressions():
    class Ch:
        vars = {"AGISTATUS": "FAILURE"}
        cid_num, cid_name, dnid, name, uniqueid = "0431", "张三", "unknown", "Local/x;2", "u1"
        exten, context, priority, language = "s", "hotline-resume", 2, "zh"
    ch = Ch()
    assert substitute(ch, '$["${AGISTATUS}" = "SUCCESS"]') == "0"
    assert substitute(ch, "${CALLERID(num)}-${EXTEN}@${CONTEXT}:${PRIORITY}") == "0431-s@hotline-resume:2"
    assert substitute(ch, "${QUEUE}", {"QUEUE": "q1"}) == "q1"
    assert substitute(None, "${QUEUE}", {"QUEUE": "q1"}) == "q1"
    assert substitute(ch, "$[${X} + 1") == "$[ + 1"        # unbalanced: left as written


@pytest.mark.parametrize("data,branch", [
    ("1?hotline-fallback,s,1", (True, "hotline-fallback,s,1")),
    ("0?hotline-fallback,s,1", (False, "")),
    ("0?yes:no", (False, "no")), ("abc?yes:no", (True, "yes")), ("?yes:no", (False, "no")),
    ("-2?a,1:b,1", (True, "a,1")),
])
def test_gotoif_branches(data, branch):
    assert gotoif_branch(data) == branch


def test_condition_truth_is_pbx_checkcondition():
    assert not check_condition("") and not check_condition(" 0 ") and check_condition("01x")
    assert check_condition("SUCCESS") and not check_condition("0abc")


def test_config_refuses_unreadable_gotoif_and_set(tmp_path):
    bad = tmp_path / "pbx.yaml"
    bad.write_text("dialplan:\n  c:\n    s: ['GotoIf(1,2,3)']\n")
    with pytest.raises(ConfigError, match=r"dialplan\.c\.s: GotoIf\(1,2,3\) needs condition\?label1\[:label2\]"):
        PbxConfig.load(bad)
    bad.write_text("dialplan:\n  c:\n    s: ['Set(novalue)']\n")
    with pytest.raises(ConfigError, match=r"Set\(novalue\) needs VARIABLE=value"):
        PbxConfig.load(bad)


PLAN = {
    "secret": SECRET,
    "dialplan": {
        "in": {
            "_X.": ["Set(__WHO=${CALLERID(num)})", "Set(GLOBAL(LAST)=${EXTEN})",
                    'GotoIf($["${WHO}" = "13800000001"]?vip:plain)',
                    "n(vip),Set(KIND=vip)", "Goto(+2)",
                    "n(plain),Set(KIND=plain)", "Set(TRIES=0)",
                    "n(serve),AGI(agi:async)",
                    'GotoIf($[${TRIES} >= 2]?out,s,1)', "Set(TRIES=$[${TRIES} + 1])", "Goto(serve)"],
            "_0X.": ["Goto(nowhere,s,1)"],
        },
        "out": {"s": ["Hangup(21)"]},
    },
}


async def _hotline():
    pbx = Pbx(PbxConfig.from_dict(PLAN, speed=20, seed=1))
    await pbx.start()
    client = await Client.connect(*pbx.address)
    await client.login()
    return pbx, client


@pytest.mark.parametrize("number,kind", [("13800000001", "vip"), ("13900000002", "plain")])
async def test_labels_set_and_gotoif_route_the_call(number, kind):
    pbx, client = await _hotline()
    try:
        handle = pbx.place_call(CallerScript(number=number, did="12345", context="in"))
        ch = (await next_call(client))["Channel"]
        assert await agi(client, ch, "GET FULL VARIABLE ${KIND}|${WHO}|${LAST}") == f"200 result=1 ({kind}|{number}|12345)"
        assert pbx.globals["LAST"] == "12345"
        assert any(m.event == "VarSet" and m["Channel"] == "none" and m["Variable"] == "LAST" for m in client.messages)
        # Each ASYNCAGI BREAK goes round the loop: TRIES counts, then $[${TRIES} >= 2] leaves for out.
        for tries in ("0", "1"):
            assert await agi(client, ch, "GET FULL VARIABLE ${TRIES}") == f"200 result=1 ({tries})"
            start = len(client.messages)
            assert await agi(client, ch, "ASYNCAGI BREAK") == "200 result=0"
            await client.wait_for(lambda m: m.event == "AsyncAGIStart", 5, start)
        assert await agi(client, ch, "ASYNCAGI BREAK") == "200 result=0"
        rec = await handle.wait(5)
        assert rec.cause == 21 and rec.hangup_by == "dialplan" and rec.agi_sessions == 3
    finally:
        await client.close()
        await pbx.stop()


def test_patterns_are_tried_most_specific_first():
    ctx = PbxConfig.from_dict(PLAN).dialplan["in"]
    assert [e.name for e in ctx.patterns] == ["_0X.", "_X."]
    assert ctx.find("0999").name == "_0X." and ctx.find("12345").name == "_X."


async def test_goto_to_a_missing_place_ends_the_call():
    pbx, client = await _hotline()
    try:
        rec = await pbx.place_call(CallerScript(number="13900000002", did="0999", context="in")).wait(5)
        assert rec.end is not None and rec.agi_sessions == 0
    finally:
        await client.close()
        await pbx.stop()
