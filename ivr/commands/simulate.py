"""``ivr simulate``: walk a flow from the terminal, no PBX needed."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from hotline import paths
from ivr.cli import UserError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate", help="walk a flow with a scripted or typed caller, no PBX",
        description="Walk a flow on the real interpreter with a simulated caller: every prompt's text, "
                    "every key and the outcome (queue and skills, transfer target, hang-up). With no "
                    "--press the keys are read from the terminal, one line per prompt (Enter: no key).")
    p.add_argument("--flow", metavar="FILE",
                   help="flow file (or flow name) to walk; default: the flow numbers.yaml picks for --did")
    p.add_argument("--did", required=True, metavar="NUMBER", help="number dialled, e.g. 12345 or 043312345")
    p.add_argument("--caller", required=True, metavar="NUMBER", help="caller number, e.g. 043388881234")
    p.add_argument("--at", metavar="TIME", help="call time, China time: 'YYYY-MM-DD HH:MM' or HH:MM (default: now)")
    p.add_argument("--press", metavar="KEYS",
                   help="keys for each prompt that waits, comma-separated, '-' for no key: 2,1 or 9,-")
    p.add_argument("--json", action="store_true", help='print {"prompts": [...], "outcome": {...}, ...}')
    p.add_argument("--all-paths", action="store_true",
                   help="walk every path (every key, no key, a wrong key; transfers failing; no agent)")
    p.add_argument("--no-agent", action="store_true", help="nobody takes queued calls")
    p.add_argument("--transfer-status", default="ANSWER",
                   choices=["ANSWER", "NOANSWER", "BUSY", "CHANUNAVAIL", "CONGESTION"],
                   help="how transfers end (default ANSWER)")
    p.add_argument("--flows", metavar="DIR", help="folder of flows (default: the --flow file's folder, else flows)")
    p.add_argument("--config", metavar="DIR", default=None, help="config folder (default: config)")
    return p


def load(args):
    from ivr.flows.check import flow_files, load_and_check

    flow_name = None
    if args.flow and (args.flow.endswith((".yaml", ".yml")) or "/" in args.flow):
        path = pathlib.Path(args.flow)
        if not path.is_file():
            raise UserError(f"--flow {args.flow}: no such file")
        folder = pathlib.Path(args.flows) if args.flows else path.parent
        files = flow_files(folder)
        if path.resolve() not in {f.resolve() for f in files}:
            files.append(path)
        from ivr.flows.schema import parse_flow
        from hotline.yamlpos import load_file
        parsed = parse_flow(load_file(path))
        flow_name = parsed.flow.name if parsed.flow else None
    else:
        folder = pathlib.Path(args.flows) if args.flows else paths.flows_dir()
        if not folder.is_dir():
            raise UserError(f"--flows {folder}: no such folder")
        files = flow_files(folder)
        flow_name = args.flow
    config = pathlib.Path(args.config) if args.config else paths.config_dir()
    if not config.is_dir():
        raise UserError(f"--config {config}: no such folder")
    result = load_and_check(files, config, "build/prompts")
    if not result.ok:
        raise UserError(first_error(result.errors, args.flow))
    flowset = result.flowset
    if flow_name is not None and flow_name not in flowset.flows:
        raise UserError(f"--flow {args.flow}: no such flow (known: {', '.join(sorted(flowset.flows))})")
    return flowset, flow_name


def first_error(errors, flow_file: str | None) -> str:
    """One line: the flow file's own first problem (the likeliest cause), and how many more there are."""
    own = [p for p in errors if flow_file and p.file == flow_file]
    first = (own or errors)[0]
    more = f" (and {len(errors) - 1} more; run 'ivr check')" if len(errors) > 1 else ""
    return f"{first}{more}"


def known_number(flowset, args) -> None:
    """A number no route names is refused: the engine would still answer it (a hotline never
    drops a call) with the default center's flow, and simulating that silently looked like the
    number worked."""
    route = flowset.route(args.did, args.caller)
    if route.matched:
        return
    config = pathlib.Path(args.config) if args.config else paths.config_dir()
    raise UserError(f"--did {args.did}: no route for this number: it is neither in {config / 'numbers.yaml'} "
                    f"(numbers:) nor a center's numbers in {config / 'centers.yaml'}; the engine would answer it "
                    f"as a fallback with the {route.flow} flow of center {route.center}")


def run(args) -> int:
    from ivr.flows import simulate as sim

    try:
        presses = sim.parse_presses(args.press)
        at = sim.parse_at(args.at)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    flowset, flow_name = load(args)
    known_number(flowset, args)
    if args.all_paths:
        walks = sim.all_walks(flowset, dialled=args.did, caller=args.caller, at=at, flow=flow_name)
        if args.json:
            print(json.dumps({"paths": [
                {"press": ",".join(p) , "transfer_status": ts, "agent_talks": talks, **w.to_json()}
                for p, ts, talks, w in walks]}, ensure_ascii=False, indent=1))
        else:
            for presses_, ts, talks, w in walks:
                extra = [] if ts == "ANSWER" else [f"transfer {ts}"]
                extra += [] if talks else ["no agent"]
                keys = ",".join(k or "-" for k in w.pressed) or "(none)"
                print(f"press {keys:<12} {' '.join(extra):<20} -> {sim.describe_outcome(w.result.outcome, w.result.survey)}")
            print(f"{len(walks)} path(s)", file=sys.stderr)
        return 0
    interactive = presses is None
    out = None if args.json else sys.stdout
    if not args.json:
        route = flowset.route(args.did, args.caller)
        print(f"▶ {flow_name or route.flow} for center {route.center}: dialled {args.did}, caller {args.caller}, "
              f"at {at:%Y-%m-%d %H:%M} (version {flowset.version})")
        print(f"  located by {route.located_by or '-'}" + (f": {route.place}" if route.place else ""))
    walk = sim.simulate(flowset, dialled=args.did, caller=args.caller, at=at, presses=presses, out=out,
                        read=sim.interactive_reader() if interactive else None,
                        agent_talks=not args.no_agent, transfer_status=args.transfer_status, flow=flow_name)
    if args.json:
        print(json.dumps(walk.to_json(), ensure_ascii=False, indent=1))
    else:
        r = walk.result
        print(f"outcome: {sim.describe_outcome(r.outcome, r.survey)}")
        if r.to_queue_s is not None:
            print(f"time from answer to queue: {r.to_queue_s:.1f} s")
        taken = {k: v for k, v in r.variables.items() if k not in ("caller", "dialled", "center")}
        if taken:
            print("variables: " + ", ".join(f"{k}={v}" for k, v in sorted(taken.items())))
    return 0
