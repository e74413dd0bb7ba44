"""AGI answers and AsyncAGI environments as the recorded Asterisk sends them."""

from __future__ import annotations

import re

import pytest

from ivr.ami.agi_result import decode_exec_result, parse, parse_env


@pytest.mark.parametrize(
    "text, code, result, data, endpos, ok, hung_up",
    [
        ("200 result=1 (ANSWER)", 200, "1", "ANSWER", None, True, False),
        ("200 result=0 endpos=11360", 200, "0", "", 11360, True, False),
        ("200 result=-1 endpos=7360", 200, "-1", "", 7360, False, True),
        ("200 result= (timeout)", 200, "", "timeout", None, True, False),
        ("200 result=12 (timeout)\n", 200, "12", "timeout", None, True, False),
        ("200 result=1 (043188886666)", 200, "1", "043188886666", None, True, False),
        ("200 result=1 (张三 李四)", 200, "1", "张三 李四", None, True, False),
        ("200 result=0 (hangup)", 200, "0", "hangup", None, False, True),
        ("510 Invalid or unknown command", 510, None, "Invalid or unknown command", None, False, False),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, None,
         "Command Not Permitted on a dead channel or intercept routine", None, False, True),
        ("HANGUP", 0, None, "", None, False, True),
        ("Unknown Result", 0, None, "Unknown Result", None, False, False),
        ("", 0, None, "", None, False, False),
    ],
)
def test_parse(text, code, result, data, endpos, ok, hung_up):
    r = parse(text)
    assert (r.code, r.result, r.data, r.endpos, r.ok, r.hung_up) == (code, result, data, endpos, ok, hung_up)


def test_520_multi_line_usage():
    text = (
        "520-Invalid command syntax.  Proper usage follows:\n"
        " Usage: STREAM FILE <filename> <escape digits> [sample offset]\n"
        "520 End of proper usage.\n"
    )
    r = parse(text)
    assert r.code == 520 and not r.ok and not r.hung_up
    assert r.data.splitlines() == [
        "Invalid command syntax.  Proper usage follows:",
        " Usage: STREAM FILE <filename> <escape digits> [sample offset]",
    ]


def test_number_is_the_digit_code():
    assert parse("200 result=49").number == 49 and chr(parse("200 result=49").number) == "1"
    assert parse("200 result= (timeout)").number is None


def test_exec_results_from_captures(captures_dir):
    raw = (captures_dir / "asyncagi-dial-noanswer-busy.raw").read_bytes().decode("utf-8")
    encoded = re.findall(r"^Result: (\d{3}%20.*)\r$", raw, re.M)
    results = [decode_exec_result(e) for e in encoded]
    assert len(results) == len(encoded) > 5
    assert all(r.code == 200 for r in results)
    statuses = [r.data for r in results if r.data]
    assert {"NOANSWER", "BUSY", "CHANUNAVAIL"} <= set(statuses)
    assert decode_exec_result("200%20result%3D1%20(NOANSWER)%0A").data == "NOANSWER"
    assert decode_exec_result("200%20result%3D0%20endpos%3D11360%0A").endpos == 11360


def test_env_of_the_recorded_call(captures_dir):
    raw = (captures_dir / "asyncagi-ivr-to-agent.raw").read_bytes().decode("utf-8")
    env_text = re.search(r"^Env: (.*)\r$", raw, re.M).group(1)
    env = parse_env(env_text)
    assert env["agi_callerid"] == "043188886666"
    assert env["agi_calleridname"] == "张三"
    assert env["agi_channel"] == "Local/12345@hotline-in-00000000;2"
    assert env["agi_uniqueid"] == "pbx1-1795757805.1"
    assert env["agi_accountcode"] == ""
    assert env["agi_dnid"] == "unknown"
    assert len(env) == env_text.count("%0A") - 1  # one line a key, then the blank line
