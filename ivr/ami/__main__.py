"""``python -m ivr.ami``: check an AMI account the way the engine will use it.

Logs in with the engine's event mask and filters, prints the link status (and
the live channels with ``--channels``), optionally prints the events that arrive
for ``--watch`` seconds, then logs off.  The secret is read from an environment
variable, never from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from hotline.cli import LOG_LEVELS
from hotline.errors import EXIT_UNREACHABLE, EXIT_USER, UserError
from hotline.secret import AMI_ENV, ami_secret
from ivr.ami.errors import AmiConnectError, AmiError
from ivr.ami.link import DEFAULT_EVENTS, DEFAULT_FILTERS, AmiLink
from ivr.argtypes import tcp_port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ivr.ami",
                                description="Check an AMI account the way the engine will use it.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=tcp_port, default=5038)
    p.add_argument("--username", default="hotline")
    p.add_argument("--secret-env", default=AMI_ENV, metavar="VAR",
                   help="environment variable holding the secret (default: %(default)s)")
    p.add_argument("--events", default=DEFAULT_EVENTS, help="event mask sent with the Events action")
    p.add_argument("--filter", action="append", dest="filters", metavar="FILTER", help="repeatable; default: the engine's filters")
    p.add_argument("--timeout", type=float, default=5.0, help="deadline per action, seconds")
    p.add_argument("--channels", action="store_true", help="list live channels (CoreShowChannels)")
    p.add_argument("--watch", type=float, default=0.0, metavar="SECONDS", help="print events for this long")
    p.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    return p


async def run(args: argparse.Namespace) -> int:
    secret = ami_secret(args.secret_env)
    if not secret:
        print(f"python -m ivr.ami: environment variable {args.secret_env} (--secret-env) is not set", file=sys.stderr)
        return 2
    link = AmiLink(
        args.host,
        args.port,
        args.username,
        secret,
        events=args.events,
        filters=args.filters if args.filters is not None else DEFAULT_FILTERS,
        action_timeout=args.timeout,
    )
    link.on_event = lambda msg: print(json.dumps(msg.as_dict(), ensure_ascii=False), flush=True)
    try:
        await link.connect()
        if args.channels:
            for item in await link.action_list("CoreShowChannels"):
                print(f"channel {item.get('Channel')} uniqueid={item.get('Uniqueid')} state={item.get('ChannelStateDesc')}")
        if args.watch > 0:
            await asyncio.sleep(args.watch)
        print(json.dumps(link.status, ensure_ascii=False))
        return 0
    except AmiError as exc:
        print(f"python -m ivr.ami: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE if isinstance(exc, AmiConnectError) else EXIT_USER
    finally:
        await link.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hotline import log

    log.setup(args.log_level)
    try:
        return asyncio.run(run(args))
    except UserError as exc:
        print(f"python -m ivr.ami: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
