"""Playing a sound on a channel, and the result an AGI command or application gives back.

Shared by the AGI commands (:mod:`ivr.pbx.agi_commands`), the applications they
EXEC and the dialplan runs (:mod:`ivr.pbx.apps`) and Dial (:mod:`ivr.pbx.dial`).
A sound the PBX does not have is missing as on a real Asterisk: nothing plays,
Asterisk's warning is logged, and each caller fails in its own recorded way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hotline import log

from .channels import DIGIT


@dataclass(slots=True)
class Outcome:
    line: str                    # e.g. "200 result=0 endpos=11360"
    code: int = 200              # AGIExecEnd ResultCode
    text: str = "Success"        # AGIExecEnd Result
    then: str = ""               # "break", "hangup" or "failure": the AGI session ends after this
    error: BaseException | None = None   # Gone/Redirected to re-raise after the events


class SoundMissing(Exception):
    """The sound is in no format the PBX has (``File X does not exist in any format``)."""


def sound_length(pbx, ch, name: str) -> float:
    """Seconds ``name`` plays on ``ch``; logs Asterisk's warning and raises when missing."""
    secs = pbx.sound_seconds(name, ch.language)
    if secs is None:
        rec = ch.record
        log.get(__name__, call_id=rec.call_id if rec is not None else ch.uniqueid).warning(
            "pbx.sound_missing", sound=name, channel=ch.name, language=ch.language,
            asterisk=f"File {name} does not exist in any format")
        raise SoundMissing(name)
    return secs


async def play(pbx, ch, name: str, escape: str, *, any_digit: bool = False):
    """Play one prompt; returns (digit or None, seconds played).
    Raises SoundMissing before anything plays, Gone/Redirected while it plays."""
    length = sound_length(pbx, ch, name)
    if ch.record is not None:
        ch.record.played.append(name)
    run = ch.run
    if run is not None:
        run.on_prompt(length)
        if escape or any_digit:
            run.on_input_start(prompt=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    remaining = length
    try:
        while True:
            got = await ch.wait(remaining, (DIGIT,) if (escape or any_digit) else ())
            played = (loop.time() - start) * pbx.speed
            if got is None:
                return None, length
            digit = got[1]
            if any_digit or digit in escape:
                return digit, played
            remaining = max(length - played, 0.0)
    finally:
        if run is not None:
            run.on_prompt_end()
            if escape or any_digit:
                run.on_input_end()
