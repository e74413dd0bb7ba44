"""``ivr demo``: the built-in PBX, the engine and simulated callers and agents, in one command.

What a person reads: a progress line that says what it counts, and a short summary
table that fits 80 columns; ``--json`` prints the same figures under their field
names for scripts (that object's keys do not change with the screen).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ivr.argtypes import positive_float, positive_int


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run a simulated hotline on the built-in PBX",
                       description="Start the built-in PBX, the engine and a stream of simulated callers "
                                   "and agents; show live progress; end with a summary.")
    p.add_argument("--calls", type=positive_int, default=100, help="callers to place (default 100)")
    p.add_argument("--agents", type=positive_int, default=None,
                   help="agents on duty, one phone that rings out included (default: as many as Erlang C "
                        "says the demo's callers need for the service-level target)")
    p.add_argument("--speed", type=positive_float, default=40.0,
                   help="how many times faster than real time the PBX runs (default 40)")
    p.add_argument("--seed", type=int, default=1,
                   help="random seed: the same seed gives the same callers, keys, patience and talk times")
    p.add_argument("--minimal", action="store_true",
                   help="smoke path: answer, greeting, one key, first free agent (no flows, no ACD)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--db", metavar="URL", default=None,
                   help="records database for the demo's calls (default: sqlite file var/demo-records.db)")
    p.add_argument("--flows", metavar="DIR", default=None, help="folder of flow files (default: flows/)")
    return p


def run(args) -> int:
    from ivr.demo import DemoOptions, run_demo

    options = DemoOptions(calls=args.calls, agents=args.agents, speed=args.speed, seed=args.seed,
                          minimal=args.minimal, records_db=args.db, flows_dir=args.flows)
    show = sys.stdout.isatty() and not args.json
    if show:
        result = asyncio.run(_with_progress(run_demo, options))
    else:
        result = asyncio.run(run_demo(options))
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        from ivr.demo_screens import print_summary

        print_summary(summary, result.staffing)
    return 0 if summary["lost"] == 0 else 1


async def _with_progress(run_demo, options):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ivr.demo_screens import progress_line

    with Progress(BarColumn(bar_width=10), TextColumn("{task.fields[line]}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("calls", total=options.calls, line="starting")

        def update(counts):
            done, total, line = progress_line(counts)
            progress.update(task, completed=done, total=total, line=line)

        return await run_demo(options, on_progress=update)
