"""The checker against a corpus of broken flows: one file per kind of mistake.

Each file's header names what must be reported: ``# expect: SEVERITY LINE:COL message``.
"""

from __future__ import annotations

import re

import pytest

from ivr.cli import main
from ivr.flows.check import load_and_check

from flow_paths import BROKEN, CONFIG

EXPECT = re.compile(r"^# expect: (error|warning) (\d+):(\d+) (.+)$")
CASES = sorted(BROKEN.glob("*.yaml"))


def expectations(path):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        mt = EXPECT.match(line)
        if mt:
            out.append((mt.group(1), int(mt.group(2)), int(mt.group(3)), mt.group(4)))
    return out


def test_corpus_covers_every_kind_of_mistake():
    names = {p.stem for p in CASES}
    for kind in ("syntax", "unknown_key", "wrong_type", "missing_node", "missing_queue", "missing_subcenter",
                 "missing_prompt", "unreachable", "endless_loop", "endless_loop_no_way_out",
                 "endless_loop_redial", "bad_audio_name", "clashing_keys", "silent_prompt", "over_budget"):
        assert kind in names
    assert all(expectations(p) for p in CASES), "every corpus file states what it expects"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_broken_flow_reported_at_its_line(path):
    result = load_and_check([path], CONFIG, None, whole_folder=False)
    mine = [p for p in result.problems if p.file == str(path)]
    for severity, line, col, message in expectations(path):
        hits = [p for p in mine if p.severity == severity and p.line == line and p.col == col and message in p.message]
        assert hits, f"expected {severity} {line}:{col} {message!r}; got:\n" + "\n".join(map(str, mine))
    has_error = any(e[0] == "error" for e in expectations(path))
    assert result.ok is (not has_error)
    assert (result.flowset is None) is has_error


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_cli_prints_file_line_col_and_exit_status(path, capsys):
    status = main(["check", str(path), str(CONFIG), "--prompts-dir", "/nonexistent"])
    out = capsys.readouterr().out
    for severity, line, col, message in expectations(path):
        prefix = f"{path}:{line}:{col}: " + ("warning: " if severity == "warning" else "")
        assert any(l.startswith(prefix) and message in l for l in out.splitlines()), out
    assert status == (1 if any(e[0] == "error" for e in expectations(path)) else 0)
    for l in out.splitlines():   # one problem per line, every line FILE:LINE:COL: message
        assert re.match(r"^[^:]+:\d+:\d+: ", l), l
