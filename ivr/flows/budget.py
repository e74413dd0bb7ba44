"""The worst-case time from answer to a queue, for the checker's budget warning.

GB/T 33358 asks for a person within 15 s.  Every path from the entry to an
``enqueue`` is walked (sub-flows entered and returned from), each node costing
what it plays and waits in the worst case.  The walk keeps its own stack: a
long chain of nodes must not hit Python's recursion limit.

The *main path* is the way of a caller who presses nothing: most callers, and
every caller who does not know the menu.  It must reach a queue within
``MAIN_PATH_S`` (GB/T 33358 advises against long IVR menus: what it takes is
time a person is not yet answering), so the checker warns of a longer one.
"""

from __future__ import annotations

from ivr.flows import model as m
from ivr.flows.audio_len import prompt_seconds

MAX_PATHS = 20000        # nodes visited per flow and language before the walk gives up
MAX_SUB_FLOW_DEPTH = 16  # sub-flows inside sub-flows (a circle of them is refused elsewhere)
TYPING_S = 0.6           # seconds a caller needs per digit typed
#: Seconds from answer to a queue on the main path (no key pressed), before the wait for a person.
MAIN_PATH_S = 8.0
#: GB/T 33358's time to a person: a flow whose ``budget_s`` is above it was written not to answer
#: to that standard (a recorded information line, a test), and its main path is held to its own budget.
PERSON_S = 15.0
NO_KEY = "no key"


def seconds(flow: m.Flow, ids, lang: str, table: dict[str, float]) -> float:
    total = 0.0
    for pid in ids or ():
        p = flow.prompt(pid)
        if p is not None:
            total += prompt_seconds(p, lang, table)
    return total


def edge_costs(flow: m.Flow, node: m.Node, lang: str, table: dict[str, float]) -> list[tuple[str, float, str]]:
    """(next node, worst seconds spent in ``node`` before leaving that way, label)."""
    if isinstance(node, m.Play):
        return [(node.next, seconds(flow, node.prompts, lang, table), "")]
    if isinstance(node, (m.Menu, m.Collect)):
        ask = seconds(flow, node.prompts, lang, table)
        retry = max(seconds(flow, [node.invalid_prompt], lang, table), seconds(flow, [node.timeout_prompt], lang, table))
        typing = TYPING_S * node.max_digits if isinstance(node, m.Collect) else 0.0
        one_failure = ask + node.timeout_s + retry
        success = (node.tries - 1) * one_failure + ask + typing
        failure = node.tries * (ask + node.timeout_s) + (node.tries - 1) * retry
        if isinstance(node, m.Menu):
            out = [(t, success, f"key {k}") for k, t in node.keys.items()]
        else:
            out = [(node.next, success, "digits")]
        return out + [(node.on_failure, failure, NO_KEY)]
    if isinstance(node, m.Branch):
        return [(c.goto, 0.0, c.label()) for c in node.cases] + [(node.otherwise, 0.0, "else")]
    if isinstance(node, m.SetVars):
        return [(node.next, 0.0, "")]
    return []    # transfer (the other line's time, not the menu's), hangup, survey: no queue after


_LEAVE = object()


def worst_to_queue(lib: m.FlowSet, flow: m.Flow, lang: str, *, keys: bool = True) -> tuple[float, list[str]]:
    """(worst seconds, the path that takes them) from the entry of ``flow`` to a queue; -1 if none.
    ``keys=False``: only the main path (every menu and collect left without a key; every branch)."""
    table = lib.config.prompt_seconds
    best: tuple[float, list[str]] = (-1.0, [])
    on_path: set = set()
    # (flow, node, seconds so far, sub-flow frames, path as (step, rest) pairs, language)
    todo: list = [(flow, flow.entry, 0.0, (), None, lang)]
    visited = 0
    while todo:
        item = todo.pop()
        if item[0] is _LEAVE:
            on_path.discard(item[1])
            continue
        f, name, t, frames, path, lang = item
        visited += 1
        if visited > MAX_PATHS:
            break
        if name not in f.nodes or len(frames) > MAX_SUB_FLOW_DEPTH:
            continue
        key = (f.name, name, frames)
        if key in on_path:
            continue
        on_path.add(key)
        todo.append((_LEAVE, key))
        node = f.nodes[name]
        if isinstance(node, m.Enqueue):
            total = t + seconds(f, [node.announce], lang, table)
            if total > best[0]:
                best = (total, _steps((name, path)))
            continue
        if isinstance(node, m.SetVars) and "language" in node.values:
            lang = node.values["language"]
        if isinstance(node, m.RunFlow) and node.flow in lib.flows:
            sub = lib.flows[node.flow]
            todo.append((sub, sub.entry, t, frames + ((f.name, node.next),), (f"{name}[{node.flow}]", path), lang))
            continue
        if isinstance(node, m.Return) and frames:
            fname, back = frames[-1]
            todo.append((lib.flows[fname], back, t, frames[:-1], path, lang))
            continue
        nexts = []
        for target, cost, label in edge_costs(f, node, lang, table):
            if not keys and node.kind in ("menu", "collect") and label != NO_KEY:
                continue
            cost = 0.0 if node.by_choice else cost
            step = f"{name}({label})" if label and node.kind in ("menu", "collect") else name
            nexts.append((f, target, t + cost, frames, (step, path), lang))
        todo.extend(reversed(nexts))     # first edge walked first, as written
    return best


def main_path(lib: m.FlowSet, flow: m.Flow) -> tuple[float, list[str]]:
    """(seconds, path) of the slowest main path over the flow's languages; -1 if it reaches no queue."""
    worst: tuple[float, list[str]] = (-1.0, [])
    for lang in flow.languages:
        t, path = worst_to_queue(lib, flow, lang, keys=False)
        if t > worst[0]:
            worst = (round(t, 1), path)
    return worst


def main_path_warning(lib: m.FlowSet, flow: m.Flow) -> str | None:
    """The checker's warning (not an error: a long prompt must not stop a node from serving)
    when a caller who presses nothing reaches a queue after more than ``MAIN_PATH_S``."""
    limit = MAIN_PATH_S if flow.budget_s <= PERSON_S else flow.budget_s
    seconds, path = main_path(lib, flow)
    if seconds <= limit:
        return None
    estimated = "" if lib.config.prompt_seconds else " (prompt lengths estimated from text; run 'ivr prompts' to measure)"
    return (f"flow '{flow.name}': a caller who presses nothing reaches a queue after {seconds:.1f} s, over the "
            f"{limit:g} s main-path budget, via {' > '.join(path)}: shorten the prompts or the menu's "
            f"timeout{estimated}")


def _steps(path) -> list[str]:
    out = []
    while path is not None:
        step, path = path
        out.append(step)
    out.reverse()
    return out
