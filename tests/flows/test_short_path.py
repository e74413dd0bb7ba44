"""A shorter way to a person: a caller who presses nothing reaches a queue within 8 s in every shipped
flow, by the checker's own budgets, with prompt lengths estimated from the texts and measured from the
audio ``ivr prompts`` makes; a longer main path is a checker warning."""

from __future__ import annotations

import shutil


from ivr.cli import main
from ivr.flows import budget
from ivr.flows.check import check_paths, flow_files, load_and_check

from flow_paths import CONFIG, FLOWS

CENTER_FLOWS = ("city", "changchun", "yanbian", "merged")


def main_paths(prompts_dir) -> dict[str, tuple[float, list[str]]]:
    result = load_and_check(flow_files(FLOWS), CONFIG, prompts_dir)
    assert result.ok, "\n".join(map(str, result.errors))
    lib = result.flowset
    return {name: budget.main_path(lib, lib.flows[name]) for name in CENTER_FLOWS}


def test_main_paths_fit_8_s_with_estimated_lengths():
    for name, (seconds, path) in main_paths(None).items():
        assert 0 < seconds <= budget.MAIN_PATH_S, (name, seconds, path)


def test_main_paths_fit_8_s_with_measured_lengths(tmp_path, in_root, capsys):
    out = tmp_path / "prompts"
    assert main(["prompts", "--out", str(out)]) == 0
    capsys.readouterr()
    measured = main_paths(out)
    for name, (seconds, path) in measured.items():
        assert 0 < seconds <= budget.MAIN_PATH_S, (name, seconds, path)
    assert main(["check", "flows", "config", "--prompts-dir", str(out), "--budgets"]) in (0, 1)
    printed = [l for l in capsys.readouterr().out.splitlines() if l.startswith("main path: ")]
    assert {l.split()[3].rstrip(":") for l in printed} >= set(CENTER_FLOWS)
    for line in printed:
        name = line.split()[3].rstrip(":")
        if name in measured:
            assert f"no key {measured[name][0]:.1f} s to a queue (budget 8 s)" in line


def test_the_main_path_is_the_no_key_one():
    seconds, path = main_paths(None)["city"]
    assert path == ["welcome(no key)", "to_city"]


def test_a_long_menu_on_the_main_path_is_a_warning(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    city = flows / "city.yaml"
    text = city.read_text(encoding="utf-8")
    menu = next(l for l in text.splitlines() if l.strip().startswith("zh:") and "按9" in l)
    city.write_text(text.replace(menu, menu + "如需查询请按5，如需投诉请按6，如需建议请按7。"), encoding="utf-8")
    result = check_paths([str(flows), str(CONFIG)], None)
    assert result.ok                                 # a warning, not an error: the node still serves
    found = [str(p) for p in result.problems if "main-path budget" in str(p)]
    assert len(found) == 1 and "city.yaml" in found[0] and "flow 'city'" in found[0], found
    assert "via welcome(no key) > to_city" in found[0]
