"""``ivr serve``: run the engine against a real Asterisk (or the built-in PBX).

Settings come from config/engine.yaml, then flags.  The AMI secret is read
from an environment variable or a file and is never logged or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal

from hotline import paths
from hotline.errors import EXIT_UNREACHABLE
from ivr.argtypes import seconds
from ivr.commands import amiflags
from ivr.cli import UserError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        help="run the engine against Asterisk over AMI (AsyncAGI)",
        description=(
            "Connect to Asterisk's manager interface and take every call that reaches "
            "AGI(agi:async) in the hotline contexts. Asterisk needs the AMI user and dialplan "
            "shipped in config/asterisk/ (manager.conf: read=call,agi,dtmf, "
            "write=agi,call,originate,reporting; extensions.conf: [hotline-in] and [hotline-resume]). "
            "The secret is read from the environment variable named by --secret-env "
            "(default HOTLINE_AMI_SECRET) or from --secret-file; it is never logged. Logs at info "
            "level unless --log-level says otherwise."
        ),
    )
    p.set_defaults(_command_log_level="info")
    amiflags.add(p)
    p.add_argument("--flows", default=None, help="folder of flow files (default: flows/)")
    p.add_argument("--acd-store", choices=["memory", "redis"], default=None,
                   help="where the ACD keeps queues and agents (default: from config/acd.yaml)")
    p.add_argument("--acd-config", default=None, help="ACD settings file (default: config/acd.yaml)")
    p.add_argument("--login-all", action="store_true",
                   help="log every configured agent in at start (a trial: with the Redis store, agents otherwise start "
                        "logged out until 'acd agent login ID')")
    p.add_argument("--watch-flows", type=float, default=2.0, metavar="SECONDS",
                   help="check flow and config files for changes this often and reload them when they pass "
                        "the check (0: only on SIGHUP); a broken edit is refused and the old flows keep serving")
    p.add_argument("--sounds-dir", default=None, metavar="DIR",
                   help="Asterisk's sounds folder (e.g. /var/lib/asterisk/sounds): refuse to start, and refuse a "
                        "reload, when a prompt the flows or the engine play has no file there in a format "
                        "Asterisk reads ('ivr prompts --out DIR' makes placeholders)")
    p.add_argument("--reload-timeout", type=seconds, default=None, metavar="SECONDS",
                   help="longest a flow reload may take (it runs off the event loop); past it the old flows "
                        "keep serving (default 5)")
    p.add_argument("--minimal", action="store_true",
                   help="skip flows and ACD: answer, greet, one key, first free agent from engine.agents")
    p.add_argument("--db", metavar="URL", default=None,
                   help="records database (default: records.url in config/acd.yaml; sqlite:///FILE or "
                        "postgresql://USER@HOST/DB, password from $HOTLINE_DB_PASSWORD)")
    p.add_argument("--db-optional", action="store_true",
                   help="start even when the records database does not answer: records wait in the spool "
                        "(records.spool_dir) and are written, in order, once it does")
    p.add_argument("--no-records", action="store_true", help="keep no call records in a database (trials)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (for trials)")
    p.add_argument("--drain-s", type=seconds, default=30.0, metavar="SECONDS",
                   help="on SIGTERM/SIGINT: take no new calls, give running ones this long to reach a safe "
                        "point (waiting in a queue, or talking), then leave the rest in AGI for another node "
                        "or this node's successor; a second signal stops at once (default 30)")
    return p


def run(args) -> int:
    settings, secret = amiflags.settings(args)
    return asyncio.run(_serve(args, settings, secret))


async def _serve(args, settings, secret: str) -> int:
    from hotline import log as logmod
    from ivr.ami.errors import AmiConnectError, AmiError
    from ivr.runtime import build_runtime

    log = logmod.get("ivr.serve")
    acd_config = None
    if args.acd_config and not args.minimal:
        from acd import config as acd_config_mod

        try:
            acd_config = acd_config_mod.load(args.acd_config)
        except acd_config_mod.ConfigError as exc:
            raise UserError(str(exc)) from None
    if args.sounds_dir is not None and not pathlib.Path(args.sounds_dir).is_dir():
        raise UserError(f"--sounds-dir {args.sounds_dir}: not a folder")
    runtime = await build_runtime(settings, secret=secret, flows_dir=args.flows, acd_store=args.acd_store,
                                  minimal=args.minimal, acd_config=acd_config, login_all=args.login_all,
                                  sounds_dir=args.sounds_dir, reload_timeout_s=args.reload_timeout,
                                  records=not (args.minimal or args.no_records), records_db=args.db,
                                  db_optional=args.db_optional, recordings=not args.minimal)
    runtime.watch_flows_s = args.watch_flows or None
    signals = _Signals(asyncio.get_running_loop(), log)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, runtime.reload)
    try:
        try:
            await runtime.start()
        except AmiConnectError as exc:
            raise UserError(str(exc), code=EXIT_UNREACHABLE) from None
        except AmiError as exc:             # refused login, not AMI...: the settings are the mistake
            raise UserError(str(exc)) from None
        log.info("serve.started", host=settings.ami.host, port=settings.ami.port, user=settings.ami.username,
                 config=paths.describe(), settings=str(settings.path) if settings.path else None)
        try:
            await asyncio.wait_for(signals.first.wait(), args.duration)
        except asyncio.TimeoutError:
            pass
        log.info("serve.stopping", drain_s=args.drain_s, live_calls=len(runtime.engine.calls))
        draining = asyncio.ensure_future(runtime.stop(drain_s=args.drain_s))
        now = asyncio.ensure_future(signals.second.wait())
        await asyncio.wait({draining, now}, return_when=asyncio.FIRST_COMPLETED)
        if not draining.done():
            log.warning("serve.stop_now", live_calls=len(runtime.engine.calls))
            draining.cancel()
            await asyncio.gather(draining, return_exceptions=True)
            await runtime.engine.hand_over()
            await runtime.stop()
        now.cancel()
    except BaseException:
        await runtime.stop()
        raise
    log.info("serve.stopped", **runtime.engine.status(), records=runtime.records_status)
    return 0


class _Signals:
    """SIGTERM or SIGINT once: stop gracefully; twice: stop now."""

    def __init__(self, loop, log):
        self.first, self.second = asyncio.Event(), asyncio.Event()
        self.log = log
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._got, sig)

    def _got(self, sig) -> None:
        if self.first.is_set():
            self.second.set()
        else:
            self.first.set()
        self.log.info("serve.signal", signal=signal.Signals(sig).name, again=self.second.is_set() or None)
