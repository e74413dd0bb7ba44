"""Hostile or huge flow files are refused as one FILE:LINE:COL problem, cheaply; big flows still check.

Memory is measured with tracemalloc (in the process) and with the child's own
rusage (``ivr check`` as a command), CPU time with ``resource``: never wall time.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import tracemalloc

import pytest

from hotline import yamlpos
from ivr.flows.check import load_and_check
from ivr.flows.model import MAX_WALK_STEPS
from hotline.yamlpos import load_file

from flow_paths import CONFIG, ROOT

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def laughs(levels: int) -> str:
    """A flow file whose last key expands to 9**levels strings through aliases."""
    text = 'flow: laughs\nentry: a\nnodes: {a: {hangup: goodbye}}\nl0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return text


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def checked_with_peak(path):
    tracemalloc.start()
    cpu = cpu_s()
    try:
        result = load_and_check([path], CONFIG, None, whole_folder=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak, cpu_s() - cpu


def only_problem(result, path) -> str:
    mine = [p for p in result.problems if p.file == str(path)]
    assert len(mine) == 1, "\n".join(map(str, result.problems))
    return str(mine[0])


def test_alias_bomb_is_refused_at_the_alias_with_little_memory_and_cpu(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs(5), encoding="utf-8")       # 59,049 strings if expanded
    result, peak, cpu = checked_with_peak(path)
    line = only_problem(result, path)
    assert line.startswith(f"{path}:8:") and "aliases repeat more than 10000 values" in line, line
    assert not result.ok and result.flowset is None
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB traced"
    assert cpu < 2.0


def test_ivr_check_on_a_billion_laughs_stays_small(tmp_path):
    """The command, with nine levels (387 million strings): one line, exit 1, and the child's
    peak memory a few MB above a plain ``ivr check`` of a good file."""
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(laughs(9), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text("flow: good\nentry: bye\nnodes:\n  bye:\n    hangup: goodbye\n", encoding="utf-8")

    def run_measured(path):
        """Exit status, output, peak RSS and CPU of one ``ivr check``: its own rusage from wait4."""
        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

        proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "check", str(path), str(CONFIG), "--prompts-dir", "/nonexistent"],
                                cwd=ROOT, stdout=open(tmp_path / f"{path.stem}.out", "wb"),
                                stderr=open(tmp_path / f"{path.stem}.err", "wb"), preexec_fn=cap)
        timer = threading.Timer(60, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = (tmp_path / f"{path.stem}.out").read_text()
        err = (tmp_path / f"{path.stem}.err").read_text()
        return proc.returncode, out, err, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime

    status, out, err, good_rss, _ = run_measured(good)
    assert status == 0, err
    status, out, err, bomb_rss, bomb_cpu = run_measured(bomb)
    assert status == 1 and "Traceback" not in err, err[-2000:]
    lines = out.splitlines()
    assert len(lines) == 1 and LINE.match(lines[0]) and lines[0].startswith(f"{bomb}:8:"), out
    assert bomb_rss - good_rss < 20 * 2**20, f"grew {(bomb_rss - good_rss) / 2**20:.0f} MiB"
    assert bomb_cpu < 10


def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("flow: deep\nentry: a\nnodes: " + "[" * 20000 + "\n", encoding="utf-8")
    result, peak, _ = checked_with_peak(path)
    line = only_problem(result, path)
    assert line == f"{path}:3:{8 + yamlpos.MAX_DEPTH - 1}: nested more than {yamlpos.MAX_DEPTH} levels deep: refused (no flow needs that)"
    assert peak < 8 * 2**20


def test_alias_cannot_build_depth_the_text_does_not_show(tmp_path):
    nest = "[" * 30 + "x" + "]" * 30
    path = tmp_path / "deep_alias.yaml"
    path.write_text(f"a: &a {nest}\nb: [[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]\n", encoding="utf-8")
    doc = load_file(path)
    assert doc.data is None and [p.message for p in doc.problems] == [
        f"alias '*a' nests the document more than {yamlpos.MAX_DEPTH} levels deep: refused"]


def test_alias_inside_its_own_value_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n", encoding="utf-8")
    doc = load_file(path)
    assert [str(p) for p in doc.problems] == [f"{path}:1:11: alias '*a' is inside the value it names: it would never end"]


def test_aliases_within_the_limit_still_work_with_positions(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("keys: &k {\"1\": to_city, \"2\": to_province}\nagain: *k\nname: &n 0431\ncopy: *n\n", encoding="utf-8")
    doc = load_file(path)
    assert not doc.problems
    assert doc.data["again"] == {"1": "to_city", "2": "to_province"} and doc.data["again"] is not doc.data["keys"]
    assert doc.raw[("copy",)] == "0431"
    assert (doc.at(("again",)).line, doc.at(("again", "2")).line) == (2, 1)   # the copy points at its text


def test_oversize_file_refused_without_parsing_it(tmp_path):
    path = tmp_path / "huge.yaml"
    body = "flow: huge\nentry: bye\nnodes:\n  bye:\n    hangup: goodbye\n"
    path.write_text(body + "#" * (yamlpos.MAX_BYTES - len(body) + 1), encoding="utf-8")
    result, _, cpu = checked_with_peak(path)
    assert only_problem(result, path) == (f"{path}:1:1: {yamlpos.MAX_BYTES + 1} bytes is over the limit of "
                                          f"{yamlpos.MAX_BYTES} bytes for one file: refused")
    assert cpu < 1.0
    path.write_text(body + "#" * (yamlpos.MAX_BYTES - len(body) - 1), encoding="utf-8")
    assert load_and_check([path], CONFIG, None, whole_folder=False).ok


def test_a_fifo_named_like_a_flow_does_not_block_the_loader(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    got = []
    reader = threading.Thread(target=lambda: got.append(load_file(path)), daemon=True)
    reader.start()
    reader.join(10)
    assert got, "load_file blocked on a FIFO"
    assert [str(p) for p in got[0].problems] == [f"{path}:1:1: not a regular file: refused"]


def chain(n: int, *, loop_back: bool = False) -> str:
    lines = ["flow: chain", "entry: n0", "budget_s: 100000", "nodes:"]
    for i in range(n):
        nxt = f"n{i + 1}" if i + 1 < n else ("n0" if loop_back else "person")
        lines += [f"  n{i}:", "    play: goodbye", f"    next: {nxt}"]
    lines += ["  person:", "    enqueue: changchun"]
    return "\n".join(lines) + "\n"


def test_a_chain_of_2000_nodes_checks_fine(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(chain(2000), encoding="utf-8")
    result = load_and_check([path], CONFIG, None, whole_folder=False)
    assert result.ok and [str(p) for p in result.problems if p.file == str(path)] == [
        f"{path}:2:8: warning: flow 'chain': a call may pass 2001 nodes before a queue; "
        f"the engine ends a call's walk after {MAX_WALK_STEPS} steps"]
    worst, steps = result.budgets["chain"]
    assert len(steps) == 2001 and steps[0] == "n0" and steps[-1] == "person" and worst > 1000


def test_a_loop_of_2000_nodes_is_reported_once_and_short(tmp_path):
    path = tmp_path / "ring.yaml"
    path.write_text(chain(2000, loop_back=True), encoding="utf-8")
    result = load_and_check([path], CONFIG, None, whole_folder=False)
    loops = [p for p in result.errors if "endless loop" in p.message]
    assert len(loops) == 1 and loops[0].line == 5 and loops[0].col == 3
    assert "never waits for the caller and nothing leads out of it" in loops[0].message
    assert "(2000 nodes)" in loops[0].message and len(loops[0].message) < 300


SUB_FLOWS = """
flow: main
entry: ask
nodes:
  ask:
    run: {sub}
    next: again
  again:
    play: goodbye
    next: ask
"""
RATES = """
flow: rates
entry: rate
nodes:
  rate:
    survey: survey_ask
    scores: {"1": good}
    next: back
  back:
    return: yes
"""
ENDS = """
flow: ends
entry: bye
nodes:
  bye:
    hangup: goodbye
"""


@pytest.mark.parametrize("sub,expected", [
    ("rates", "has no way out"),      # the sub-flow waits for a key, but always comes back into the loop
    ("ends", "never waits for the caller"),   # it can end the call, but nobody is asked anything
])
def test_loops_through_sub_flows_are_judged_by_what_the_sub_flow_does(tmp_path, sub, expected):
    files = []
    for name, text in (("main", SUB_FLOWS.format(sub=sub)), ("rates", RATES), ("ends", ENDS)):
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text, encoding="utf-8")
    result = load_and_check(files, CONFIG, None, whole_folder=False)
    loops = [str(p) for p in result.errors if "endless loop" in p.message]
    assert len(loops) == 1 and expected in loops[0] and loops[0].startswith(f"{files[0]}:5:3: endless loop: ask -> again -> ask")


def test_a_loop_that_waits_and_has_a_way_out_passes(tmp_path):
    path = tmp_path / "repeat.yaml"
    path.write_text("flow: repeat\nentry: ask\nnodes:\n  ask:\n    menu: emergency_menu\n"
                    "    keys: {\"1\": ask, \"2\": person}\n    tries: 1\n    on_failure: again\n"
                    "  again:\n    play: goodbye\n    next: ask\n  person:\n    enqueue: changchun\n", encoding="utf-8")
    result = load_and_check([path], CONFIG, None, whole_folder=False)
    assert result.ok, "\n".join(map(str, result.errors))


@pytest.mark.parametrize("pid,what", [("my prompt", "a space"), ("a,b", "a comma"), ("x|y", "'|'")])
def test_prompt_ids_that_make_a_bad_placeholder_name_are_refused(tmp_path, pid, what):
    path = tmp_path / "ids.yaml"
    path.write_text(f'flow: ids\nentry: bye\nprompts:\n  "{pid}": 再见。\nnodes:\n  bye:\n    hangup: "{pid}"\n', encoding="utf-8")
    result = load_and_check([path], CONFIG, None, whole_folder=False)
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"{path}:4:3: prompt id '{pid}' names its placeholder sound file: "
                                            f"sound name 'ivr/zh/{pid}' holds {what}, which Asterisk cannot take")
