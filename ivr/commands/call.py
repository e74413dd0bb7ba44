"""``ivr call``: place one test call into the hotline and print what happened to it.

An engineer bringing up a box wants to know, before any citizen calls, that a
call to 12345 reaches the engine, goes through the menu and rings an agent.
Asterisk's own ``channel originate`` says nothing about what followed; this
command originates a caller (``Local/NUMBER@hotline-in``, who stays on the line
for ``--for`` seconds and presses nothing) over the same AMI account the engine
uses, and prints the call's story from the events the engine's account already
receives (AGI commands, dials, keys, hang-ups).  It works the same on a real
Asterisk and on the built-in PBX.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field

from ivr.argtypes import positive_float
from ivr.cli import UserError
from ivr.commands import amiflags


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("call", help="place one test call into the hotline and print what happened",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("number", nargs="?", default="12345", help="number dialled (default 12345)")
    p.add_argument("--caller", default="043188880000", help="the caller's number (default a Changchun fixed line)")
    p.add_argument("--context", default="hotline-in", help="dialplan context the call enters (default hotline-in)")
    p.add_argument("--for", dest="stay_s", type=positive_float, default=60.0, metavar="SECONDS",
                   help="how long the caller stays on the line once answered (default 60)")
    amiflags.add(p)
    return p


def run(args) -> int:
    if not args.number.isdigit() or not args.caller.isdigit():
        raise UserError(f"number {args.number!r} and --caller {args.caller!r} must be digits")
    settings, secret = amiflags.settings(args)
    return asyncio.run(_call(args, settings.ami, secret))


@dataclass
class Story:
    """The events of one call, told as lines; pure, so it is tested without a socket."""

    caller: str
    number: str
    context: str = "hotline-in"
    start: float = field(default_factory=time.monotonic)
    linkedid: str | None = None
    agi_channel: str | None = None
    answered_by: str | None = None
    answered_after: float | None = None
    ended: bool = False

    def line(self, msg, now: float | None = None) -> str | None:
        """One line for an event of this call, None for others; sets ``ended`` on the caller's hang-up."""
        event = msg.get("Event", "")
        if self.linkedid is None:
            if event != "AsyncAGIStart" or msg.get("CallerIDNum") != self.caller:
                return None
            self.linkedid, self.agi_channel = msg.get("Linkedid"), msg.get("Channel")
        elif msg.get("Linkedid") != self.linkedid:
            return None
        told = self._tell(event, msg)
        if told is None:
            return None
        at = (now if now is not None else time.monotonic()) - self.start
        if event == "DialEnd" and msg.get("DialStatus") == "ANSWER" and self.answered_by is None:
            self.answered_by, self.answered_after = msg.get("DestChannel"), at
        if event == "Hangup" and msg.get("Channel") == self.agi_channel:
            self.ended = True
        return f"{at:6.1f} s  {told}"

    def _tell(self, event: str, msg) -> str | None:
        if event == "AsyncAGIStart":
            return f"the engine has the call ({msg.get('Channel')}, context {msg.get('Context')})"
        if event == "AGIExecStart":
            command = msg.get("Command", "")
            return "engine: " + (command if len(command) <= 64 else command[:61] + "...")
        if event == "DTMFEnd":
            return f"key {msg.get('Digit')}"
        if event == "DialBegin":
            return f"rings {msg.get('DestChannel')} ({msg.get('DialString')})"
        if event == "DialEnd":
            return f"{msg.get('DestChannel')}: {msg.get('DialStatus')}"
        if event == "Hangup":
            return f"{msg.get('Channel')} hung up: {msg.get('Cause-txt')}"
        return None

    def summary(self, elapsed: float) -> str:
        if self.linkedid is None:
            return (f"the call never reached the engine in {elapsed:.0f} s: is 'ivr serve' running, and does "
                    f"[{self.context}] send {self.number} to AGI(agi:async)?")
        reached = (f"reached {self.answered_by} after {self.answered_after:.1f} s" if self.answered_by
                   else "reached no agent (see 'acd status' and the engine's log)")
        return f"call ended after {elapsed:.1f} s; {reached}"


async def _call(args, ami, secret: str) -> int:
    from ivr.ami.errors import AmiActionError, AmiConnectError, AmiError
    from ivr.ami.link import AmiLink
    from hotline.errors import EXIT_UNREACHABLE

    story = Story(caller=args.caller, number=args.number, context=args.context)
    done = asyncio.Event()

    def on_event(msg) -> None:
        text = story.line(msg)
        if text:
            print(text, flush=True)
        if story.ended:
            done.set()

    link = AmiLink(ami.host, ami.port, ami.username, secret, events="call,agi,dtmf", filters=(),
                   action_timeout=ami.action_timeout_s)
    link.on_event = on_event
    try:
        await link.connect()
        print(f"ivr call: {args.caller} dials {args.number} (Local/{args.number}@{args.context}), "
              f"stays {args.stay_s:g} s", flush=True)
        await link.action("Originate", [("Channel", f"Local/{args.number}@{args.context}"),
                                        ("Application", "Wait"), ("Data", f"{args.stay_s:g}"),
                                        ("CallerID", f'"test" <{args.caller}>'), ("Async", "true")])
        try:
            await asyncio.wait_for(done.wait(), args.stay_s + 60)
        except asyncio.TimeoutError:
            pass
        print(f"ivr call: {story.summary(time.monotonic() - story.start)}")
        return 0
    except AmiConnectError as exc:
        raise UserError(str(exc), code=EXIT_UNREACHABLE) from None
    except AmiActionError as exc:
        raise UserError(f"Originate refused: {exc} (the AMI user needs write=originate)") from None
    except AmiError as exc:
        raise UserError(str(exc)) from None
    finally:
        await link.close()
