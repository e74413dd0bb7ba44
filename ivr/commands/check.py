"""``ivr check``: check flows and config together before they go live."""

from __future__ import annotations

import argparse
import sys

from hotline import paths
from ivr.cli import UserError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "check", help="check flows and config; problems as FILE:LINE:COL: message",
        description="Check flow files and the config they use: YAML syntax, unknown keys, wrong types, "
                    "missing nodes, queues, sub-centers and prompts, unreachable nodes, endless loops, "
                    "clashing menu keys, silent prompts, sound names Asterisk cannot take, each flow's "
                    "worst-case time from answer to a queue against its budget and, with --sounds-dir, "
                    "that every prompt's sound file is installed. Exit status 1 on errors, 0 with "
                    "warnings only.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="flow files, flow folders and the config folder (default: flows config); a flow file "
                        "named alone is checked with the other flows of its folder loaded for the sub-flows it "
                        "runs, and only its problems and those of the flows it runs are reported")
    p.add_argument("--prompts-dir", default="build/prompts",
                   help="where 'ivr prompts' wrote placeholder audio and lengths.json (default: build/prompts)")
    p.add_argument("--sounds-dir", metavar="DIR",
                   help="Asterisk's sounds folder (or what 'ivr prompts --out' wrote): every prompt of the flows "
                        "and of config/prompts.yaml must have a sound file there, in a format Asterisk reads")
    p.add_argument("--budgets", action="store_true", help="also print each flow's worst-case time to a queue")
    return p


def run(args) -> int:
    from ivr.flows.check import check_paths

    try:
        result = check_paths(args.paths or paths.check_paths(), args.prompts_dir, args.sounds_dir)
    except FileNotFoundError as exc:
        raise UserError(f"no such file or folder: {exc.args[0]}") from None
    for problem in result.problems:
        print(problem)
    if args.budgets:
        from ivr.flows.budget import MAIN_PATH_S, main_path

        for name, (seconds, path) in sorted(result.budgets.items()):
            print(f"budget: flow {name}: worst case {seconds:.1f} s to a queue via {' > '.join(path)}")
            if result.flowset is not None and name in result.flowset.flows:
                main_s, main_steps = main_path(result.flowset, result.flowset.flows[name])
                if main_s >= 0:
                    print(f"main path: flow {name}: no key {main_s:.1f} s to a queue (budget {MAIN_PATH_S:g} s) "
                          f"via {' > '.join(main_steps)}")
    n_err = len(result.errors)
    n_warn = len(result.problems) - n_err
    print(f"ivr check: {n_err} error(s), {n_warn} warning(s)", file=sys.stderr)
    if result.hidden:
        folders = ", ".join(result.context_folders)
        print(f"ivr check: {result.hidden} more problem(s) in other flows of {folders}, which the checked "
              f"file(s) do not run; check the folder to see them", file=sys.stderr)
    return 1 if n_err else 0
