"""The parts' boundaries, read from the imports: the ACD and the seat planner know nothing of the
engine (nor of AMI), and what the three share (hotline/) depends on none of them."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORBIDDEN = {"acd": {"ivr"}, "seats": {"ivr"}, "hotline": {"ivr", "acd", "seats"}}


def imported(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_part_imports_only_what_it_may(package):
    wrong = {str(p.relative_to(ROOT)): sorted(imported(p) & FORBIDDEN[package])
             for p in (ROOT / package).rglob("*.py") if imported(p) & FORBIDDEN[package]}
    assert wrong == {}
