"""``acd db``, ``acd export`` and the dispatch of ``acd report``: the commands that read or
change the records database (they need no Redis)."""

from __future__ import annotations

import argparse
import getpass
import json
import pathlib
import sys
import time

from sqlalchemy import delete, insert

from acd.db import export as export_mod, schema
from acd.db.connect import DbError, open_engine, parse_url, ping, shown
from acd.db.settings import TABLES

COMMANDS = ("db", "export", "report")


def add_parsers(sub) -> None:
    db = sub.add_parser("db", help="the records database: upgrade its schema, status, retention sweep")
    db.add_argument("action", choices=["upgrade", "status", "sweep"])
    db.add_argument("--json", action="store_true")

    ex = sub.add_parser("export", help="export call records from the records database")
    ex.add_argument("--since", required=True, help="ISO date/time (China time if no zone) or an age like 24h, 7d, 30m")
    ex.add_argument("--until", help="same forms as --since (default: now)")
    ex.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ex.add_argument("--out", help="file to write (default: stdout)")
    ex.add_argument("--unmask", action="store_true",
                    help="whole caller numbers (needs --role in records.unmask_roles; recorded in the audit log)")
    ex.add_argument("--role", default="", help="your role, for --unmask")
    ex.add_argument("--user", default="", help="who exports (default: the login name), for the audit log")


async def run(args: argparse.Namespace, cfg) -> int:
    if args.command == "export":      # a wrong date is the user's, whatever the database does
        from acd.cli import parse_when

        parse_when(args.since, "--since")
        if args.until:
            parse_when(args.until, "--until")
    if args.command == "report":      # its flags' mistakes before the database's
        from acd.db import report_cli

        try:
            report_cli.check_flags(args, cfg)
        except DbError as exc:
            raise _user(str(exc), 2) from None
    url = args.db or cfg.records.url
    try:
        engine = open_engine(parse_url(url))
    except DbError as exc:
        raise _user(str(exc), 2) from None
    from acd.db.migrate import require_current   # Alembic: only for commands that touch the database

    try:
        await ping(engine)
        if args.command == "db":
            return await _db(args, cfg, engine)
        await require_current(engine)
        if args.command == "export":
            return await _export(args, cfg, engine)
        from acd.db import report_cli

        return await report_cli.run(args, cfg, engine)
    except DbError as exc:
        raise _user(str(exc), 3 if exc.__class__.__name__ == "DbUnavailable" else 2) from None
    finally:
        await engine.dispose()


def _user(message: str, code: int):
    from acd.cli import UserError

    return UserError(message, code)


async def _db(args, cfg, engine) -> int:
    from acd.db.migrate import current, head, require_current, upgrade

    if args.action == "upgrade":
        before, after = await upgrade(engine)
        print(f"{shown(engine.url)}: schema {before or 'empty'} -> {after}" if before != after
              else f"{shown(engine.url)}: schema {after} is current")
        return 0
    if args.action == "status":
        at = await current(engine)
        out = {"db": shown(engine.url), "schema": at or None, "code_needs": head(), "current": at == head()}
        print(json.dumps(out) if args.json else
              f"{out['db']}: schema {at or 'empty'} ({'current' if out['current'] else 'run acd db upgrade'})")
        return 0 if out["current"] else 1
    await require_current(engine)
    removed = await sweep(engine, cfg.records.retention_days)
    print(json.dumps(removed) if args.json else
          ", ".join(f"{table} {n}" for table, n in removed.items()) + " rows past their retention removed")
    return 0


async def sweep(engine, retention_days: dict[str, float], *, now: float | None = None) -> dict[str, int]:
    """Delete rows older than each table's retention; legs go with their calls."""
    now = time.time() if now is None else now
    removed: dict[str, int] = {}
    async with engine.begin() as conn:
        for name in sorted(TABLES, key=lambda t: t != "call_legs"):   # legs before their calls go
            table, column = schema.metadata.tables[name], schema.AGE_COLUMN[name]
            cutoff = now - retention_days[name] * 86400.0
            if column is None:    # call_legs: by their call's age
                gone = (schema.calls.select().with_only_columns(schema.calls.c.call_id)
                        .where(schema.calls.c.started_at < now - retention_days["calls"] * 86400.0))
                res = await conn.execute(delete(table).where(table.c.call_id.in_(gone)))
            else:
                res = await conn.execute(delete(table).where(table.c[column] < cutoff))
            removed[name] = res.rowcount or 0
        await audit(conn, "sweep", {"removed": removed})
    return {name: removed[name] for name in TABLES}


async def audit(conn, action: str, detail: dict, *, user: str = "", role: str = "") -> None:
    await conn.execute(insert(schema.audit_log).values(
        at=time.time(), user=user or _login(), role=role, action=action,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


async def _export(args, cfg, engine) -> int:
    from acd.cli import parse_when

    now = time.time()
    since = parse_when(args.since, "--since", now)
    until = parse_when(args.until, "--until", now) if args.until else now
    if args.unmask and args.role not in cfg.records.unmask_roles:
        raise DbError(f"--unmask: role {args.role or '(none)'!r} may not see whole numbers "
                      f"(records.unmask_roles: {', '.join(cfg.records.unmask_roles) or 'none'})")
    try:
        out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout
    except OSError as exc:
        raise DbError(f"--out {args.out}: {exc.strerror}") from None
    try:
        async with engine.begin() as conn:
            count = await export_mod.write(conn, out, since, until, fmt=args.format, unmask=args.unmask)
            if args.unmask:
                await audit(conn, "export_unmasked", {"since": since, "until": until, "rows": count,
                                                      "format": args.format, "out": args.out or "stdout"},
                            user=args.user, role=args.role)
    except OSError as exc:
        raise DbError(f"--out {args.out}: {exc.strerror}") from None
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{count} records written to {pathlib.Path(args.out)}", file=sys.stderr)
    return 0
