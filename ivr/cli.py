"""The ``ivr`` command: one entry point, one module per subcommand.

Each module under :mod:`ivr.commands` exposes ``add_parser(subparsers)`` and
``run(args) -> int``; errors follow :mod:`hotline.cli` (one line, exit 2 for a
user's mistake, 3 for a service that did not answer).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hotline import cli
from hotline.errors import UserError  # noqa: F401  (the one class; subcommands import it from here)

SUBCOMMANDS = ["demo", "serve", "call", "check", "simulate", "graph", "prompts"]


def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(
        prog="ivr", description="12345 hotline call engine: voice navigation on Asterisk"
    )
    cli.add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ivr.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ivr.commands.{name}":
                continue
            raise
        module.add_parser(sub).set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    return cli.run("ivr", build_parser(), argv, lambda args: args._run(args))


if __name__ == "__main__":
    sys.exit(main())
