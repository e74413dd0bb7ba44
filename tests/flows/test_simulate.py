"""Every path of every shipped flow through ``ivr simulate``, and the plan's promises on the way."""

from __future__ import annotations

import json

import pytest

from ivr.cli import main

WORKDAY = "2026-11-27 10:00"      # a Friday
NIGHT = "2026-11-27 23:30"
HOLIDAY = "2026-10-01 10:00"      # National Day
WEEKEND_WORKDAY = "2026-10-10 10:00"   # Saturday worked in lieu (调休)


def simulate(capsys, *args):
    status = main(["simulate", *args, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("did,caller,press,queue,skills", [
    ("12345", "043188881234", "1", "province", ["zh"]),        # Changchun: the province's matter
    ("12345", "043188881234", "2", "changchun", ["zh"]),       # Changchun's own matter
    ("12345", "043188881234", "", "changchun", ["zh"]),        # no key: a person at Changchun
    ("043212345", "13900001111", "2", "province", ["zh"]),     # a city hands province matters on
    ("043212345", "13900001111", "", "jilin", ["zh"]),         # its own city first
    ("043212345", "13900001111", "5", "jilin", ["zh"]),        # a wrong key: a person, no second try
    ("043312345", "043388881234", "7", "yanbian", ["ko"]),     # Yanbian: Korean seats
    ("043312345", "043388881234", "8", "yanbian", ["zh"]),     # outside the remit: told, then a person
    ("043612345", "13900001111", "4", "province", ["zh", "expert_enterprise"]),  # 涉企: the province's experts in office hours
])
def test_outcomes(in_root, capsys, did, caller, press, queue, skills):
    out = simulate(capsys, "--did", did, "--caller", caller, "--press", press, "--at", WORKDAY)
    assert out["outcome"]["kind"] == "queue"
    assert (out["outcome"]["queue"], out["outcome"]["skills"]) == (queue, skills)
    assert out["prompts"][0]["text"].startswith("紧急按9")     # the menu: short, emergency first


@pytest.mark.parametrize("key,number", [("1", "110"), ("2", "119"), ("3", "120"), ("4", "122"), ("", "110")])
def test_emergency_goes_out_at_once(in_root, capsys, key, number):
    out = simulate(capsys, "--did", "12345", "--caller", "043488881234", "--press", f"9,{key}", "--at", WORKDAY)
    assert out["outcome"] == {"kind": "transfer", "target": f"emergency {number}", "number": number,
                              "mode": "blind", "status": "ANSWER"}
    assert out["to_queue_s"] is None


def test_emergency_line_unreachable_puts_caller_first_in_queue(in_root, capsys):
    out = simulate(capsys, "--did", "12345", "--caller", "043488881234", "--press", "9,1", "--transfer-status", "BUSY")
    assert out["outcome"]["kind"] == "queue" and out["outcome"]["queue"] == "siping" and out["outcome"]["priority"] == 9
    assert [p["id"] for p in out["prompts"]][-1] == "emergency_failed"


def test_tax_goes_to_the_subcenter_queue(in_root, capsys):
    out = simulate(capsys, "--did", "12345", "--caller", "043588881234", "--press", "3,1")
    assert out["outcome"]["kind"] == "queue" and out["outcome"]["queue"] == "hotline-12366"
    assert [p["id"] for p in out["prompts"]][:2] == ["city_menu", "departments_menu"]


def test_merged_number_hears_notice_and_lands_in_12345(in_root, capsys):
    out = simulate(capsys, "--did", "12319", "--caller", "043788881234", "--press", "1")
    assert out["prompts"][0]["id"] == "notice_12319" and "已并入12345" in out["prompts"][0]["text"]
    assert out["outcome"]["queue"] == "liaoyuan" and out["variables"]["hotline"] == "12319"
    assert out["survey"] == "非常满意"
    assert [s["kind"] for s in out["path"][:3]] == ["branch", "play", "enqueue"]
    assert out["to_queue_s"] == pytest.approx(out["path"][2]["at_s"]) and out["to_queue_s"] > 5


def test_survey_after_agent_and_korean_all_the_way(in_root, capsys):
    out = simulate(capsys, "--did", "043312345", "--caller", "13900001111", "--press", "7,3", "--at", WORKDAY)
    assert out["survey"] == "基本满意"
    assert [p["lang"] for p in out["prompts"][2:]] == ["ko", "ko", "ko"]   # survey, thanks, goodbye


def test_korean_at_night_told_and_sent_to_chinese_seats(in_root, capsys):
    out = simulate(capsys, "--did", "043312345", "--caller", "13900001111", "--press", "7", "--at", NIGHT)
    assert out["outcome"]["skills"] == ["zh"] and "korean_night" in [p["id"] for p in out["prompts"]]


@pytest.mark.parametrize("at,queue,skills", [(WORKDAY, "province", ["zh", "expert_enterprise"]), (HOLIDAY, "siping", ["zh"]),
                                             (WEEKEND_WORKDAY, "province", ["zh", "expert_enterprise"]),
                                             (NIGHT, "siping", ["zh"])])
def test_enterprise_experts_follow_the_calendar(in_root, capsys, at, queue, skills):
    out = simulate(capsys, "--did", "043412345", "--caller", "13900001111", "--press", "4", "--at", at)
    assert (out["outcome"]["queue"], out["outcome"]["skills"]) == (queue, skills)
    assert ("experts_closed" in [p["id"] for p in out["prompts"]]) == (queue != "province")


def test_no_agent_no_survey(in_root, capsys):
    out = simulate(capsys, "--did", "12345", "--caller", "043288881234", "--press", "1", "--no-agent")
    assert out["outcome"]["talked"] is False and out["survey"] is None and out["hung_up_by"] == "flow"


def test_text_output_shows_prompts_keys_and_outcome(in_root, capsys):
    assert main(["simulate", "--did", "12345", "--caller", "043188881234", "--press", "1,2", "--at", WORKDAY]) == 0
    out = capsys.readouterr().out
    assert "[changchun_menu] 紧急按9" in out and "pressed 1" in out
    assert "outcome: queue province (skills zh, priority 0, agent talked); survey: 满意" in out


def test_interactive_keys_from_stdin(in_root, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n\n"))
    assert main(["simulate", "--did", "12345", "--caller", "043188881234", "--at", WORKDAY]) == 0
    out = capsys.readouterr().out
    assert "keys>" in out and "outcome: queue changchun" in out and "(no key for 5 s)" in out


def test_interactive_end_of_input_is_the_caller_hanging_up(in_root, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["simulate", "--did", "12345", "--caller", "043188881234"]) == 0
    assert "caller hung up at welcome" in capsys.readouterr().out


def test_flow_file_option(in_root, capsys):
    out = simulate(capsys, "--flow", "flows/merged.yaml", "--did", "12369", "--caller", "13900001111", "--press", "-")
    assert out["flow"] == "merged" and out["prompts"][0]["id"] == "notice_12369"


@pytest.mark.parametrize("args,message", [
    (["--press", "1,x"], "not phone keys"), (["--at", "tomorrow"], "--at"),
    (["--flow", "flows/nope.yaml"], "no such file"), (["--flow", "nope"], "no such flow")])
def test_bad_input_is_one_line(in_root, capsys, args, message):
    assert main(["simulate", "--did", "12345", "--caller", "1", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_wrong_flag_is_argparse_usage(in_root, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--did", "12345", "--caller", "1", "--presss", "1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err == "ivr: unrecognized arguments: --presss 1 (see 'ivr --help')\n"


ROUTES = [("043112345", "13900001111"), ("043212345", "13900001111"), ("043312345", "043388881234"),
          ("12319", "043588881234"), ("12328", "13900001111"), ("12369", "043988881234"), ("12358", "043688881234"),
          ("12333", "13900001111"), ("12315", "043288881234"), ("12366", "15844301234")]


# the merged flow does not look at the calendar; the center flows do (enterprise experts, Korean seats)
WALKS = [(did, caller, at) for did, caller in ROUTES[:3] for at in (WORKDAY, NIGHT, HOLIDAY)] + \
        [(did, caller, WORKDAY) for did, caller in ROUTES[3:]]


@pytest.mark.parametrize("did,caller,at", WALKS)
def test_every_path_of_every_shipped_flow(in_root, capsys, shipped, did, caller, at):
    out = simulate(capsys, "--did", did, "--caller", caller, "--at", at, "--all-paths")
    paths = out["paths"]
    assert len(paths) >= 3
    for p in paths:
        kind = p["outcome"]["kind"]
        assert kind in ("queue", "transfer"), p            # every call ends with a person or a line
        assert p["hung_up_by"] == "flow"
        if kind == "queue" and p["transfer_status"] == "ANSWER":
            # GB/T 33358: a person within 15 s; time the caller chose to spend listening does not count
            chosen = sum(s["duration_s"] for s in p["path"] if shipped.flows[s["flow"]].nodes[s["node"]].by_choice)
            assert p["to_queue_s"] is not None and p["to_queue_s"] - chosen <= 15.0, p
            if p["agent_talks"]:
                assert "survey_ask" in [x["id"] for x in p["prompts"]]
        if p["transfer_status"] == "NOANSWER":
            assert kind == "queue"                          # a failed transfer still reaches a person


def test_all_paths_visit_every_node_of_every_shipped_flow(shipped):
    from ivr.flows.simulate import all_walks, parse_at

    visited = set()
    runs = [(did, caller, WORKDAY) for did, caller in ROUTES] + [("043312345", "13900001111", NIGHT),
                                                                   ("043212345", "13900001111", NIGHT),
                                                                   ("12345", "043188881234", NIGHT)]
    for did, caller, at in runs:
        for _, _, _, walk in all_walks(shipped, dialled=did, caller=caller, at=parse_at(at)):
            visited |= {(s.flow, s.node) for s in walk.result.path}
    every = {(f.name, n) for f in shipped.flows.values() for n in f.nodes}
    assert every - visited == set()


def test_nobody_free_caller_leaves_a_mobile_number(in_root, capsys):
    out = simulate(capsys, "--did", "043612345", "--caller", "043688881234", "--no-agent",
                   "--press", "1,1391234567,13912345678#")
    assert out["outcome"]["kind"] == "queue" and out["outcome"]["talked"] is False
    assert out["variables"]["callback_number"] == "13912345678"
    assert [p["id"] for p in out["prompts"]][1:] == ["callback_ask", "callback_invalid", "callback_ask",
                                                       "callback_noted", "goodbye"]


def test_wrong_callback_number_twice_is_not_stored(in_root, capsys):
    out = simulate(capsys, "--did", "043612345", "--caller", "043688881234", "--no-agent", "--press", "1,123,12912345678")
    assert "callback_number" not in out["variables"] and out["prompts"][-1]["id"] == "goodbye"
