"""``acd call ACTION CALL-ID ...`` and the agent actions of wrap-up and supervision.

``acd call`` is one subparser with one sub-command per action (``disposition`` now; ``transfer``
and the supervisors' ``listen|whisper|barge`` later).  Adding one is a function that adds its
parser to the ``call`` sub-commands and names its handler (``set_defaults(call_handler=...)``),
listed in :data:`CALL_PARSERS`; :func:`run` dispatches to it.

``acd agent wrapup-extend|force-pause|force-logout`` are handled here too (:data:`AGENT_ACTIONS`),
so acd/cli.py stays the command's frame.  The rules are in acd/wrapup.py, shared with the API
(:class:`acd.service.Acd`).  Refusals are one line on stderr and exit 2; a Redis or records
database that does not answer is exit 3, as for every ``acd`` command.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Awaitable, Callable

from acd import wrapup
from acd.model import AcdError, Agent

Handler = Callable[[argparse.Namespace, object, object], Awaitable[int]]   # (args, config, store)

#: agent actions handled here (acd/cli.py lists them among ``acd agent``'s choices)
AGENT_ACTIONS = ("wrapup-extend", "force-pause", "force-logout")


def _error(message: str, code: int = 2):
    from acd.cli import UserError

    return UserError(message, code)


# -- acd call ... -------------------------------------------------------------------------------------

def add_disposition(actions) -> None:
    p = actions.add_parser("disposition", help="the agent says what an ended call was about (after the call)")
    p.add_argument("call_id", metavar="CALL-ID")
    p.add_argument("--agent", required=True, help="the agent who handled the call")
    p.add_argument("--category", required=True,
                   help="咨询 求助 投诉 举报 意见建议, or consult help complaint report suggestion")
    p.add_argument("--out-of-remit", default="", metavar="REASON",
                   help="why 12345 does not take the matter: " + " ".join(
                       f"{w}/{k}" for k, w in wrapup.OUT_OF_REMIT.items()))
    p.add_argument("--note", default="", help=f"the agent's note, at most {wrapup.NOTE_MAX} characters")
    p.add_argument("--work-order", action="store_true",
                   help="the matter needs a work order (default: answered at once, 接诉即答)")
    p.add_argument("--done", action="store_true", help="end the agent's wrap-up now: ready for the next call")
    p.set_defaults(call_handler=_disposition, call_check=_check_disposition)


def add_transfer(actions) -> None:
    from acd import transfers

    p = actions.add_parser("transfer", help="hand a caller talking to an agent on to a queue or a number")
    p.add_argument("call_id", metavar="CALL-ID")
    p.add_argument("--to", required=True, metavar="TARGET",
                   help="a queue (province, changchun, hotline-12366...) or a number (12366, 110, an outside line)")
    p.add_argument("--kind", default="blind", choices=["blind", "consult", "three-way"],
                   help=f"how (available now: {', '.join(transfers.KINDS)})")
    p.add_argument("--agent", default=None, help="the agent on the call (default: whoever the ACD has on it)")
    p.add_argument("--skills", default=None, metavar="S,S",
                   help="skills the caller needs in the target queue (default: the call's own)")
    p.set_defaults(call_handler=_transfer, call_check=_check_transfer)


def add_spies(actions) -> None:
    for mode, what in (("listen", "listen to a live call"), ("whisper", "coach the agent (the caller does not hear)"),
                       ("barge", "join the conversation")):
        p = actions.add_parser(mode, help=f"a supervisor: {what}; their phone rings and joins")
        p.add_argument("call_id", metavar="CALL-ID")
        p.add_argument("--from", dest="supervisor", required=True, metavar="SUPERVISOR",
                       help="the supervisor's id (config/acd.yaml supervisors)")
        p.set_defaults(call_handler=_spy, call_check=_check_spy, mode=mode)


#: One function per ``acd call`` action, each adding its parser (see the module's docstring).
CALL_PARSERS: list[Callable] = [add_disposition, add_transfer, add_spies]


def add_parser(sub) -> argparse.ArgumentParser:
    call = sub.add_parser("call", help="act on one call (disposition, transfer, listen, whisper, barge)")
    actions = call.add_subparsers(dest="action", metavar="ACTION", required=True)
    for add in CALL_PARSERS:
        add(actions)
    return call


def check(args, cfg) -> None:
    """Input mistakes, found before Redis or the database is asked anything (exit 2)."""
    try:
        if args.command == "call" and getattr(args, "call_check", None):
            args.call_check(args, cfg)
        elif args.command == "agent" and args.action in AGENT_ACTIONS:
            if not args.agent_id:
                raise AcdError(f"agent {args.action}: which agent? e.g. acd agent {args.action} 1301")
            if args.action == "wrapup-extend":
                if args.seconds is None:
                    raise AcdError("--seconds: how many more seconds of wrap-up?")
                wrapup.extension_seconds(args.seconds)
            else:
                wrapup.supervisor(args.by)
    except AcdError as exc:
        raise _error(str(exc)) from None


async def run(args, cfg, store) -> int:
    """``acd call ...`` and this module's agent actions, the store open."""
    handler: Handler = args.call_handler if args.command == "call" else _AGENT[args.action]
    try:
        return await handler(args, cfg, store)
    except AcdError as exc:
        raise _error(str(exc)) from None


def _check_disposition(args, cfg) -> None:
    _row(args, 0.0)


def _row(args, now: float) -> dict:
    return wrapup.disposition_row(args.call_id, args.agent, args.category, out_of_remit=args.out_of_remit,
                                  note=args.note, work_order=args.work_order, at=now)


async def _disposition(args, cfg, store) -> int:
    from sqlalchemy import select

    from acd.db import schema, upsert
    from acd.db.export import iso

    row = _row(args, time.time())
    await wrapup.check_call(store, args.call_id, args.agent)
    d = schema.dispositions
    async with records(args, cfg) as engine:
        async with engine.begin() as conn:
            earlier = (await conn.execute(select(d.c.at).where(d.c.call_id == row["call_id"]))).scalar()
            await upsert.write(conn, [{"k": "disposition", "r": row}])
    what = row["category"] + (f", out of remit: {row['out_of_remit']}" if row["out_of_remit"] else "")
    what += ", work order" if row["work_order"] else ", answered at once (接诉即答)"
    replaced = f" (replaces the one recorded {iso(earlier)})" if earlier is not None else ""
    print(f"call {row['call_id']}: {what}{replaced}")
    if args.done:
        agent, ended = await store.wrapup_done(args.agent, args.call_id, time.time())
        print(_agent_line(agent, "wrap-up ended" if ended else "was not in wrap-up for this call"))
    return 0


def _skills(args) -> list[str] | None:
    if args.skills is None:
        return None
    skills = [s.strip() for s in args.skills.split(",") if s.strip()]
    if not skills:
        raise AcdError(f"--skills {args.skills!r}: expected skill names separated by commas, e.g. zh,ko")
    return skills


def _check_transfer(args, cfg) -> None:
    from acd import transfers

    _skills(args)
    if args.kind not in transfers.KINDS:
        raise AcdError(f"--kind {args.kind}: not available yet; kinds: {', '.join(transfers.KINDS)}")
    transfers.resolve_target(cfg, args.to)


async def _transfer(args, cfg, store) -> int:
    from acd import transfers

    req = await transfers.request(store, cfg, args.call_id, target=args.to, kind=args.kind, agent_id=args.agent,
                                  skills=_skills(args), now=time.time())
    where = f"queue {req.queue}" if req.queue else f"number {req.number}"
    print(f"call {req.call_id}: {req.kind} transfer to {where} asked for agent {req.agent_id} "
          f"(skills {','.join(req.skills) or 'none'}); the node holding the call carries it out")
    return 0


def _check_spy(args, cfg) -> None:
    if args.supervisor not in cfg.supervisors:
        known = ", ".join(sorted(cfg.supervisors)) or "none in config/acd.yaml"
        raise AcdError(f"--from {args.supervisor!r}: unknown supervisor (supervisors: {known})")


async def _spy(args, cfg, store) -> int:
    from acd import supervision

    req = await supervision.request(store, cfg, args.call_id, supervisor=args.supervisor, mode=args.mode,
                                    now=time.time())
    print(f"call {req.call_id}: supervisor {req.supervisor} to {req.mode}; {req.dial} rings and joins "
          "(hang it up to leave)")
    return 0


# -- acd agent wrapup-extend | force-pause | force-logout --------------------------------------------

async def _extend(args, cfg, store) -> int:
    now = time.time()
    await store.sync_agents(cfg.agents, now)
    seconds = wrapup.extension_seconds(args.seconds)
    max_s = await wrapup.max_wrapup_s(store, cfg, args.agent_id)
    agent = await store.wrapup_extend(args.agent_id, seconds, max_s, now)
    left = max(0.0, agent.wrap_until - now)
    print(f"agent {agent.id}: wrapup for {left:.0f} s more (at most {max_s:g} s after the call)")
    return 0


async def _forced(args, cfg, store) -> int:
    from acd.db import upsert

    by = wrapup.supervisor(args.by)
    action = "pause" if args.action == "force-pause" else "logout"
    reason = (args.reason or wrapup.FORCED_REASON).strip() if action == "pause" else ""
    async with records(args, cfg) as engine:      # no audit row, no forced action
        now = time.time()
        await store.sync_agents(cfg.agents, now)
        before = await wrapup.check_forcible(store, args.agent_id)
        async with engine.begin() as conn:        # the row commits after the action took
            agent = await store.agent_action(args.agent_id, action, reason, now)
            await upsert.write(conn, [{"k": "audit", "r": wrapup.audit_row(
                by, f"force_{action}", agent, now, reason=reason, before=str(before.state))}])
    print(_agent_line(agent, f"forced by {by}, {wrapup.effect(agent)}"))
    return 0


_AGENT: dict[str, Handler] = {"wrapup-extend": _extend, "force-pause": _forced, "force-logout": _forced}


def _agent_line(agent: Agent, note: str) -> str:
    reason = f" ({agent.reason})" if agent.reason else ""
    pending = f", then {agent.pending}" if agent.pending else ""
    return f"agent {agent.id}: {agent.state}{reason}{pending} ({note})"


@contextlib.asynccontextmanager
async def records(args, cfg):
    """The records database (--db or records.url), at the schema this code knows."""
    from sqlalchemy.exc import SQLAlchemyError

    from acd.db.connect import DbError, DbUnavailable, open_engine, parse_url, ping, reason, shown
    from acd.db.migrate import require_current

    try:
        engine = open_engine(parse_url(args.db or cfg.records.url))
    except DbError as exc:
        raise _error(str(exc)) from None
    try:
        await ping(engine)
        await require_current(engine)
        yield engine
    except DbError as exc:
        raise _error(str(exc), 3 if isinstance(exc, DbUnavailable) else 2) from None
    except (SQLAlchemyError, OSError) as exc:
        raise _error(f"records database at {shown(engine.url)}: {reason(exc)}", 3) from None
    finally:
        await engine.dispose()
