"""The ``acd`` command: agents log in and pause, supervisors read the figures, records are exported.

Live state is the shared Redis store (address from config/acd.yaml or --redis), the
same one the engine nodes use; records, exports and reports are the records
database (--db or records.url: docs/records.md).  Mistakes follow
:mod:`hotline.cli`: one line on stderr, exit 2 for a bad flag or config file
(naming file:line), exit 3 for a Redis or records database that does not answer
(naming its address).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from acd.when import epoch
from hotline import cli, errors, paths



def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="acd", description="12345 hotline automatic call distribution")
    parser.add_argument("--config", default=None, help="ACD configuration (default: acd.yaml in the config folder)")
    parser.add_argument("--redis", metavar="HOST:PORT", help="Redis address (default: from the config)")
    parser.add_argument("--prefix", help="Redis key prefix (default: from the config)")
    cli.add_common(parser)
    parser.add_argument("--db", metavar="URL", help="records database (default: records.url in the config)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    st = sub.add_parser("status", help="live figures per queue and per agent")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")

    from acd import call_cli

    ag = sub.add_parser("agent", help="log an agent in or out, pause, resume, list; wrap-up; supervisors")
    ag.add_argument("action", choices=["login", "logout", "pause", "resume", "list", *call_cli.AGENT_ACTIONS])
    ag.add_argument("agent_id", nargs="?", help="agent (seat) id, e.g. 1301")
    ag.add_argument("--reason", default=None, help="why the agent pauses (pause: break; force-pause: supervisor)")
    ag.add_argument("--by", default="", help="the supervisor forcing a pause or logout (kept in the audit log)")
    ag.add_argument("--seconds", default=None, help="more wrap-up time (wrapup-extend)")
    ag.add_argument("--json", action="store_true")
    call_cli.add_parser(sub)

    from acd.db import commands as db_commands, report_cli

    db_commands.add_parsers(sub)
    report_cli.add_parser(sub)

    sub.add_parser("check", help="validate the configuration and print a summary")
    return parser


class UserError(errors.UserError):
    """A user's mistake (exit 2) or, with ``code=3``, a service that did not answer."""

    def __init__(self, message: str, code: int = errors.EXIT_USER):
        super().__init__(message, code=code)


def parse_when(text: str, flag: str, now: float | None = None) -> float:
    when = epoch(text, now=now)
    if when is None:
        raise UserError(f"{flag} {text!r}: expected an ISO date/time (2026-11-27T08:00, China time) or an age (24h, 7d)", 2)
    return when


def _address(args, cfg) -> tuple[str, int]:
    if not args.redis:
        return cfg.redis.host, cfg.redis.port
    host, sep, port = args.redis.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"--redis {args.redis!r}: expected HOST:PORT with a port from 1 to 65535", 2)
    return host, int(port)


async def _open_store(args, cfg):
    """An unreachable Redis raises RedisUnreachable, already one line with its address (exit 3)."""
    from acd.redis_store import RedisStore

    host, port = _address(args, cfg)
    return await RedisStore.connect(host, port, prefix=args.prefix or cfg.redis.prefix,
                                    password=cfg.redis.password(), db=cfg.redis.db, poolsize=1,
                                    slow_call_s=cfg.redis.slow_call_s, call_timeout_s=cfg.redis.call_timeout_s)


async def _run(args, cfg) -> int:
    from acd.model import StoreError

    store = await _open_store(args, cfg)
    try:
        return await _command(args, cfg, store)
    except StoreError as exc:       # Redis out of memory, read-only, stalled...: its own words, one line
        raise UserError(str(exc), errors.EXIT_UNREACHABLE) from None
    finally:
        await store.close()


async def _command(args, cfg, store) -> int:
    from acd.model import AcdError
    from acd.service import collect_stats

    from acd import call_cli

    if args.command == "call" or getattr(args, "action", None) in call_cli.AGENT_ACTIONS:
        return await call_cli.run(args, cfg, store)
    now = time.time()
    if args.command == "status":
        agents = await store.agents()
        figures = await collect_stats(store, cfg, now, agents)
        figures["nodes"] = await store.nodes()
        if args.json:
            print(json.dumps(figures, ensure_ascii=False, indent=1))
        else:
            from acd import status_view

            status_view.print_status(figures, agents)
        return 0
    if args.command == "agent":
        if args.action == "list":
            agents = await store.agents()
            rows = [a.to_dict() for a in agents]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=1))
            else:
                for a in agents:
                    extra = f" ({a.reason})" if a.reason else ""
                    print(f"{a.id:>8}  {a.state:<10}{extra:<14} {a.dial:<22} {','.join(a.queues)}")
            return 0
        if not args.agent_id:
            raise UserError(f"agent {args.action}: which agent? e.g. acd agent {args.action} 1301", 2)
        await store.sync_agents(cfg.agents, now)
        try:
            agent = await store.agent_action(args.agent_id, args.action,
                                             (args.reason or "break") if args.action == "pause" else "", now)
        except AcdError as exc:
            raise UserError(str(exc)) from None
        pending = f", then {agent.pending}" if agent.pending else ""
        reason = f" ({agent.reason})" if agent.reason else ""
        print(f"agent {agent.id}: {agent.state}{reason}{pending}")
        return 0
    return 2


def main(argv: list[str] | None = None) -> int:
    return cli.run("acd", build_parser(), argv, _main)


def _main(args) -> int:
    from acd import config as config_mod
    from acd.db import commands as db_commands

    source = args.config or paths.config_file("acd.yaml")
    try:
        cfg = config_mod.load(source)
    except config_mod.ConfigError as exc:
        raise UserError(str(exc)) from None
    if args.command == "check":
        skills = sorted({s for a in cfg.agents for s in a.skills})
        print(f"{source}: {len(cfg.queues)} queues, {len(cfg.agents)} agents, skills in use: {', '.join(skills)}")
        return 0
    if args.command in db_commands.COMMANDS:
        return asyncio.run(db_commands.run(args, cfg))
    from acd import call_cli

    call_cli.check(args, cfg)
    return asyncio.run(_run(args, cfg))


if __name__ == "__main__":
    # Run the imported module's main, not this copy's: one UserError class for every part.
    from acd.cli import main as imported_main

    sys.exit(imported_main())
