"""``ivr demo``: the built-in PBX, the engine and simulated callers and agents, in one command."""

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
    p.add_argument("--agents", type=positive_int, default=10, help="agents on duty (default 10)")
    p.add_argument("--speed", type=positive_float, default=40.0,
                   help="how many times faster than real time the PBX runs (default 40)")
    p.add_argument("--seed", type=int, default=1, help="random seed for callers and agents")
    p.add_argument("--minimal", action="store_true",
                   help="smoke path: answer, greeting, one key, first free agent (no flows, no ACD)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--db", metavar="URL", default=None,
                   help="records database for the demo's calls (default: sqlite file var/demo-records.db)")
    return p


def run(args) -> int:
    from ivr.demo import DemoOptions, run_demo

    options = DemoOptions(calls=args.calls, agents=args.agents, speed=args.speed, seed=args.seed,
                          minimal=args.minimal, records_db=args.db)
    show = sys.stdout.isatty() and not args.json
    if show:
        result = asyncio.run(_with_progress(run_demo, options))
    else:
        result = asyncio.run(run_demo(options))
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
    return 0 if summary["lost"] == 0 else 1


async def _with_progress(run_demo, options):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("[bold]calls"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("calls", total=options.calls, detail="")

        def update(c):
            ended = c["answered"] + c["abandoned"] + c["other"]
            progress.update(task, completed=ended,
                            detail=f"offered {c['offered']}  live {c['live']}  answered {c['answered']}  "
                                   f"abandoned {c['abandoned']}  other {c['other']}")

        return await run_demo(options, on_progress=update)


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="12345 demo: summary", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        table.add_row(key, "—" if value is None else str(value))
    Console().print(table)
