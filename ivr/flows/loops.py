"""Walks over a flow's graph for the checker: what is reached, and which loops are endless.

Flows are edited by hand and may be generated; a walk must cope with any size,
so every walk here keeps its own stack (Python's recursion limit is about a
thousand calls, a long chain of nodes is more).

An **endless loop** is a set of nodes a call can go round for ever.  Two ways
to get one, both refused:

* the loop never waits for the caller (no menu, collect, survey or queue in
  it): nothing the caller does changes its course, so it spins, replaying
  prompts or redialling a dead line, until something outside the flow stops it;
* nothing leads out of it: no edge leaves the loop and no node in it can end the
  call (hang up, transfer, reach a queue, return from a sub-flow), so whatever
  the caller presses they never reach a person or a goodbye.
"""

from __future__ import annotations

from typing import Iterable

from ivr.flows import model as m

#: Node kinds that wait for the caller (keys) or for an agent; ``run`` waits if its sub-flow does.
CALLER_WAITS = frozenset({"menu", "collect", "survey", "enqueue"})
SHOWN_IN_MESSAGE = 8    # node names listed when a loop is reported


def sccs(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), with an explicit stack instead of recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph.get(root, ())))]
        while work:
            v, successors = work[-1]
            for w in successors:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


def reached(flow: m.Flow) -> set[str]:
    """Names of the nodes a call can reach from the entry."""
    seen: set[str] = set()
    todo = [flow.entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.nodes:
            continue
        seen.add(name)
        todo.extend(t for _, t in flow.nodes[name].edges() if t)
    return seen


def sub_flows(lib: m.FlowSet, name: str) -> set[str]:
    """``name`` and every flow it runs, however deep."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in lib.flows:
            continue
        seen.add(n)
        todo.extend(node.flow for node in lib.flows[n].nodes.values() if isinstance(node, m.RunFlow))
    return seen


def _ends(node: m.Node) -> bool:
    """Can the call leave the flow at this node (rather than by one of its edges)?"""
    if isinstance(node, (m.Hangup, m.Return, m.Transfer, m.Enqueue)):
        return True      # a transfer may be answered, a queue reaches a person
    return isinstance(node, m.Survey) and not node.next


class _Traits:
    """Which nodes wait for the caller and which can end the call, sub-flows looked into once."""

    def __init__(self, lib: m.FlowSet | None):
        self.lib = lib
        self._sub: dict[str, tuple[bool, bool]] = {}

    def sub_flow(self, name: str) -> tuple[bool, bool]:
        if name not in self._sub:
            waits = ends = False
            for fname in sub_flows(self.lib, name) if self.lib else ():
                for node in self.lib.flows[fname].nodes.values():
                    waits = waits or node.kind in CALLER_WAITS
                    ends = ends or (_ends(node) and not isinstance(node, m.Return))
            self._sub[name] = (waits, ends)
        return self._sub[name]

    def waits(self, node: m.Node) -> bool:
        if isinstance(node, m.RunFlow):
            return self.sub_flow(node.flow)[0]
        return node.kind in CALLER_WAITS

    def ends(self, node: m.Node) -> bool:
        if isinstance(node, m.RunFlow):
            return self.sub_flow(node.flow)[1]
        return _ends(node)


def _is_loop(comp: list[str], graph: dict[str, list[str]]) -> bool:
    return len(comp) > 1 or comp[0] in graph.get(comp[0], ())


def _leads_out(flow: m.Flow, comp: Iterable[str], traits: _Traits) -> bool:
    inside = set(comp)
    for name in inside:
        node = flow.nodes[name]
        if traits.ends(node) or any(t and t not in inside for _, t in node.edges()):
            return True
    return False


def _show(flow: m.Flow, comp: list[str]) -> tuple[str, str]:
    """(first node by line, the loop as 'a -> b -> a')."""
    ordered = sorted(comp, key=lambda n: (flow.nodes[n].line, n))
    shown = ordered[:SHOWN_IN_MESSAGE]
    more = f" -> … ({len(ordered)} nodes)" if len(ordered) > len(shown) else ""
    return ordered[0], " -> ".join(shown) + more + f" -> {ordered[0]}"


def endless_loops(flow: m.Flow, lib: m.FlowSet | None = None) -> list[tuple[str, str]]:
    """(node to point at, message) for every endless loop in ``flow``."""
    traits = _Traits(lib)
    out: list[tuple[str, str]] = []
    idle = {n for n, node in flow.nodes.items() if not traits.waits(node)}
    idle_graph = {n: [t for _, t in flow.nodes[n].edges() if t in idle] for n in idle}
    for comp in sccs(idle_graph):
        if _is_loop(comp, idle_graph):
            first, text = _show(flow, comp)
            tail = "" if _leads_out(flow, comp, traits) else " and nothing leads out of it"
            out.append((first, f"endless loop: {text} never waits for the caller{tail}"))
    graph = {n: [t for _, t in node.edges() if t in flow.nodes] for n, node in flow.nodes.items()}
    for comp in sccs(graph):
        if (_is_loop(comp, graph) and any(n not in idle for n in comp)
                and not _leads_out(flow, comp, traits)):
            first, text = _show(flow, comp)
            out.append((first, f"endless loop: {text} has no way out: whatever the caller presses, "
                               "the call never leaves it"))
    return out
