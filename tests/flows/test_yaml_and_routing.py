"""Positions and source texts survive YAML; numbers route calls to the right center and flow."""

from __future__ import annotations

import pytest

from hotline.yamlpos import load_text


def test_positions_and_raw_numbers():
    doc = load_text("a:\n  code: 0431\n  time: 08:30\n  list: [1, two]\n", "x.yaml")
    assert doc.data["a"]["code"] == 281          # YAML 1.1 reads an octal number...
    assert doc.raw[("a", "code")] == "0431"      # ...but the source text is kept
    assert doc.raw[("a", "time")] == "08:30"
    assert (doc.at(("a", "list", 1)).line, doc.at(("a", "list", 1)).col) == (4, 13)
    assert doc.key_at(("a", "time")).line == 3 and doc.key_at(("a", "time")).col == 3


def test_duplicate_keys_reported_not_hidden():
    doc = load_text("keys:\n  1: a\n  '1': b\n", "m.yaml")
    assert [str(p) for p in doc.problems] == ["m.yaml:3:3: duplicate key '1' (first at line 2); the later one would hide the first"]
    assert doc.data["keys"] == {"1": "a"}


def test_syntax_error_is_a_problem_not_an_exception():
    doc = load_text("a: [1, 2\nb: 3\n", "s.yaml")
    assert doc.data is None and len(doc.problems) == 1
    assert doc.problems[0].message.startswith("YAML syntax") and doc.problems[0].line >= 2


@pytest.mark.parametrize("dialled,caller,flow,center", [
    ("12345", "043188881234", "changchun", "changchun"),       # province and Changchun share 12345
    ("12345", "13900001111", "changchun", "changchun"),        # mobile, no area code: default center
    ("12345", "043288881234", "city", "jilin"),
    ("043212345", "13900001111", "city", "jilin"),             # the carrier puts the area code in front
    ("043312345", "043288881234", "yanbian", "yanbian"),       # the number dialled wins over the caller
    ("12345", "+86 433 8888 1234", "yanbian", "yanbian"),
    ("12345", "043988881234", "city", "baishan"),
    ("12319", "043488881234", "merged", "siping"),             # merged hotline: caller's own center
    ("043812328", "13900001111", "merged", "songyuan"),
])
def test_routes(shipped, dialled, caller, flow, center):
    route = shipped.route(dialled, caller)
    assert (route.flow, route.center, route.matched) == (flow, center, True)
    assert route.vars["center"] == center


def test_merged_route_carries_the_hotline(shipped):
    assert shipped.route("12358", "13900001111").vars["hotline"] == "12358"


def test_unknown_number_still_answered_by_default_center(shipped):
    route = shipped.route("99999", "13900001111")
    assert (route.center, route.flow, route.matched) == ("changchun", "changchun", False)
