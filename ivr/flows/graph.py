"""A flow as a diagram for review: Mermaid (renders in GitLab/GitHub markdown) or Graphviz DOT.

Reviewers are often not the engineers who wrote the flow; each box shows the
node's kind and the start of what the caller hears, each arrow the key or
condition that takes it.
"""

from __future__ import annotations

from ivr.flows import model as m

SHAPES = {"menu": ("{", "}"), "collect": ("[/", "/]"), "branch": ("{{", "}}"), "enqueue": ("([", "])"),
          "transfer": ("[[", "]]"), "hangup": ("((", "))"), "return": ("((", "))"), "survey": ("{", "}")}


def _text(flow: m.Flow, ids, limit=28) -> str:
    parts = []
    for pid in ids or ():
        p = flow.prompt(pid)
        t = p.text("zh") if p else pid
        parts.append(t if len(t) <= limit else t[: limit - 1] + "…")
    return " / ".join(parts)


def label(flow: m.Flow, node: m.Node) -> str:
    head = f"{node.name}: {node.kind}"
    if isinstance(node, (m.Play, m.Menu, m.Collect, m.Survey, m.Hangup)):
        body = _text(flow, node.prompts)
    elif isinstance(node, m.Enqueue):
        body = f"queue {node.queue}" + (f" [{', '.join(node.skills)}]" if node.skills else "") + (f" p{node.priority}" if node.priority else "")
    elif isinstance(node, m.Transfer):
        body = f"{node.target} ({node.mode})"
    elif isinstance(node, m.RunFlow):
        body = f"sub-flow {node.flow}"
    elif isinstance(node, m.SetVars):
        body = ", ".join(f"{k}={v}" for k, v in node.values.items())
    elif isinstance(node, m.Collect):
        body = node.into
    else:
        body = ""
    return f"{head}\n{body}" if body else head


def _mermaid_escape(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def mermaid(flow: m.Flow) -> str:
    ids = {name: f"n{i}" for i, name in enumerate(flow.nodes)}
    lines = ["flowchart TD", f'  start(("{_mermaid_escape(flow.name)}")) --> {ids.get(flow.entry, "missing")}']
    for name, node in flow.nodes.items():
        a, b = SHAPES.get(node.kind, ("[", "]"))
        lines.append(f'  {ids[name]}{a}"{_mermaid_escape(label(flow, node))}"{b}')
    for name, node in flow.nodes.items():
        for text, target in node.edges():
            if target in ids:
                arrow = f'-- "{_mermaid_escape(text)}" -->' if text else "-->"
                lines.append(f"  {ids[name]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


DOT_SHAPES = {"menu": "diamond", "collect": "parallelogram", "branch": "hexagon", "enqueue": "box3d",
              "transfer": "cds", "hangup": "doublecircle", "return": "circle", "survey": "diamond"}


def dot(flow: m.Flow) -> str:
    lines = [f'digraph "{_dot_escape(flow.name)}" {{', "  rankdir=TB;", '  node [fontname="Noto Sans CJK SC", shape=box];',
             '  start [shape=point];', f'  start -> "{_dot_escape(flow.entry)}";']
    for name, node in flow.nodes.items():
        lines.append(f'  "{_dot_escape(name)}" [label="{_dot_escape(label(flow, node))}", shape={DOT_SHAPES.get(node.kind, "box")}];')
    for name, node in flow.nodes.items():
        for text, target in node.edges():
            if target in flow.nodes:
                lab = f' [label="{_dot_escape(text)}"]' if text else ""
                lines.append(f'  "{_dot_escape(name)}" -> "{_dot_escape(target)}"{lab};')
    lines.append("}")
    return "\n".join(lines) + "\n"
