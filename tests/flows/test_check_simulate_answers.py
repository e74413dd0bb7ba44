"""Issue 14 for ``ivr check`` and ``ivr simulate``: answers that were wrong or confusing."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
import sys

from flow_paths import CONFIG, FLOWS, ROOT

from ivr.cli import main


def copy_flows(tmp_path):
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    return folder


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------- 1: checking one file
def test_one_shipped_file_checks_clean_with_its_sub_flows(in_root, capsys):
    assert main(["check", "flows/city.yaml"]) == 0
    err = capsys.readouterr().err
    assert "ivr check: 0 error(s), 0 warning(s)" in err and "no flow named" not in err


def test_one_file_reports_what_it_runs_and_not_the_rest(tmp_path, capsys):
    flows = copy_flows(tmp_path)
    edit(flows / "merged.yaml", "entry: which_hotline", "entry: nowhere")       # city never runs merged
    assert main(["check", str(flows / "city.yaml"), str(CONFIG)]) == 0
    captured = capsys.readouterr()
    assert "merged.yaml" not in captured.out
    assert re.search(r"ivr check: \d+ more problem\(s\) in other flows of " + re.escape(str(flows)), captured.err)

    edit(flows / "survey.yaml", "next: back", "next: nowhere")                  # city runs survey
    assert main(["check", str(flows / "city.yaml"), str(CONFIG)]) == 1
    out = capsys.readouterr().out
    assert f"{flows / 'survey.yaml'}:" in out and "no node 'nowhere'" in out and "merged.yaml" not in out


def test_a_sub_flow_file_that_does_not_load_is_shown_as_the_cause(tmp_path, capsys):
    flows = copy_flows(tmp_path)
    (flows / "emergency.yaml").write_text("flow: emergency\nnodes: [unclosed\n", encoding="utf-8")
    assert main(["check", str(flows / "city.yaml"), str(CONFIG)]) == 1
    out = capsys.readouterr().out
    assert "no flow named 'emergency'" in out and f"{flows / 'emergency.yaml'}:" in out


def test_a_second_definition_of_the_checked_flow_is_reported(tmp_path, capsys):
    flows = copy_flows(tmp_path)
    shutil.copy(flows / "survey.yaml", flows / "survey-new.yaml")
    assert main(["check", str(flows / "survey.yaml"), str(CONFIG)]) == 1
    assert "flow 'survey' is already defined in" in capsys.readouterr().out


def test_folder_check_is_unchanged(in_root, capsys):
    assert main(["check", "flows", "config"]) == 0
    assert "more problem(s)" not in capsys.readouterr().err


# ---------------------------------------------------------------- 10: a number nobody routes
def test_unknown_number_is_one_line_naming_where_numbers_are(in_root, capsys):
    assert main(["simulate", "--did", "99999", "--caller", "043388881234", "--press", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "--did 99999: no route" in err
    assert "config/numbers.yaml" in err and "config/centers.yaml" in err and "yanbian flow" in err


def test_engine_warnings_are_lines_of_the_walk_not_raw_log(in_root, capsys, shipped):
    """The engine's own warning (here its fallback for a number with no route) is a line in words."""
    from hotline import log
    from ivr.flows.simulate import parse_at, simulate

    log.setup("warning", json=True)
    out = io.StringIO()
    walk = simulate(shipped, dialled="99999", caller="043388881234", at=parse_at("2026-11-27 10:00"),
                    presses=["1"], out=out)
    assert any(n.startswith("engine warning: flow.no_route") for n in walk.notes)
    assert "  ! engine warning: flow.no_route (dialled=99999, center=yanbian)" in out.getvalue()
    captured = capsys.readouterr()
    assert '"event"' not in captured.out + captured.err + out.getvalue()
    assert walk.to_json()["notes"] == walk.notes


# ---------------------------------------------------------------- 11: typed keys and Ctrl-C
def test_typed_letters_are_not_keys(in_root, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("abc\n2\n\n"))
    assert main(["simulate", "--did", "12345", "--caller", "043188881234", "--at", "2026-11-27 10:00"]) == 0
    out = capsys.readouterr().out
    assert "'abc' is not phone keys" in out and "pressed abc" not in out
    assert "outcome: queue changchun" in out


def test_first_ctrl_c_ends_the_interactive_walk():
    proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "simulate", "--did", "12345", "--caller", "043188881234"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "keys>" not in proc.stdout.readline():   # waiting for keys now
            assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130          # stdin stays open: only the signal can end it
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


def test_json_walk_carries_notes_field(in_root, capsys):
    assert main(["simulate", "--did", "12345", "--caller", "043188881234", "--press", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
