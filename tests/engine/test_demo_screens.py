"""`ivr demo` as a person reads it: the progress line, the summary at 80 columns, one seed one
story, agents sized by Erlang C, and a broken flow as one line."""

from __future__ import annotations

import io
import random
import re
import shutil

import pytest
from rich.cells import cell_len

from ivr import demo_staffing
from ivr.cli import main
from ivr.demo import (
    DEMO_DIDS,
    DemoOptions,
    _acd_and_prompts,
    _staff,
    agent_behaviours,
    caller_load,
    run_demo,
)
from ivr.demo_screens import PROGRESS_TEXT_MAX, print_summary, progress_line
from ivr.runtime import ROOT


def counts(**kw) -> dict[str, int]:
    base = {"calls": 30, "offered": 30, "live": 0, "answered": 0, "abandoned": 0, "other": 0, "ended": 0,
            "callbacks": 0, "callbacks_ended": 0}
    return {**base, **kw}


def test_progress_says_what_it_counts_and_is_never_full_while_a_call_is_live():
    done, total, text = progress_line(counts(offered=15, ended=12, answered=10, abandoned=2))
    assert (done, total) == (12, 30)
    assert text.startswith("calls ended 12/30, 3 in progress") and "10 answered" in text
    # Every caller ended, a callback still ringing: the callback is a call, so not 30/30.
    done, total, text = progress_line(counts(ended=30, answered=27, abandoned=3, callbacks=3, callbacks_ended=2,
                                             live=1))
    assert done < total and (done, total) == (32, 33) and "1 in progress" in text and "3 callbacks" in text
    # A live call the counts do not know of still keeps the bar short of full.
    done, total, _ = progress_line(counts(ended=30, answered=30, live=1))
    assert done < total
    done, total, text = progress_line(counts(ended=30, answered=27, abandoned=3, callbacks=3, callbacks_ended=3))
    assert done == total == 33 and "0 in progress" in text
    widest = counts(calls=1000, offered=1000, ended=998, answered=900, abandoned=90, callbacks=120,
                    callbacks_ended=100)
    assert len(progress_line(widest)[2]) <= PROGRESS_TEXT_MAX


def test_one_agents_draws_do_not_follow_the_pbx_generator():
    """The PBX hands every draw its shared generator, whose state depends on event order."""
    options = DemoOptions(agents=4, seed=7)
    first, second = agent_behaviours(options), agent_behaviours(options)
    endpoint = "Local/1003@agents"
    a = [first[endpoint].talk_s(random.Random(1)) for _ in range(5)]
    b = [second[endpoint].talk_s(random.Random(99)) for _ in range(5)]
    assert a == b and len(set(a)) == 5
    assert agent_behaviours(DemoOptions(agents=4, seed=8))[endpoint].talk_s(random.Random(1)) != a[0]
    assert caller_load(options) == caller_load(DemoOptions(agents=9, seed=7))   # the callers do not
    # depend on the headcount: the load is the demo's, the agents are sized from it


def test_agents_are_erlang_cs_fewest_for_the_target_in_each_queue():
    options = DemoOptions()
    cfg, _ = _acd_and_prompts(options)
    sized, staffing, cfg = _staff(options, cfg)
    target = cfg.records.answer_target
    assert staffing.sized and staffing.queues and staffing.expected_sl >= target
    assert sized.agents == staffing.answering + options.noanswer_agents == len(cfg.agents)
    for q in staffing.queues:
        assert q.expected_sl >= target
        fewer = demo_staffing.erlang.evaluate_c(q.agents - 1, q.calls, staffing_span(options), staffing.aht_s,
                                                staffing.within_s)
        assert q.agents == 1 or fewer.service_level < target, q
        seated = [a for a in cfg.agents[options.noanswer_agents:] if a.queues == [q.queue]]
        assert len(seated) == q.agents and all(set(q.skills) <= set(a.skills) for a in seated)
    # --agents: the same queues, the headcount shared out by load, and the level Erlang C expects.
    _, given, _ = _staff(DemoOptions(agents=6), _acd_and_prompts(DemoOptions())[0])
    assert not given.sized and given.answering == 5 and given.expected_sl < target


def staffing_span(options: DemoOptions) -> float:
    return options.calls * 3600.0 / options.calls_per_h


async def _short_run(tmp_path, tag: str, progress: list):
    return await run_demo(DemoOptions(calls=16, seed=5, records_db=f"sqlite:///{tmp_path / (tag + '.db')}",
                                      records_spool=str(tmp_path / f"spool-{tag}")),
                          on_progress=lambda c: progress.append(progress_line(c)))


def story(run) -> list[tuple]:
    """Each scripted caller as the PBX saw them: number, keys pressed, arrival (PBX seconds)."""
    callers = {script.number for _, script in caller_load(run.options)}
    calls = sorted((r for r in run.pbx_records if r.caller in callers and r.dialled in set(DEMO_DIDS)),
                   key=lambda r: r.start)
    first = calls[0].start
    return [(r.caller, r.digits, round((r.start - first) * run.options.speed)) for r in calls]


async def test_the_same_seed_twice_gives_the_same_story_and_figures(tmp_path):
    lines_a, lines_b = [], []
    a = await _short_run(tmp_path, "a", lines_a)
    b = await _short_run(tmp_path, "b", lines_b)
    sa, sb = a.summary(), b.summary()
    for key in ("offered", "transferred", "completed_in_ivr", "failed", "lost", "agents"):
        assert sa[key] == sb[key], key
    assert sa["answered"] + sa["abandoned"] == sb["answered"] + sb["abandoned"]
    # Waits are timed by an event loop running 40 times real time: a millisecond of jitter is
    # 0.04 PBX seconds, which can decide a caller whose patience ends just as an agent frees.
    assert abs(sa["answered"] - sb["answered"]) <= 1
    assert abs(sa["asa_s"] - sb["asa_s"]) <= 3.0
    arrivals_a, arrivals_b = story(a), story(b)
    assert len(arrivals_a) == sa["offered"]
    assert [x[:2] for x in arrivals_a] == [x[:2] for x in arrivals_b]
    assert all(abs(x[2] - y[2]) <= 1 for x, y in zip(arrivals_a, arrivals_b))
    for lines in (lines_a, lines_b):
        assert all(done < total for done, total, text in lines if not text.split(", ")[1].startswith("0 "))
        done, total, text = lines[-1]
        assert done == total and "0 in progress" in text

    out = io.StringIO()
    print_summary(sa, a.staffing, out=out, width=80)
    text = out.getvalue()
    assert max(cell_len(line) for line in text.splitlines()) <= 80, text
    assert len(text.splitlines()) <= 24
    for label in ("callers", "answered by an agent", "hung up while waiting", "within 15 s", "agents on duty",
                  "Erlang C"):
        assert label in text, label
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text     # no field names


def test_summary_table_fits_80_columns_with_every_row_there():
    summary = {"offered": 1000, "answered": 880, "abandoned": 70, "transferred": 40, "completed_in_ivr": 3,
               "failed": 2, "shed": 1, "handed_over": 1, "lost": 3, "service_level_answered": 0.8123,
               "service_level_offered": 0.7012, "asa_s": 12.5, "max_to_person_s": 180.2, "threshold_s": 15.0,
               "ivr_to_queue_avg_s": 14.9, "callbacks_made": 60, "callbacks_connected": 55, "pbx_calls": 1060,
               "pbx_calls_ended": 1060, "agents": 120, "speed": 40.0, "wall_s": 330.0, "program": "flows+acd",
               "engine_task_failures": 2, "ami_reconnects": 1, "records_db": "/very/long/path/" + "x" * 90,
               "records_written": 6000, "records_in_spool": 0}
    out = io.StringIO()
    print_summary(summary, None, out=out)          # not a terminal: 80 columns
    text = out.getvalue()
    assert max(cell_len(line) for line in text.splitlines()) <= 80, text
    assert "LOST" in text and "refused, engine full" in text and "AMI reconnects" in text


def test_a_broken_flow_is_one_line_naming_the_place(tmp_path, capsys):
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    (flows / "city.yaml").write_text("flow: city\nentry: welcome\nnodes: [unclosed\n", encoding="utf-8")
    rc = main(["demo", "--flows", str(flows), "--calls", "3"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(rf"ivr demo: {re.escape(str(flows / 'city.yaml'))}:\d+:\d+: YAML syntax", err), err


@pytest.mark.parametrize("flag", ["--agents"])
def test_demo_help_says_how_agents_are_chosen(capsys, flag):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "Erlang C" in " ".join(capsys.readouterr().out.split())
