"""``ivr graph``: a flow as a Mermaid or Graphviz diagram for review."""

from __future__ import annotations

import argparse
import pathlib
import sys

from hotline import paths
from ivr.cli import UserError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("graph", help="draw a flow as Mermaid or Graphviz DOT",
                       description="Print a flow as a diagram: Mermaid (paste into markdown) or DOT "
                                   "(dot -Tsvg). The flow must pass 'ivr check' shape checks.")
    p.add_argument("file", metavar="FILE", help="flow file")
    p.add_argument("--format", choices=["mermaid", "dot"], default="mermaid", help="diagram language (default mermaid)")
    p.add_argument("-o", "--output", metavar="OUT", help="write to this file instead of standard output")
    p.add_argument("--config", metavar="DIR", default=None,
                   help="config folder for shared prompt texts (default: the config folder in use)")
    return p


def run(args) -> int:
    from ivr.flows import graph
    from ivr.flows.check import flow_files, load_and_check

    path = pathlib.Path(args.file)
    if not path.is_file():
        raise UserError(f"{args.file}: no such file")
    config = pathlib.Path(args.config) if args.config else paths.config_dir()
    files = [path] + [f for f in flow_files(path.parent) if f.resolve() != path.resolve()]
    result = load_and_check(files, config if config.is_dir() else None, None)
    own = [p for p in result.errors if p.file == str(path)]
    from ivr.flows.schema import parse_flow
    from hotline.yamlpos import load_file
    parsed = parse_flow(load_file(path))
    if parsed.flow is None or own:
        problems = own or parsed.problems
        more = f"; {len(problems) - 1} more, run 'ivr check {args.file}'" if len(problems) > 1 else ""
        raise UserError(f"cannot draw a flow with errors: {problems[0]}{more}")
    flow = result.flowset.flows.get(parsed.flow.name) if result.flowset else None
    if flow is None:   # other files have errors: draw this one alone with what is known
        flow = parsed.flow
    text = graph.mermaid(flow) if args.format == "mermaid" else graph.dot(flow)
    if args.output:
        try:
            pathlib.Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"-o {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0
