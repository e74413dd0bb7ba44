"""The ``acd`` command: agents log in and pause, supervisors read the figures, records are exported.

Live state is the shared Redis store (address from config/acd.yaml or --redis), the
same one the engine nodes use; records, exports and reports are the records
database (--db or records.url: docs/records.md).  Mistakes end in one line on
stderr: a bad flag is argparse's usage error (exit 2), a bad config file names
file:line (exit 2), an unreachable Redis names its address (exit 1), an
unreachable records database names its address (exit 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import time

from acd.when import epoch

DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parent.parent / "config" / "acd.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description="12345 hotline automatic call distribution")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="ACD configuration (default: %(default)s)")
    parser.add_argument("--redis", metavar="HOST:PORT", help="Redis address (default: from the config)")
    parser.add_argument("--prefix", help="Redis key prefix (default: from the config)")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    parser.add_argument("--db", metavar="URL", help="records database (default: records.url in the config)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    st = sub.add_parser("status", help="live figures per queue and per agent")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")

    ag = sub.add_parser("agent", help="log an agent in or out, pause, resume, list")
    ag.add_argument("action", choices=["login", "logout", "pause", "resume", "list"])
    ag.add_argument("agent_id", nargs="?", help="agent (seat) id, e.g. 1301")
    ag.add_argument("--reason", default="break", help="why the agent pauses (pause only)")
    ag.add_argument("--json", action="store_true")

    from acd.db import commands as db_commands, report_cli

    db_commands.add_parsers(sub)
    report_cli.add_parser(sub)

    sub.add_parser("check", help="validate the configuration and print a summary")
    return parser


class UserError(Exception):
    """One line for stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def parse_when(text: str, flag: str, now: float | None = None) -> float:
    when = epoch(text, now=now)
    if when is None:
        raise UserError(f"{flag} {text!r}: expected an ISO date/time (2026-11-27T08:00, China time) or an age (24h, 7d)", 2)
    return when


def _address(args, cfg) -> tuple[str, int]:
    if not args.redis:
        return cfg.redis.host, cfg.redis.port
    host, sep, port = args.redis.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--redis {args.redis!r}: expected HOST:PORT", 2)
    return host, int(port)


async def _open_store(args, cfg):
    from acd.redis_store import RedisStore, RedisUnreachable

    host, port = _address(args, cfg)
    try:
        return await RedisStore.connect(host, port, prefix=args.prefix or cfg.redis.prefix,
                                        password=cfg.redis.password(), db=cfg.redis.db, poolsize=1,
                                        slow_call_s=cfg.redis.slow_call_s, call_timeout_s=cfg.redis.call_timeout_s)
    except RedisUnreachable as exc:
        raise UserError(str(exc)) from None


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _secs(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def print_status(figures: dict, out=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=160)
    t = Table(title=f"Queues (service level threshold {figures['service_level_s']:g} s, last 24 h)")
    for col in ("queue", "waiting", "longest", "avail", "ring", "talk", "wrap", "paused",
                "offered", "answered", "abandoned", "SL/ans", "SL/off", "ASA s", "abandon", "接通率"):
        t.add_column(col, justify="left" if col == "queue" else "right")
    for q in figures["queues"] + [figures["total"]]:
        a = q["agents"]
        t.add_row(q["queue"] if q["queue"] != "*" else "all", str(q["waiting"]), _secs(q["longest_wait_s"]),
                  str(a.get("available", 0)), str(a.get("ringing", 0)), str(a.get("talking", 0)),
                  str(a.get("wrapup", 0)), str(a.get("paused", 0)), str(q["offered"]), str(q["answered"]),
                  str(q["abandoned"]), _pct(q["sl_answered"]), _pct(q["sl_offered"]), _secs(q["asa_s"]),
                  _pct(q["abandon_rate"]), _pct(q["completion_24h"]))
    console.print(t)
    at = Table(title="Agents")
    for col in ("agent", "state", "reason", "calls", "talk s", "occupancy"):
        at.add_column(col, justify="left" if col in ("agent", "state", "reason") else "right")
    for a in figures["agents"]:
        at.add_row(a["agent"], a["state"], a["reason"], str(a["calls"]), f"{a['talk_s']:.0f}", _pct(a["occupancy"]))
    console.print(at)
    nodes = figures.get("nodes") or {}
    if nodes:
        console.print("nodes: " + ", ".join(f"{n} ({s}, {figures['at'] - t:.0f} s ago)" for n, (t, s) in sorted(nodes.items())))


async def _run(args, cfg) -> int:
    from acd.model import StoreError

    store = await _open_store(args, cfg)
    try:
        return await _command(args, cfg, store)
    except StoreError as exc:       # Redis out of memory, read-only, stalled...: its own words, one line
        raise UserError(str(exc)) from None
    finally:
        await store.close()


async def _command(args, cfg, store) -> int:
    from acd.model import AcdError
    from acd.service import collect_stats

    now = time.time()
    if args.command == "status":
        figures = await collect_stats(store, cfg, now)
        figures["nodes"] = await store.nodes()
        if args.json:
            print(json.dumps(figures, ensure_ascii=False, indent=1))
        else:
            print_status(figures)
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
            agent = await store.agent_action(args.agent_id, args.action, args.reason if args.action == "pause" else "", now)
        except AcdError as exc:
            raise UserError(str(exc)) from None
        pending = f", then {agent.pending}" if agent.pending else ""
        reason = f" ({agent.reason})" if agent.reason else ""
        print(f"agent {agent.id}: {agent.state}{reason}{pending}")
        return 0
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from acd import config as config_mod
    from acd.db import commands as db_commands
    from ivr import log

    log.setup(args.log_level)
    try:
        try:
            cfg = config_mod.load(args.config)
        except config_mod.ConfigError as exc:
            raise UserError(str(exc), 2) from None
        if args.command == "check":
            skills = sorted({s for a in cfg.agents for s in a.skills})
            print(f"{args.config}: {len(cfg.queues)} queues, {len(cfg.agents)} agents, skills in use: {', '.join(skills)}")
            return 0
        if args.command in db_commands.COMMANDS:
            return asyncio.run(db_commands.run(args, cfg))
        return asyncio.run(_run(args, cfg))
    except UserError as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return exc.code
    except config_mod.ConfigError as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        from ivr.pipes import reader_gone
        return reader_gone()


if __name__ == "__main__":
    # Run the imported module's main, not this copy's: one UserError class for every part.
    from acd.cli import main as imported_main

    sys.exit(imported_main())
