"""What ``ivr demo`` shows a person: the progress line and the summary table.

Kept apart from the demo itself so the wording can be checked without running a
hotline, and so the screen never decides what the figures are: the summary dict
(``--json``) is the source, this only labels it for an 80-column terminal.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table

#: Widest the progress text may be: 80 columns less the bar (10), the clock (7) and gaps.
PROGRESS_TEXT_MAX = 60


def progress_line(c: dict[str, int]) -> tuple[int, int, str]:
    """(ended, total, text) for the bar: every call the demo made, callbacks included.

    Callbacks are calls too; counting only the callers showed "30/30" while a callback
    still rang, so a callback adds to the total when it starts and to the ended count
    when it ends, and the total never falls below ended + in progress.
    """
    callbacks, callbacks_done = c.get("callbacks", 0), c.get("callbacks_ended", 0)
    done = c["ended"] + callbacks_done
    in_progress = max((c["offered"] - c["ended"]) + (callbacks - callbacks_done), c.get("live", 0))
    total = max(c["calls"] + callbacks, done + in_progress)
    parts = [f"calls ended {done}/{total}", f"{in_progress} in progress"]
    extra = ([f"{callbacks} callbacks"] if callbacks else []) + [f"{c['answered']} answered",
                                                               f"{c['abandoned']} abandoned"]
    for part in extra:              # the details only while the line still fits
        if len(", ".join(parts + [part])) > PROGRESS_TEXT_MAX:
            break
        parts.append(part)
    return done, total, ", ".join(parts)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} s"


def rows(s: dict[str, Any], staffing=None) -> list[tuple[str, str]]:
    """(label, value) pairs, the rare outcomes only when they happened."""
    t = f"{s['threshold_s']:g} s"
    out = [("callers", str(s["offered"])),
           ("answered by an agent", str(s["answered"])),
           ("hung up while waiting", str(s["abandoned"])),
           ("transferred (12366, 110...)", str(s["transferred"]))]
    for key, label in (("completed_in_ivr", "ended in the IVR"), ("failed", "failed"),
                       ("shed", "refused, engine full"), ("handed_over", "handed to another node"),
                       ("lost", "LOST (no end recorded)")):
        if s.get(key):
            out.append((label, str(s[key])))
    out += [(f"answered within {t}, of answered", _pct(s["service_level_answered"])),
            (f"answered within {t}, of callers", _pct(s["service_level_offered"])),
            ("average wait for an agent", _s(s["asa_s"])),
            ("longest wait for an agent", _s(s["max_to_person_s"])),
            ("average time in the IVR first", _s(s["ivr_to_queue_avg_s"])),
            ("callbacks made / reached", f"{s['callbacks_made']} / {s['callbacks_connected']}")]
    if "heard_place" in s:
        out += [("mobiles placed by number segment", str(s["mobile_placed"])),
                ("told their place in line", str(s["heard_place"])),
                ("offered a callback / took it", f"{s['callback_offered']} / {s['callback_kept_place']}"),
                ("dialled 12333 or 12366", str(s["kept_hotline_calls"])),
                ("handed on by an agent (province, 12366)", str(s.get("agent_transfers", 0)))]
    out.append(("agents on duty", _agents(s, staffing)))
    if staffing is not None and staffing.expected_sl is not None:
        out.append((f"Erlang C forecast, within {staffing.within_s:g} s", f"{_pct(staffing.expected_sl)} of queued"))
    out.append(("PBX time", f"{s['wall_s'] * s['speed'] / 60:.0f} min in {s['wall_s']:.0f} s ({s['speed']:g}x)"))
    if "records_db" in s:
        out.append(("records written", f"{s['records_written']}, {s['records_in_spool']} still in the spool"))
    for key, label in (("engine_task_failures", "engine task failures"), ("ami_reconnects", "AMI reconnects")):
        if s.get(key):
            out.append((label, str(s[key])))
    return out


def _agents(s: dict[str, Any], staffing) -> str:
    if staffing is None:
        return str(s["agents"])
    ringing_out = s["agents"] - staffing.answering
    extra = f", {ringing_out} never answers" if ringing_out > 0 else ""
    how = "sized by Erlang C" if staffing.sized else "set by --agents"
    return f"{s['agents']} ({how}{extra})"


def explanation(s: dict[str, Any], staffing) -> str:
    """Why the service level is what it is, in two or three lines."""
    if staffing is None or staffing.expected_sl is None:
        return ""
    per_queue = ", ".join(f"{q.queue} {q.agents}" for q in staffing.queues)
    aht = f"average handling {staffing.aht_s:.0f} s"
    expects = f"{_pct(staffing.expected_sl)} of queued callers within {staffing.within_s:g} s"
    if staffing.sized:
        why = (f"Erlang C seated {per_queue} ({aht}) for {staffing.target_sl:.0%} within "
               f"{staffing.within_s:g} s; it expects {expects}.")
    else:
        short = ("" if staffing.expected_sl >= staffing.target_sl else
                 f", short of the {staffing.target_sl:.0%} target: leave out --agents to size them")
        why = f"--agents gave {per_queue} (by load, {aht}); Erlang C expects {expects}{short}."
    return f"{why} Transfers count as not answered among all callers."


def print_summary(summary: dict[str, Any], staffing=None, out: IO[str] | None = None,
                  width: int | None = None) -> None:
    """The summary at the terminal's width, or 80 columns when it is not a terminal."""
    out = out or sys.stdout
    if width is None and not (hasattr(out, "isatty") and out.isatty()):
        width = 80
    console = Console(file=out, width=width, highlight=False)
    program = "flows and ACD" if summary.get("program") == "flows+acd" else "minimal path"
    table = Table(title=f"12345 demo ({program}): summary", title_justify="left", box=box.SIMPLE_HEAD,
                  show_header=False, show_edge=False, pad_edge=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("value", overflow="fold")
    for label, value in rows(summary, staffing):
        table.add_row(label, value)
    console.print(table)
    note = explanation(summary, staffing)
    if note:
        console.print(note)
