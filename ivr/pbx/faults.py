"""Faults a test or a chaos benchmark injects into the PBX's AMI while calls go on.

``drop`` cuts every AMI session at once (the client sees its TCP connection
reset, as in the issue's 0.3 s drops) and keeps the AMI unreachable for a while;
channels, AGI sessions and the dialplan keep running, and the events sent
meanwhile are lost for good: nobody was connected to receive them.  How a
connect attempt fares during the gap depends on ``mode``:

- ``refuse``: the listening socket is closed, connects fail at once with
  ECONNREFUSED: an Asterisk whose manager is restarting, or a host that rejects.
- ``blackhole``: connects are taken but nothing comes back (no banner) until the
  gap ends; then the held connections start normally, with whatever the client
  sent meanwhile.  This is what a network blip looks like from the client: its
  packets are lost and retransmitted, so a connect "hangs" and then succeeds late,
  and a client must rely on its own timeouts.  It matches a blip better.

``slow`` makes the PBX answer actions late (each one waits ``delay_s`` before it
is handled) while events keep flowing: a saturated Asterisk that is slow, not dead.

``refuse_originates`` makes every Originate fail for a while, the two ways an
Asterisk refuses one: ``error`` answers ``Response: Error`` (``Originate failed``,
what a synchronous originate that could not create its channel gets), ``failure``
accepts it and then sends ``OriginateResponse`` ``Failure`` with reason 0 (an
async originate whose channel could not be created).  A callback dialer must take
either as the PBX's refusal, never as the agent's missed call.

All durations here are wall-clock seconds, not PBX time: networks and CPUs do not
run faster with ``speed``.

The ``PbxTest`` AMI action (enabled by ``PbxConfig.test_actions`` or
``python -m ivr.pbx --test-actions``) reaches all this from another process.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from hotline import log

_log = log.get(__name__)

MODES = ("refuse", "blackhole")
ORIGINATE_REFUSALS = ("error", "failure")
MAX_SECONDS = 3600.0


class AmiFaults:
    def __init__(self, pbx):
        self.pbx = pbx
        self.mode = ""
        self.held: list = []                  # sessions accepted during a blackhole
        self._back: asyncio.Task | None = None
        self._slow_until = 0.0
        self._slow_delay = 0.0
        self._refuse_until = 0.0
        self._refuse_mode = ""
        self.originates_refused = 0

    # -- drops -------------------------------------------------------------------------
    @property
    def down(self) -> bool:
        return self._back is not None and not self._back.done()

    def drop(self, down_s: float, mode: str = "refuse") -> asyncio.Task:
        if mode not in MODES:
            raise ValueError(f"drop mode {mode!r}: expected one of {', '.join(MODES)}")
        if not 0 < down_s <= MAX_SECONDS:
            raise ValueError(f"drop of {down_s!r} s: expected more than 0 and at most {MAX_SECONDS:g}")
        pbx = self.pbx
        if self._back is not None and not self._back.done():
            self._back.cancel()               # a second drop while down: the newest gap counts
            mode = self.mode if self.mode == "refuse" else mode
        self.mode = mode
        cut = 0
        for s in list(pbx.sessions):
            s.abort()
            cut += 1
        pbx.sessions.clear()
        pbx._recompute_wanted()
        if mode == "refuse" and pbx._server is not None:
            pbx._server.close()
            pbx._server = None
        _log.warning("pbx.ami_dropped", sessions=cut, down_s=down_s, mode=mode, channels=len(pbx.channels))
        self._back = asyncio.get_running_loop().create_task(self._come_back(down_s))
        return self._back

    async def _come_back(self, down_s: float) -> None:
        await asyncio.sleep(down_s)
        pbx = self.pbx
        if pbx._server is None:
            try:
                await pbx.start()
            except Exception as exc:     # e.g. the port was taken meanwhile: say so, loudly
                _log.error("pbx.ami_reopen_failed", error=str(exc))
                raise
        held, self.held = self.held, []
        self.mode = ""
        for session in held:
            session.begin()
        _log.warning("pbx.ami_back", held=len(held), channels=len(pbx.channels))

    def hold(self, session) -> bool:
        """A connection arrived: True when it must wait for the end of a blackhole."""
        if self.down and self.mode == "blackhole":
            self.held.append(session)
            return True
        return False

    def release(self, session) -> None:
        if session in self.held:
            self.held.remove(session)

    # -- a slow PBX ------------------------------------------------------------------------
    def slow(self, seconds: float, delay_s: float) -> None:
        if not 0 < seconds <= MAX_SECONDS or not 0 <= delay_s <= 60:
            raise ValueError("slow AMI: Seconds must be in (0, 3600] and Delay in [0, 60]")
        loop = asyncio.get_running_loop()
        self._slow_until = loop.time() + seconds
        self._slow_delay = delay_s
        _log.warning("pbx.ami_slow", seconds=seconds, delay_s=delay_s)

    def response_delay(self) -> float:
        if self._slow_delay and asyncio.get_running_loop().time() < self._slow_until:
            return self._slow_delay
        return 0.0

    # -- refused originates ---------------------------------------------------------------
    def refuse_originates(self, seconds: float, mode: str = "error") -> None:
        if mode not in ORIGINATE_REFUSALS:
            raise ValueError(f"Mode {mode!r}: expected one of {', '.join(ORIGINATE_REFUSALS)}")
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError("refused originates: Seconds must be in (0, 3600]")
        self._refuse_until = asyncio.get_running_loop().time() + seconds
        self._refuse_mode = mode
        _log.warning("pbx.originates_refused", seconds=seconds, mode=mode)

    def originate_refusal(self) -> str:
        """``error``, ``failure`` or "" (accept): what to do with an Originate now; counts refusals."""
        if self._refuse_mode and asyncio.get_running_loop().time() < self._refuse_until:
            self.originates_refused += 1
            return self._refuse_mode
        return ""

    def cancel(self) -> None:
        if self._back is not None:
            self._back.cancel()
            self._back = None
        for session in self.held:
            session.abort()
        self.held = []
        self._slow_until = 0.0
        self._refuse_until = 0.0


# -- the PbxTest AMI action ------------------------------------------------------------------

OPERATIONS = ("DropAmi", "SlowAmi", "RefuseOriginate", "PlaceCall", "Stats", "LiveCalls")


def _seconds(m, header: str, default: float | None = None) -> float:
    text = m.get(header)
    if text is None or not text.strip():
        if default is None:
            raise ValueError(f"{header} is required")
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{header}: {text!r} is not a number of seconds") from None


async def test_action(session, m) -> None:
    """``Action: PbxTest`` with ``Operation:`` one of :data:`OPERATIONS`."""
    op = (m.get("Operation") or "").strip()
    pbx = session.pbx
    try:
        if op.lower() == "dropami":
            down_s = _seconds(m, "Seconds")
            mode = (m.get("Mode") or "refuse").strip().lower()
            if mode not in MODES:
                raise ValueError(f"Mode {mode!r}: expected refuse or blackhole")
            session.ack(m, f"Dropping AMI for {down_s:g} s ({mode})")
            # Written before the cut: a transport sends what it can at once.
            asyncio.get_running_loop().call_soon(_drop_now, pbx, down_s, mode)
        elif op.lower() == "slowami":
            pbx.faults.slow(_seconds(m, "Seconds"), _seconds(m, "Delay"))
            session.ack(m, "AMI slowed down")
        elif op.lower() == "refuseoriginate":
            mode = (m.get("Mode") or "error").strip().lower()
            pbx.faults.refuse_originates(_seconds(m, "Seconds"), mode)
            session.ack(m, f"Refusing originates for {_seconds(m, 'Seconds'):g} s ({mode})")
        elif op.lower() == "livecalls":
            live_calls(session, m)
        elif op.lower() == "placecall":
            handle = place_call(pbx, m)
            rec = handle.record
            session.reply(m, "Success", ("Message", "Call placed"), ("Uniqueid", rec.call_id),
                          ("Channel", rec.channel or ""))
        elif op.lower() == "stats":
            session.reply(m, "Success", *stats(pbx))
        else:
            raise ValueError(f"unknown Operation {op!r} (known: {', '.join(OPERATIONS)})")
    except ValueError as exc:
        session.error(m, str(exc))


def _drop_now(pbx, down_s: float, mode: str) -> None:
    pbx.drop_ami(down_s, mode)


def place_call(pbx, m):
    """A scripted caller from the action's headers.  ``Number`` and ``Name`` are
    percent-decoded, so a test can give a caller id with CR/LF (``%0D%0A``);
    ``Keys`` is ``DELAY:KEY`` steps separated by commas (``0.5:1,1:2``; an empty key
    lets that input wait time out)."""
    from .scripts import CallerScript

    keys = []
    for step in filter(None, (m.get("Keys") or "").split(",")):
        delay, _, key = step.partition(":")
        try:
            keys.append((float(delay), key or None))
        except ValueError:
            raise ValueError(f"Keys: {step!r} is not DELAY:KEY") from None
    hangup = m.get("HangupAfter")
    script = CallerScript(
        number=unquote(m.get("Number") or ""), name=unquote(m.get("Name") or ""),
        did=(m.get("Did") or "12345").strip(), context=(m.get("Context") or "hotline-in").strip(),
        language=(m.get("Language") or "zh").strip(), keys=keys,
        hangup_after_s=_seconds(m, "HangupAfter") if hangup else None)
    if not script.number:
        raise ValueError("Number is required")
    return pbx.place_call(script)


def stats(pbx) -> list[tuple[str, object]]:
    """What the PBX holds now, for a benchmark that must find stuck calls itself."""
    up = [r for r in pbx.records if r.end is None]
    return [
        ("Channels", len(pbx.channels)),
        ("InAgi", sum(1 for c in pbx.channels.values() if c.in_agi)),
        ("CallsUp", len(up)),
        ("CallsEnded", len(pbx.records) - len(up)),
        ("Sessions", len(pbx.sessions)),
        ("AmiDown", "yes" if pbx.faults.down else "no"),
        ("CallersPlaced", pbx.callers_placed),
        ("OriginatesRefused", pbx.faults.originates_refused),
    ]


def live_calls(session, m) -> None:
    """Every call still up, as its record so far (JSON, silence so far included), one
    ``PbxTestCall`` event each, then ``PbxTestCallsComplete``: what a benchmark keeps
    of the calls in flight before it kills the PBX, and what it shows of stuck calls."""
    import json

    pbx = session.pbx
    up = [r for r in pbx.records if r.end is None]
    runs = {ch.record.call_id: ch.run for ch in pbx.channels.values()
            if ch.run is not None and ch.record is not None}
    session.reply(m, "Success", ("EventList", "start"), ("Message", "Live calls will follow"))
    aid = m.action_id
    for rec in up:
        run = runs.get(rec.call_id)
        if run is not None:
            run.note_silence()
        where = pbx.find(rec.channel)
        session.write(pbx.encode([("Event", "PbxTestCall"), ("ActionID", aid), ("Uniqueid", rec.call_id),
                                  ("Application", where.app if where is not None else ""),
                                  ("Context", where.context if where is not None else ""),
                                  ("Record", json.dumps(rec.as_dict(), ensure_ascii=False))]))
    session.write(pbx.encode([("Event", "PbxTestCallsComplete"), ("ActionID", aid),
                              ("EventList", "Complete"), ("ListItems", len(up))]))
