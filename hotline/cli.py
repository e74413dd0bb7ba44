"""The top of every command: common flags, log set-up and the one error convention.

``ivr``, ``acd`` and ``seats`` each build their own argparse tree and hand it to
:func:`run`, so a mistake reads the same from all three: one line, ``prog
subcommand: what and where``, exit status 2 for a user's mistake and 3 for a
service that did not answer.  A traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from hotline import errors, paths

LOG_LEVELS = ("debug", "info", "warning", "error")


class Parser(argparse.ArgumentParser):
    """argparse, with a wrong flag told in one line (and where the help is) instead of the usage block."""

    def error(self, message: str):
        self.exit(errors.EXIT_USER, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def add_common(parser: argparse.ArgumentParser, *, log_level: str = "warning") -> None:
    parser.add_argument("--config-dir", default=None, metavar="DIR",
                        help=f"config folder (default: ${paths.ENV}, then ./config, then the shipped defaults)")
    parser.add_argument("--log-level", default=None, choices=LOG_LEVELS,
                        help=f"log detail (default: {log_level}; 'ivr serve' logs info)")
    parser.add_argument("--verbose", action="store_true", help="say which config folder was used")
    parser.add_argument("--debug", action="store_true", help="show a traceback when something fails")
    parser.set_defaults(_default_log_level=log_level)


def command_name(prog: str, args: argparse.Namespace) -> str:
    parts = [prog] + [str(getattr(args, k)) for k in ("command", "action", "db_command")
                      if isinstance(getattr(args, k, None), str)]
    return " ".join(parts)


def run(prog: str, parser: argparse.ArgumentParser, argv: list[str] | None,
        handler: Callable[[argparse.Namespace], int | None]) -> int:
    args = parser.parse_args(argv)
    name = command_name(prog, args)
    debug = getattr(args, "debug", False)
    try:
        from hotline import log

        level = args.log_level or getattr(args, "_command_log_level", None) or args._default_log_level
        log.setup(level)
        folder, source = paths.use(args.config_dir)
        if getattr(args, "verbose", False):
            print(f"{name}: config from {folder} ({source})", file=sys.stderr)
        return int(handler(args) or 0)
    except errors.UserError as exc:
        if debug:
            raise
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        from hotline.pipes import reader_gone
        return reader_gone()
    except Exception as exc:     # a bug, not the user's fault: say so in one line
        if debug:
            raise
        where = _origin(exc)
        print(f"{name}: internal error: {type(exc).__name__}: {exc}{where} (run again with --debug for "
              f"the traceback, and report it)", file=sys.stderr)
        return errors.EXIT_BUG


def _origin(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
