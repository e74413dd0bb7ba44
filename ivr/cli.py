"""The ``ivr`` command: one entry point, one module per subcommand.

Each module under :mod:`ivr.commands` exposes ``add_parser(subparsers)`` and
``run(args) -> int``; a user's mistake ends in one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["demo", "serve", "check", "simulate", "graph", "prompts"]


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr", description="12345 hotline call engine: voice navigation on Asterisk"
    )
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    from ivr import log

    log.setup(args.log_level)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"ivr {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        from ivr.pipes import reader_gone
        return reader_gone()


if __name__ == "__main__":
    sys.exit(main())
