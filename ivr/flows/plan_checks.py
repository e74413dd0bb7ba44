"""Checks of the numbers plan and of staffing that span flows, numbers and the ACD.

The plan (吉政办发〔2021〕16号 四(一)) gives each old hotline a way to merge; a number
listed in config/subcenters.yaml that numbers.yaml does not route is answered by the
fallback route with the 12345 menu (``flow.no_route``), which is none of those ways.
And a queue step asking for skills no agent has is a caller waiting for nobody
until the callback catches them: both are refused before the flows go live.
"""

from __future__ import annotations

from ivr.flows import model as m
from ivr.flows.schema import ParsedFlow
from hotline.problems import Problem
from hotline.yamlpos import Doc


def unrouted_hotlines(cfg: m.Config, subs: Doc) -> list[Problem]:
    """Every hotline of subcenters.yaml needs a route of its own in numbers.yaml."""
    routed = {r.number for r in cfg.routes}
    out = []
    for i, h in enumerate(cfg.hotlines.values()):
        if h.number in routed:
            continue
        how = {"whole": "its callers would hear no transition notice",
               "subcenter": "its callers would not reach the sub-center"}.get(
            h.mode, "its callers would not reach its own seats" if h.seats_kept else "its callers would get the 12345 menu")
        out.append(subs.problem(("hotlines", i, "number"),
                                f"hotline {h.number} ({h.name}, {h.mode}) has no route in config/numbers.yaml: {how}"))
    return out


def misrouted_center_numbers(cfg: m.Config, centers: Doc) -> list[Problem]:
    """A center's own number (centers.yaml ``numbers``) must reach that center: a number another
    route catches first (043512345 listed for Meihekou reaches Tonghua by its area code) would
    never ring there."""
    from ivr.flows.routing import route_call

    out = []
    for i, c in enumerate(cfg.centers.values()):
        for j, number in enumerate(c.numbers):
            got = route_call(cfg, number, "").center
            if got != c.id:
                out.append(centers.problem(("centers", i, "numbers", j),
                                           f"number {number} of center '{c.id}' is routed to '{got}' (config/numbers.yaml): "
                                           f"its callers would never reach {c.id}"))
    return out


def agents_from_acd(data: dict) -> tuple[m.AgentSkills, ...]:
    """Each agent's queues (its center unless it lists queues, as the ACD reads them) and skills;
    read leniently, the ACD's own reader (acd.config) owns the file and refuses what is wrong."""
    out = []
    for a in data.get("agents") or []:
        if not isinstance(a, dict):
            continue
        queues = a.get("queues") if isinstance(a.get("queues"), list) else [a.get("center")]
        skills = a.get("skills") if isinstance(a.get("skills"), dict) else {}
        out.append(m.AgentSkills(id=str(a.get("id", "")), queues=tuple(str(q) for q in queues if q),
                                 skills=frozenset(str(s) for s in skills)))
    return tuple(out)


def agents_for(cfg: m.Config, queue: str, skills: tuple[str, ...]) -> list[m.AgentSkills]:
    """Agents who could take a call needing ``skills``: in ``queue`` when it is a queue name some
    agent serves, else anywhere (``$center`` stands for every center; overflow widens a queue)."""
    need = set(skills)
    able = [a for a in cfg.agents or () if need <= a.skills]
    in_queue = [a for a in able if queue in a.queues]
    return in_queue or able


def unstaffable_steps(cfg: m.Config, parsed: list[ParsedFlow]) -> list[Problem]:
    """A queue step whose skill set no agent of acd.yaml has; a named queue no agent serves."""
    if cfg.agents is None:
        return []
    served = {q for a in cfg.agents for q in a.queues}
    out = []
    for pf in parsed:
        for name, node in pf.flow.nodes.items():
            if not isinstance(node, m.Enqueue):
                continue
            if node.queue != "$center" and node.queue not in served:
                out.append(pf.doc.problem(("nodes", name, "enqueue"),
                                          f"no agent in acd.yaml serves queue '{node.queue}': the call would wait for nobody"))
            elif node.skills and not agents_for(cfg, node.queue, node.skills):
                path = ("nodes", name, "skills") if "skills" in _node_spec(pf, name) else ("nodes", name)
                out.append(pf.doc.problem(path, f"no agent in acd.yaml has all of the skills "
                                                f"[{', '.join(node.skills)}]: no agent can take this call"))
    return out


def _node_spec(pf: ParsedFlow, name: str) -> dict:
    nodes = (pf.doc.data or {}).get("nodes") if isinstance(pf.doc.data, dict) else None
    spec = nodes.get(name) if isinstance(nodes, dict) else None
    return spec if isinstance(spec, dict) else {}
