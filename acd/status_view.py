"""What ``acd status`` shows a supervisor: the figures as tables that fit the terminal.

A supervisor reads this on whatever terminal is at hand, often 80 columns, so the
figures are split into what is happening now (callers waiting, agents by state)
and the last 24 hours, with short labels instead of field names; ``--json``
keeps the field names for scripts.  The store's word is not taken blindly: a
node that stopped leaves its last heartbeat behind, and an agent's wrap-up is
only ended by a running node, so both are shown with how stale they are.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table

from acd import stats as stats_mod
from acd.model import Agent

#: What each agent state is called on screen.
STATE_LABELS = {"available": "free", "ringing": "ringing", "talking": "talking", "wrapup": "wrap-up",
                "paused": "paused", "logged_out": "logged out"}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} s"


def age(seconds: float) -> str:
    """A duration as a person says it: 40 s, 5 min, 2 h 5 min, 3 d."""
    s = round(seconds)
    if s < 100:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d"


def _table(title: str) -> Table:
    # Two spaces between columns (the box's divider and one of padding) and none at the edges:
    # that is what lets the 24-hour table's eight columns fit 80 columns.
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 padding=(0, 1, 0, 0))


def now_table(figures: dict) -> Table:
    """Callers waiting and agents by state, per queue: what a supervisor acts on."""
    t = _table("Now")
    t.add_column("queue", no_wrap=True)
    for label in ("waiting", "longest\nwait", "free", "ringing", "talking", "wrap-up", "paused"):
        t.add_column(label, justify="right", no_wrap=True)
    rows = figures["queues"] + [figures["total"]]
    for i, q in enumerate(rows):
        a = q["agents"]
        longest = secs(q["longest_wait_s"]) if q["waiting"] else "-"
        t.add_row("all" if q["queue"] == "*" else q["queue"], str(q["waiting"]), longest,
                  *(str(a.get(s, 0)) for s in ("available", "ringing", "talking", "wrapup", "paused")),
                  end_section=i == len(rows) - 2)
    return t


def day_table(figures: dict) -> Table:
    """The GB/T 33358 figures over the last 24 hours (abandon rate is 100% minus 接通率: left out)."""
    t = _table(f"Last 24 h (service level: answered within {figures['service_level_s']:g} s)")
    t.add_column("queue", no_wrap=True)
    for label in ("offered", "answered", "abandoned", "SL of\nanswered", "SL of\noffered", "average\nwait",
                  "接通率"):
        t.add_column(label, justify="right", no_wrap=True)
    rows = figures["queues"] + [figures["total"]]
    for i, q in enumerate(rows):
        t.add_row("all" if q["queue"] == "*" else q["queue"], str(q["offered"]), str(q["answered"]),
                  str(q["abandoned"]), pct(q["sl_answered"]), pct(q["sl_offered"]), secs(q["asa_s"]),
                  pct(q["completion_24h"]), end_section=i == len(rows) - 2)
    return t


def agent_state_label(row: dict, agent: Agent | None, now: float, engines_answer: bool) -> str:
    """The state as the store has it, unless the store's word is stale (see module doc)."""
    label = STATE_LABELS.get(row["state"], row["state"])
    late = stats_mod.wrapup_overdue_s(agent, now) if agent is not None else None
    if late is None:
        return label
    why = "" if engines_answer else ", no engine"
    return f"wrap-up over {age(late)} ago{why}"


def agents_table(figures: dict, agents: Iterable[Agent] | None, engines_answer: bool) -> Table:
    t = _table("Agents")
    t.add_column("agent", no_wrap=True)
    t.add_column("state", overflow="fold")
    t.add_column("for", justify="right", no_wrap=True)
    t.add_column("reason", overflow="fold")
    t.add_column("calls", justify="right", no_wrap=True)
    t.add_column("talk", justify="right", no_wrap=True)
    t.add_column("busy", justify="right", no_wrap=True)     # occupancy: ringing+talking+wrap-up / staffed
    now = figures["at"]
    by_id = {a.id: a for a in agents or ()}
    for row in figures["agents"]:
        agent = by_id.get(row["agent"])
        since = age(now - agent.since) if agent is not None and agent.since > 0 else "-"
        t.add_row(row["agent"], agent_state_label(row, agent, now, engines_answer), since, row["reason"] or "",
                  str(row["calls"]), age(row["talk_s"]), pct(row["occupancy"]))
    return t


def node_lines(figures: dict) -> list[str]:
    """One line per engine node; a silent one says so, whatever its last status was."""
    lines = []
    for n in stats_mod.node_health(figures.get("nodes") or {}, figures["at"]):
        if n.answering:
            lines.append(f"node {n.node}: {n.status}, heard from {age(n.age_s)} ago")
        else:
            lines.append(f"node {n.node}: NOT ANSWERING, silent for {age(n.age_s)} (stopped, or lost Redis)")
    if not lines:
        lines.append("no engine node has ever reported to this store")
    return lines


def engines_answer(figures: dict) -> bool:
    return any(n.answering for n in stats_mod.node_health(figures.get("nodes") or {}, figures["at"]))


def render(console: Console, figures: dict, agents: Iterable[Agent] | None = None) -> None:
    answering = engines_answer(figures)
    for table in (now_table(figures), day_table(figures), agents_table(figures, agents, answering)):
        console.print(table)
        console.print()
    for line in node_lines(figures):
        console.print(line, highlight=False, soft_wrap=False)
    stale = [a for a in agents or () if stats_mod.wrapup_overdue_s(a, figures["at"]) is not None]
    if stale:
        who = "no engine node is answering" if not answering else "the nodes that answer have not ended them"
        console.print(f"{len(stale)} agent(s) still marked wrap-up after it ended: {who}; they take calls "
                      f"again once a node runs.", highlight=False)


def print_status(figures: dict, agents: Iterable[Agent] | None = None, out: IO[str] | None = None,
                 width: int | None = None) -> None:
    """Print to ``out`` at the terminal's width, or 80 columns when it is not a terminal."""
    out = out or sys.stdout
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = 80
    render(Console(file=out, width=width, highlight=False), figures, list(agents or ()))
