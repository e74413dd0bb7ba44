"""Mangled flow and config files never crash the checker: every mistake becomes a problem line."""

from __future__ import annotations

import random
import shutil

import pytest

from ivr.flows.check import load_and_check

from flow_paths import CONFIG, FLOWS

JUNK = ["", "[", "{}", "5", "[]", "null", "yes", "- x", "{a: 1}", "'1'", "x: y", "2026-13-01", "0431", "!!binary x",
        "&a", "*a", ": :", "\t"]


def mangle(lines: list[str], rng: random.Random) -> list[str]:
    out = list(lines)
    i = rng.randrange(len(out))
    op = rng.randrange(3)
    if op == 0:
        del out[i]
    elif op == 1 and ":" in out[i]:
        out[i] = out[i].partition(":")[0] + ": " + rng.choice(JUNK)
    else:
        out.insert(i, " " * rng.randrange(8) + rng.choice(JUNK))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_mangled_files_give_problems_not_exceptions(tmp_path, seed):
    rng = random.Random(seed)
    shutil.copytree(FLOWS, tmp_path / "flows")
    shutil.copytree(CONFIG, tmp_path / "config")
    targets = sorted((tmp_path / "flows").glob("*.yaml")) + [tmp_path / "config" / n for n in
                                                              ("centers.yaml", "numbers.yaml", "subcenters.yaml",
                                                               "prompts.yaml", "calendar.yaml")]
    originals = {p: p.read_text(encoding="utf-8") for p in targets}
    for path in rng.sample(targets, 6):
        path.write_text("\n".join(mangle(originals[path].splitlines(), rng)), encoding="utf-8")
        result = load_and_check(sorted((tmp_path / "flows").glob("*.yaml")), tmp_path / "config", None)
        for problem in result.problems:
            assert problem.line >= 1 and problem.col >= 1 and problem.message and "\n" not in problem.message
        assert (result.flowset is None) == (not result.ok)
        path.write_text(originals[path], encoding="utf-8")
    assert load_and_check(sorted((tmp_path / "flows").glob("*.yaml")), tmp_path / "config", None).ok
