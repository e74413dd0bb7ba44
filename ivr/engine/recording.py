"""Recording the conversations callers have with agents (MixMonitor), and keeping them only so long.

Policy: a queue records unless config/acd.yaml says ``record: false`` for it.  A
caller queued where recording is on hears the ``recording_notice`` prompt first
(config/prompts.yaml: the project's own words, never a stock sound).  Before the first
agent's Dial the engine runs ``EXEC MixMonitor PATH,b`` on the caller's channel (from
AGI: the AMI action needs the ``system`` class, which the engine's AMI user must not
have).  Option ``b`` keeps only bridged audio (../shared/ami-captures/transfers.md, e:
3.0 s bridged gave a 2.50 s file when audio flowed 2.5 s of it), so ringing, the survey
and hold music are not in the file, and a transferred caller's next agent lands in the
same file.  The recording ends with the channel: no StopMixMonitor.

Files are named so they can be found by date and call id:
``<dir>/YYYY/MM/DD/<call id>.wav``, the date in China time.  The record carries the
path and the seconds bridged (``recording_s``); the sound itself never reaches a log.
:func:`sweep` removes files older than the retention; the runtime runs it hourly
where the engine sees the folder (Asterisk's host).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pathlib
import re
import time
from dataclasses import dataclass

from ivr.agi.interface import CallControl
from ivr.engine.records import CallRecord

CHINA = dt.timezone(dt.timedelta(hours=8))
#: The shared prompt (config/prompts.yaml) that tells a caller the conversation is recorded.
NOTICE_PROMPT_ID = "recording_notice"
#: What may appear of a call id in a file name (Asterisk's Uniqueids are pbx1-1796591041.1).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class RecordingPlace:
    """Where recordings go and how long they stay (config/engine.yaml ``recordings``)."""

    dir: str = "/var/spool/asterisk/monitor/hotline"
    retention_days: float = 180.0
    sweep_every_s: float = 3600.0


def path_for(place: RecordingPlace, call_id: str, when: float | None = None) -> str:
    day = dt.datetime.fromtimestamp(time.time() if when is None else when, CHINA)
    name = _UNSAFE.sub("_", call_id) or "call"
    return f"{place.dir.rstrip('/')}/{day:%Y/%m/%d}/{name}.wav"


def sweep(place: RecordingPlace, now: float | None = None) -> tuple[int, int]:
    """Remove recordings older than the retention, and day folders left empty.  (files removed,
    files kept); a folder that is not there is nothing to sweep."""
    root = pathlib.Path(place.dir)
    if not root.is_dir():
        return 0, 0
    cutoff = (time.time() if now is None else now) - place.retention_days * 86400.0
    removed = kept = 0
    for path in sorted(root.glob("*/*/*/*.wav")):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
            else:
                kept += 1
        except FileNotFoundError:      # another sweeper (a second node on the same host) took it
            continue
    for folder in sorted((p for p in root.glob("*/*/*") if p.is_dir()), reverse=True):
        for empty in (folder, folder.parent, folder.parent.parent):
            try:
                if empty != root and not any(empty.iterdir()):
                    os.rmdir(empty)
            except OSError:
                break
    return removed, kept


async def sweep_forever(place: RecordingPlace) -> None:
    """The runtime's sweep: off the event loop (a big folder takes a while), every ``sweep_every_s``."""
    from hotline import log

    logger = log.get("ivr.recordings")
    if not pathlib.Path(place.dir).is_dir():
        logger.info("recordings.not_here", dir=place.dir, why="Asterisk writes them on another host: sweep there")
    while True:
        removed, kept = await asyncio.to_thread(sweep, place)
        if removed:
            logger.info("recordings.swept", removed=removed, kept=kept, retention_days=place.retention_days)
        await asyncio.sleep(place.sweep_every_s)


class RecordingDesk:
    """Mixin of the engine's ACD services (ivr/engine/acd_glue.py): the notice, and the start."""

    def _records(self, queue: str) -> bool:
        if self.recordings is None:
            return False
        try:
            return self.acd.queue_terms(queue).record
        except Exception:
            return False

    async def _recording_notice(self, call: CallControl, queue: str, lang: str, record: CallRecord | None) -> None:
        """Callers are told before a recorded conversation, once per call."""
        if record is None or record.recording_told or not self._records(queue):
            return
        record.recording_told = True
        await call.play([self.sound(NOTICE_PROMPT_ID, lang)])

    async def _start_recording(self, call: CallControl, queue: str, record: CallRecord | None) -> None:
        """At the first answer in a queue that records: one file per call, every agent in it."""
        if record is None or record.recording_path or not self._records(queue):
            return
        path = path_for(self.recordings, call.call_id)
        if await call.record_to(path):
            record.recording_path = path
