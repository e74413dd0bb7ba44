"""Run the built-in PBX alone: ``python -m ivr.pbx --port 5038 --speed 1 --secret ...``.

The first line on stdout is JSON with the listening host and port, so a parent
process (a benchmark, the demo) can start it with ``--port 0`` and read where it
went.  With ``--load-calls`` it also generates callers itself, which keeps the
load generator's CPU out of the engine's process.

``--records FILE`` appends each call's record as the call ends, so a PBX killed
with SIGKILL still leaves every finished call; on SIGTERM/SIGINT the calls still
up are hung up (``hangup_by: pbx``) and appended too.  ``--test-actions`` enables
the ``PbxTest`` AMI action (drop the AMI, slow it down, place a caller, stats; see
:mod:`ivr.pbx.faults`), for a chaos benchmark in another process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal
import sys

from hotline.cli import LOG_LEVELS
from hotline.secret import AMI_ENV, ami_secret
from hotline import log
from ivr.argtypes import tcp_port_or_0

from .config import ConfigError, PbxConfig
from .core import Pbx
from .scripts import AgentBehaviour, LoadProfile, exponential


def parse_agent(text: str) -> tuple[str, AgentBehaviour]:
    """``ENDPOINT=KIND[:ANSWER_AFTER_S[:TALK_S[:ENDS]]]``, e.g. ``PJSIP/1001=answer:2:30:agent``."""
    endpoint, sep, spec = text.partition("=")
    if not sep or not endpoint:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ENDPOINT=KIND[:ANSWER_AFTER_S[:TALK_S[:ENDS]]]")
    parts = spec.split(":")
    try:
        answer = float(parts[1]) if len(parts) > 1 and parts[1] else 0.0
        talk = float(parts[2]) if len(parts) > 2 and parts[2] else None
        return endpoint, AgentBehaviour(kind=parts[0], answer_after_s=answer, talk_s=talk,
                                        ends=parts[3] if len(parts) > 3 and parts[3] else "agent")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ivr.pbx", description="The built-in PBX (AMI + AsyncAGI) of the 12345 engine")
    p.add_argument("--config", default=None, help="PBX config (default: pbx.yaml in the config folder)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=tcp_port_or_0, default=5038, help="0 picks a free port (printed on stdout)")
    p.add_argument("--secret", default=None, help=f"AMI secret (default: ${AMI_ENV})")
    p.add_argument("--speed", type=positive, default=1.0, help="time factor: 20 = everything 20x faster")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agent", action="append", type=parse_agent, default=[], metavar="ENDPOINT=KIND[:RING[:TALK[:ENDS]]]",
                   help="scripted agent; repeatable")
    p.add_argument("--talk-mean", type=positive, help="mean talk time (s, exponential) of dialplan agents")
    p.add_argument("--talk-s", type=positive, help="fixed talk time (s) of dialplan agents (instead of --talk-mean)")
    p.add_argument("--ring-mean", type=positive, help="mean ring time (s, exponential) of dialplan agents")
    p.add_argument("--load-calls", type=int, default=0, help="generate this many random callers")
    p.add_argument("--load-rate", type=positive, default=10.0, help="callers per second (Poisson)")
    p.add_argument("--load-seed", type=int, default=1)
    p.add_argument("--patience-mean", type=positive, help="mean patience on hold (s); default endless")
    p.add_argument("--load-after-login", action="store_true", help="start callers once an AMI client has logged in")
    p.add_argument("--exit-when-done", action="store_true", help="exit when every generated call has ended")
    p.add_argument("--records", help="append each call's record here (JSON lines) as it ends")
    p.add_argument("--sounds-dir", help="installed sounds (DIR/<lang>/NAME.<ext>, as Asterisk looks)")
    p.add_argument("--prompts", help="JSON of installed sounds: {name: seconds} or ivr prompts' lengths.json")
    p.add_argument("--one-call-per-agent", action="store_true",
                   help="an agent's phone already ringing or talking answers BUSY (call waiting off)")
    p.add_argument("--raw-caller-id", action="store_true",
                   help="let CR/LF in callers' ids reach the wire (an Asterisk that does not clean them)")
    p.add_argument("--test-actions", action="store_true", help="enable the PbxTest AMI action (fault injection)")
    p.add_argument("--uniqueid-start", type=int, default=0,
                   help="first Uniqueid counter value (give a restarted PBX a higher one)")
    p.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    return p


def read_prompts(path: str) -> dict[str, float]:
    """``{name: seconds}``, or ``ivr prompts``' ``lengths.json`` (``{"sounds": {name: {"seconds": s}}}``)."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}:{getattr(exc, 'lineno', 1)}:{getattr(exc, 'colno', 1)}: not JSON ({exc.msg})") from None
    table = data.get("sounds", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}:1:1: expected an object of sound name -> seconds")
    out = {}
    for name, value in table.items():
        secs = value.get("seconds") if isinstance(value, dict) else value
        if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0:
            raise ConfigError(f"{path}: sound {name!r}: {secs!r} is not a number of seconds")
        out[str(name)] = float(secs)
    return out


class RecordFile:
    """Appends each record as its call ends; one JSON line each, flushed at once."""

    def __init__(self, path: str):
        try:
            self.fh = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the records ({exc.strerror})") from None
        self.written = 0

    def __call__(self, rec) -> None:
        self.fh.write(json.dumps(rec.as_dict(), ensure_ascii=False) + "\n")
        self.fh.flush()
        self.written += 1

    def close(self) -> None:
        self.fh.close()


async def serve(args) -> int:
    config = PbxConfig.load(args.config, host=args.host, port=args.port, speed=args.speed, seed=args.seed)
    secret = args.secret or ami_secret()
    if secret:
        config.secret = secret
    if args.sounds_dir:
        config.sounds_dir = pathlib.Path(args.sounds_dir)
        if not config.sounds_dir.is_dir():
            raise ConfigError(f"--sounds-dir {args.sounds_dir}: not a directory")
    if args.prompts:
        config.prompts.update(read_prompts(args.prompts))
    config.raw_caller_id = config.raw_caller_id or args.raw_caller_id
    config.test_actions = config.test_actions or args.test_actions
    config.one_call_per_agent = config.one_call_per_agent or args.one_call_per_agent
    if args.uniqueid_start:
        config.uniqueid_start = args.uniqueid_start
    records = RecordFile(args.records) if args.records else None
    pbx = Pbx(config, agents=dict(args.agent))
    if records is not None:
        pbx.record_sinks.append(records)
    if args.talk_mean:
        pbx.default_talk_s = exponential(args.talk_mean)
    if args.talk_s:
        pbx.default_talk_s = args.talk_s
    if args.ring_mean:
        pbx.default_answer_after_s = exponential(args.ring_mean)
    host, port = await pbx.start()
    print(json.dumps({"host": host, "port": port, "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    load = None
    if args.load_calls > 0:
        profile = LoadProfile(rate_per_s=args.load_rate, calls=args.load_calls, seed=args.load_seed,
                              patience_mean_s=args.patience_mean)
        load = loop.create_task(generate(pbx, profile, args.load_after_login, stop if args.exit_when_done else None))
    await stop.wait()
    if load is not None:
        load.cancel()
    cpu = pbx.cpu_seconds()
    await pbx.stop()            # hangs up the calls still up: their records end here
    if records is not None:
        for rec in pbx.records:
            if rec.end is None:     # a channel that would not go (should not happen): say so
                rec.hangup_by = rec.hangup_by or "pbx"
                records(rec)
        records.close()
    print(json.dumps({"calls": len(pbx.records), "cpu_s": round(cpu, 3)}), file=sys.stderr, flush=True)
    return 0


async def generate(pbx: Pbx, profile: LoadProfile, after_login: bool, done: asyncio.Event | None) -> None:
    while after_login and not any(s.authenticated for s in pbx.sessions):
        await asyncio.sleep(0.05)
    handles = []
    t = 0.0
    for offset, script in profile.scripts():
        await pbx.sleep(offset - t)
        t = offset
        handles.append(pbx.place_call(script))
    for h in handles:
        await h.wait()
    if done is not None:
        done.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    try:
        return asyncio.run(serve(args))
    except ConfigError as exc:
        print(f"ivr.pbx: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
