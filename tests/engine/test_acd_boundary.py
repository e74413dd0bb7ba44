"""The engine reaches the ACD through one typed interface (acd/api.py ``AcdApi``) and nothing else:
read from the source of ivr/, every attribute the engine uses on an ACD is one of the interface's,
so neither the ACD's store nor its config (nor anything private) is touched from the engine."""

from __future__ import annotations

import ast
import inspect
import pathlib

from acd.api import AcdApi
from acd.service import Acd
from acd.store import MemoryStore
from acd import config as acd_config_mod

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Files whose ``acd`` is not the ACD (ivr/flows/config.py: the path of acd.yaml).
NOT_THE_ACD = {"ivr/flows/config.py"}


def members() -> set[str]:
    own = {name for name in vars(AcdApi) if not name.startswith("_")}
    return own | set(AcdApi.__annotations__)


def acd_attributes() -> dict[str, set[str]]:
    """file -> attributes used on something called ``acd`` (``acd.x``, ``self.acd.x``, ``rt.acd.x``)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in NOT_THE_ACD:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if not isinstance(node, ast.Attribute):
                continue
            handle = node.value
            if (isinstance(handle, ast.Name) and handle.id == "acd") or (
                    isinstance(handle, ast.Attribute) and handle.attr == "acd"):
                found.setdefault(rel, set()).add(node.attr)
    return found


def test_the_engine_uses_only_the_acd_interface():
    used = acd_attributes()
    assert used, "the scan found no use of the ACD at all: it no longer reads the engine"
    outside = {f: sorted(attrs - members()) for f, attrs in used.items() if attrs - members()}
    assert outside == {}
    assert not any({"store", "config"} & attrs for attrs in used.values())


def test_the_acd_implements_the_interface_with_the_same_signatures():
    acd = Acd(MemoryStore(), acd_config_mod.load(), "n1")
    assert isinstance(acd, AcdApi)
    for name in sorted(members()):
        declared = getattr(AcdApi, name, None)
        if declared is None or isinstance(declared, property):
            assert hasattr(acd, name), name
            continue
        want = list(inspect.signature(declared).parameters)[1:]
        got = list(inspect.signature(getattr(acd, name)).parameters)
        assert got == want, f"Acd.{name}{got} is not AcdApi.{name}{want}"
