"""Every decision a flow takes, as plain functions of a node and what the caller did.

No I/O here: the live interpreter, the simulator and the tests call the same
functions, so a decision tested here is the decision taken on a real call.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ivr.flows import model as m

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")   # China keeps one zone and no summer time


@dataclass(frozen=True, slots=True)
class Step:
    """What to do after one attempt at a menu, collect or survey node.

    ``goto`` set: leave for that node.  ``retry`` set: play that prompt (may be
    empty) and ask again.  ``value``: the digits or score taken.
    """
    goto: str | None = None
    retry: str | None = None
    again: bool = False
    value: str | None = None
    failure: str = ""        # "", "timeout" or "invalid"


def _failure(node, failure: str, attempt: int, on_failure: str | None) -> Step:
    if attempt >= node.tries:
        return Step(goto=on_failure, failure=failure)
    prompt = node.timeout_prompt if failure == "timeout" else node.invalid_prompt
    return Step(again=True, retry=prompt, failure=failure)


def menu_step(node: m.Menu, digit: str | None, attempt: int) -> Step:
    """``attempt`` counts from 1; ``digit`` None or '' means the caller pressed nothing."""
    if digit and digit[:1] in node.keys:
        return Step(goto=node.keys[digit[:1]], value=digit[:1])
    return _failure(node, "invalid" if digit else "timeout", attempt, node.on_failure)


def strip_terminator(node: m.Collect, digits: str | None) -> str:
    digits = digits or ""
    return digits[:-1] if digits.endswith(node.terminator) else digits


def digits_valid(node: m.Collect, digits: str) -> bool:
    if not digits.isdigit() or not (node.min_digits <= len(digits) <= node.max_digits):
        return False
    return node.pattern is None or re.fullmatch(node.pattern, digits) is not None


def collect_step(node: m.Collect, digits: str | None, attempt: int) -> Step:
    got = strip_terminator(node, digits)
    if got and digits_valid(node, got):
        return Step(goto=node.next, value=got)
    return _failure(node, "invalid" if got else "timeout", attempt, node.on_failure)


def survey_step(node: m.Survey, digit: str | None, attempt: int) -> Step:
    """A survey never insists: after the last try the caller simply leaves without a score."""
    if digit and digit[:1] in node.scores:
        return Step(goto=node.next, value=node.scores[digit[:1]])
    if attempt >= node.tries:
        return Step(goto=node.next, failure="invalid" if digit else "timeout")
    return Step(again=True, retry=node.invalid_prompt, failure="invalid" if digit else "timeout")


# ------------------------------------------------------------------ branches


@dataclass(frozen=True)
class Facts:
    """What a branch may look at."""
    caller: str = ""
    dialled: str = ""
    center: str = ""
    language: str = "zh"
    variables: dict[str, str] = field(default_factory=dict)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(CHINA))
    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()
    area_codes: tuple[str, ...] = ()


def normalise_number(number: str) -> str:
    """Strip separators and the country code so area codes can be read: +86 431… -> 0431…"""
    n = re.sub(r"[^0-9+]", "", number or "")
    if n.startswith("+86"):
        n = n[3:]
        return n if n.startswith("1") else "0" + n
    if n.startswith("0086"):
        n = n[4:]
        return n if n.startswith("1") else "0" + n
    return n.lstrip("+")


def caller_area(caller: str, known: tuple[str, ...] | list[str] = ()) -> str | None:
    """Area code of a fixed-line caller; None for mobiles (ivr.flows.locate places those by segment)."""
    n = normalise_number(caller)
    if not n.startswith("0") or len(n) < 9:
        return None
    for code in sorted(known, key=len, reverse=True):
        if n.startswith(code):
            return code
    if n[1] in "12":                 # 010, 020-029: three-digit codes
        return n[:3]
    return n[:4]


def notice_due(until: str, today: dt.date) -> bool:
    """A transition notice (过渡期电话语音提示) plays until its last day (subcenters.yaml
    ``notice_until``, which routing hands to the call as a variable); without one it plays on."""
    if not until:
        return True
    try:
        return today <= dt.date.fromisoformat(until)
    except ValueError:          # the config reader refuses such a date; never drop the notice silently
        return True


def is_workday(day: dt.date, holidays, workdays) -> bool:
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def in_span(minutes: int, span: tuple[int, int]) -> bool:
    start, end = span
    if start <= end:
        return start <= minutes < end
    return minutes >= start or minutes < end   # over midnight, e.g. 22:00-08:00


def case_matches(case: m.Case, facts: Facts) -> bool:
    now = facts.now.astimezone(CHINA) if facts.now.tzinfo else facts.now
    for key, want in case.conditions.items():
        if key == "caller_prefix":
            n = normalise_number(facts.caller)
            if not any(n.startswith(p) for p in want):
                return False
        elif key == "caller_area":
            if caller_area(facts.caller, facts.area_codes) not in want:
                return False
        elif key == "dialled":
            if normalise_number(facts.dialled) not in want:
                return False
        elif key == "center":
            if facts.center not in want:
                return False
        elif key == "language":
            if facts.language not in want:
                return False
        elif key == "var":
            for var, values in want.items():
                if facts.variables.get(var, "") not in values:
                    return False
        elif key == "time":
            if not in_span(now.hour * 60 + now.minute, want):
                return False
        elif key == "weekday":
            if now.weekday() not in want:
                return False
        elif key == "holiday":
            if (now.date() in facts.holidays) != want:
                return False
        elif key == "workday":
            if is_workday(now.date(), facts.holidays, facts.workdays) != want:
                return False
        elif key == "notice_due":
            if notice_due(facts.variables.get("notice_until", ""), now.date()) != want:
                return False
        else:
            return False
    return True


def branch_target(node: m.Branch, facts: Facts) -> str:
    for case in node.cases:
        if case_matches(case, facts):
            return case.goto
    return node.otherwise


def set_values(node: m.SetVars, variables: dict[str, str]) -> dict[str, str]:
    out = dict(variables)
    out.update(node.values)
    return out


def resolve_queue(queue: str, center: str) -> str:
    return center if queue == "$center" else queue


def transfer_number(target: m.Target, config: m.Config) -> str:
    """The number dialled for a transfer target."""
    if target.kind in ("emergency", "number"):
        return target.ref
    if target.kind == "hotline":
        h = config.hotlines.get(target.ref)
        return (h.transfer_to or h.number) if h else target.ref
    if target.kind == "center":
        c = config.centers.get(target.ref)
        if c and c.numbers:
            return c.numbers[0]
        return f"{c.area_code or ''}12345" if c else target.ref
    return target.ref
