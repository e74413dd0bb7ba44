"""Placeholder prompt audio, the shipped flows through ``ivr check`` and ``ivr graph``, config mistakes."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest

from ivr.cli import main
from ivr.flows import audio
from ivr.flows.audio_len import estimate_seconds, load_table
from ivr.flows.check import load_and_check

from flow_paths import CONFIG, FLOWS


def test_shipped_flows_and_config_pass(in_root, capsys):
    assert main(["check", "flows", "config", "--prompts-dir", "/nonexistent", "--budgets"]) == 0
    out = capsys.readouterr()
    assert "0 error(s), 0 warning(s)" in out.err
    budgets = [l for l in out.out.splitlines() if l.startswith("budget: ")]
    assert {l.split()[2].rstrip(":") for l in budgets} == {"city", "changchun", "yanbian", "merged", "kept"}
    for line in budgets:
        assert float(line.split("worst case ")[1].split(" s")[0]) <= 15.0


def test_check_missing_path_is_one_line(in_root, capsys):
    assert main(["check", "flows/none.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "ivr check: no such file or folder: flows/none.yaml"


def test_speakable_reads_numbers_as_hotline_digits():
    assert audio.speakable("请拨12345，按1", "zh") == "请拨幺二三四五，按一"
    assert audio.speakable("7번", "ko") == "7번"


def test_resample_keeps_duration_and_removes_high_frequencies():
    rate = 22050
    t = np.arange(rate) / rate
    low = (8000 * np.sin(2 * np.pi * 400 * t)).astype("<i2")
    high = (8000 * np.sin(2 * np.pi * 7000 * t)).astype("<i2")   # above 8 kHz audio's 4 kHz limit
    out_low, out_high = audio.resample(low, rate), audio.resample(high, rate)
    assert len(out_low) == 8000
    assert np.abs(out_low[100:-100]).max() > 7000
    assert np.abs(out_high[100:-100]).max() < 800


def test_estimates_grow_with_text():
    assert estimate_seconds("") == 0
    assert estimate_seconds("您好，12345热线。") < estimate_seconds("您好，12345热线。请按1，或者稍候。")


def test_prompts_command(in_root, tmp_path, capsys, monkeypatch):
    """Placeholders for every prompt, the engine's own included, laid out as a sounds folder that
    'ivr check --sounds-dir' accepts once the studio recordings are there too."""
    out_dir = tmp_path / "prompts"
    if shutil.which("espeak-ng") is None:
        assert main(["prompts", "--out", str(out_dir)]) == 2
        err = capsys.readouterr().err
        assert "espeak-ng is not installed" in err and "apt-get install espeak-ng" in err and len(err.splitlines()) == 1
        return
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOWS / "out_of_scope.yaml", flows)
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    (config / "prompts.yaml").write_text("prompts:\n  out_of_scope_explain:\n    zh: 请拨12345。\n    ko: 한국어는 7번.\n"
                                         "  recorded:\n    zh: 已录音。\n    audio: studio/recorded\n"
                                         "  queue_wait: 请稍候。\n  system_fault: 系统繁忙。\n"
                                         "  recording_notice: 您的通话将被录音。\n", encoding="utf-8")
    (config / "numbers.yaml").unlink()
    (config / "subcenters.yaml").unlink()
    assert main(["prompts", str(flows), str(config), "--out", str(out_dir)]) == 0
    made = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.wav"))
    assert made == ["ivr/ko/out_of_scope_explain.wav", "ivr/zh/out_of_scope_explain.wav",   # the recorded one is skipped
                    "ivr/zh/queue_wait.wav", "ivr/zh/recording_notice.wav",
                    "ivr/zh/system_fault.wav"]                                               # used by no flow: the engine's
    with wave.open(str(out_dir / "ivr" / "zh" / "out_of_scope_explain.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        seconds = w.getnframes() / 8000
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert 0.5 < seconds < 10 and np.abs(samples).max() > 1000    # speech, not silence
    table = load_table(out_dir)
    assert table["ivr/zh/out_of_scope_explain"] == pytest.approx(seconds, abs=0.01)
    capsys.readouterr()
    assert main(["prompts", str(flows), str(config), "--out", str(out_dir)]) == 0
    assert f"0 made, {len(made)} unchanged" in capsys.readouterr().err
    # measured lengths feed the checker's budget
    result = load_and_check([flows / "out_of_scope.yaml"], config, out_dir, whole_folder=False)
    assert result.flowset.config.prompt_seconds == table
    # the output folder is a sounds folder: only the studio recording is missing from it
    assert main(["check", str(flows), str(config), "--prompts-dir", str(out_dir), "--sounds-dir", str(out_dir)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "prompt 'recorded' (zh, ko): no sound file for 'studio/recorded'" in out[0]
    (out_dir / "studio").mkdir()
    (out_dir / "studio" / "recorded.gsm").write_bytes(b"\xd8" * 33)
    assert main(["check", str(flows), str(config), "--prompts-dir", str(out_dir), "--sounds-dir", str(out_dir)]) == 0


def test_prompts_without_espeak_is_a_clear_message(in_root, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["prompts", "--out", "/tmp/never"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ivr prompts: espeak-ng is not installed") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt,needles", [
    ("mermaid", ["flowchart TD", '-- "key 9" -->', "sub-flow emergency", "queue province [zh]"]),
    ("dot", ["digraph \"changchun\"", '"welcome" -> "emergency" [label="key 9"];', "shape=box3d"])])
def test_graph(in_root, capsys, fmt, needles):
    assert main(["graph", "flows/changchun.yaml", "--format", fmt]) == 0
    out = capsys.readouterr().out
    for needle in needles:
        assert needle in out


def test_graph_of_a_broken_flow_is_refused(in_root, capsys):
    assert main(["graph", "tests/flows/broken/missing_node.yaml"]) == 2
    captured = capsys.readouterr()
    assert "missing_node.yaml:7:11: no node 'nowhere'" in captured.err


def check_config(tmp_path, file, old, new):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / file).read_text(encoding="utf-8")
    assert old in text
    (config / file).write_text(text.replace(old, new), encoding="utf-8")
    result = load_and_check(sorted(FLOWS.glob("*.yaml")), config, None)
    return [str(p).replace(str(config) + "/", "") for p in result.problems]


@pytest.mark.parametrize("file,old,new,expected", [
    ("subcenters.yaml", "mode: subcenter, transfer_to", "mode: branch, transfer_to",
     "subcenters.yaml:14:43: merge mode 'branch' is not one of: whole, dual, subcenter"),
    ("subcenters.yaml", "mode: whole, notice: notice_12319", "mode: whole",
     "subcenters.yaml:18:5: hotline 12319 merges whole (整体并入) but has no transition 'notice' prompt"),
    ("subcenters.yaml", "notice: notice_12369", "notice: notice_1236",
     "subcenters.yaml:19:58: no prompt 'notice_1236' in config/prompts.yaml"),
    ("numbers.yaml", '"0432": jilin', '"0432": jilln', "numbers.yaml:16:11: no center 'jilln' in config/centers.yaml"),
    ("numbers.yaml", '- {number: "12369", flow: merged', '- {number: "12319", flow: merged',
     "numbers.yaml:46:14: number 12319 already routed at line 45"),
    ("calendar.yaml", "holidays: []", "holidays: [2026-06-21..2026-06-19]",
     "calendar.yaml:18:12: '2026-06-21..2026-06-19' is not a date (2026-10-01) or a range (2026-10-01..2026-10-08)"),
    ("centers.yaml", 'area_code: "0432"', "area_code: 432",
     "centers.yaml:16:104: area code '432' must be 0 followed by 2 or 3 digits (quote it: \"0431\")"),
])
def test_config_mistakes_named_with_their_line(tmp_path, file, old, new, expected):
    problems = check_config(tmp_path, file, old, new)
    assert expected in problems, "\n".join(problems)
