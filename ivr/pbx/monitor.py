"""Recording a channel: ``MixMonitor`` / ``StopMixMonitor`` by AMI and AGI ``EXEC``.

What the recorded Asterisk did (capture ``xfer-e-mixmonitor``, ``transfers.md`` e) and
app_mixmonitor.c does:

- AMI ``MixMonitor Channel File Options`` answers a bare ``Response: Success`` (no
  Message, no MixMonitorID unless option ``i``), sets ``MIXMONITOR_FILENAME`` to the full
  path and emits ``MixMonitorStart`` (channel headers only).  ``StopMixMonitor`` answers a
  bare Success and emits ``MixMonitorStop``.  A recording ended by the channel's hang-up
  emits nothing.  The manager registers ``MixMonitor`` with class ``system`` and
  ``StopMixMonitor`` with ``system,call``; both events are of class ``call``.
- A file name without a leading ``/`` goes under the monitor folder; the folders of the
  path are created (``filename_parse``).  A file Asterisk cannot open is only logged
  (``Cannot open PATH``): the action still answers Success and the events still come.
- With option ``b`` a frame is written only while the channel is bridged; without it,
  whenever one flows.  The file holds the frames that flowed, so its length is the time
  audio reached the channel: ``media: phones`` (the default) takes an answered call as
  carrying audio all the time, as real phones send RTP; ``media: applications`` models the
  captures' Local channels, where only hold music sends frames (the AGI recording of e
  has 2.50 s for a 3.0 s bridge: the agent's hold music started 0.5 s after the bridge).

The PBX writes the file when the recording ends: a WAV (8 kHz, mono, 16-bit PCM, the
44-byte header Asterisk's ``wav`` format writes) of silence, as long as the audio that
flowed, in PBX seconds.  Any other extension gets the raw samples (Asterisk's ``sln``);
the other formats Asterisk knows are not modelled.
"""

from __future__ import annotations

import asyncio
import os
import struct

from hotline import log
from ivr.ami.protocol import Message

from . import events as ev
from .channels import Channel, Watcher
from .playing import Outcome

_log = log.get(__name__)

RATE = 8000          # samples a second of Asterisk's "wav" (and "sln") format
SAMPLE_BYTES = 2
WAV_HEADER_BYTES = 44


def wav_header(data_bytes: int) -> bytes:
    """RIFF/WAVE header of 8 kHz mono 16-bit PCM holding ``data_bytes`` of samples."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1,
                       RATE, RATE * SAMPLE_BYTES, SAMPLE_BYTES, 16, b"data", data_bytes)


def sends_audio(ch: Channel | None) -> bool:
    """Hold music playing on ``ch`` or its Local partner (``media: applications``)."""
    return ch is not None and (ch.moh or (ch.peer is not None and ch.peer.moh))


def bridge_has_audio(pbx, bridge) -> bool:
    """Audio flows through ``bridge`` now (a ChanSpy on a member can detach)."""
    if bridge is None:
        return False
    if bridge.audio_since is not None:
        return True
    return any(sends_audio(m) for m in bridge.members)


def media_through(pbx, ch: Channel) -> bool:
    """Frames pass through ``ch``: always with real phones; with Local test phones only
    when something plays into its call."""
    if pbx.config.media != "applications":
        return ch.state == 6
    return sends_audio(ch) or bridge_has_audio(pbx, ch.bridge) or (
        ch.peer is not None and bridge_has_audio(pbx, ch.peer.bridge))


def bridge_started(pbx, bridge, caller: Channel) -> None:
    """A Dial's bridge is up: with real phones audio flows at once; on the test stand only
    when the caller's side already plays something (the phone's hold music marks it later)."""
    if pbx.config.media != "applications" or sends_audio(caller):
        bridge.audio_since = asyncio.get_running_loop().time()


def audio_started(bridge) -> None:
    """Something in ``bridge`` started to play (a phone's hold music)."""
    if bridge is not None and bridge.audio_since is None:
        bridge.audio_since = asyncio.get_running_loop().time()


class Recording(Watcher):
    """One MixMonitor on one channel: counts the audio it would have written."""

    def __init__(self, pbx, ch: Channel, path: str, bridged_only: bool):
        self.pbx = pbx
        self.ch = ch
        self.path = path
        self.bridged_only = bridged_only
        now = asyncio.get_running_loop().time()
        self.started = now
        self.seconds = 0.0           # PBX seconds counted so far (bridges already left)
        self.since = now             # when the current bridge (or the recording) began for us
        self.writable = self._open()
        self.ended = False

    def _open(self) -> bool:
        """As mixmonitor_thread opens the file at once: a path that cannot be written is
        logged and the recording goes on without a file."""
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(self.path, "wb") as f:
                if self._is_wav():
                    f.write(wav_header(0))
            return True
        except OSError as exc:
            _log.error("pbx.mixmonitor_cannot_open", channel=self.ch.name, path=self.path,
                       error=exc.strerror or str(exc), asterisk=f"Cannot open {self.path}")
            return False

    def _is_wav(self) -> bool:
        return self.path.rpartition(".")[2] == "wav" and "." in os.path.basename(self.path)

    # -- counting ------------------------------------------------------------------------
    def _bridge_seconds(self, bridge, until: float) -> float:
        """PBX seconds of audio from ``bridge`` between our joining it and ``until``."""
        if bridge is None or bridge.audio_since is None:
            return 0.0
        return max(0.0, until - max(self.since, bridge.audio_since)) * self.pbx.speed

    def bridge_changed(self, ch: Channel, old, new) -> None:
        if not self.bridged_only or self.ended:
            return
        now = asyncio.get_running_loop().time()
        self.seconds += self._bridge_seconds(old, now)
        self.since = now

    def total_seconds(self) -> float:
        """PBX seconds of audio recorded so far."""
        now = asyncio.get_running_loop().time()
        if not self.bridged_only:
            return (now - self.started) * self.pbx.speed
        return self.seconds + self._bridge_seconds(self.ch.bridge, now)

    # -- the end -------------------------------------------------------------------------
    def stop(self) -> None:
        if self.ended:
            return
        seconds = self.total_seconds()
        self.ended = True
        if self in self.ch.watchers:
            self.ch.watchers.remove(self)
        if not self.writable:
            return
        data = int(round(seconds * RATE)) * SAMPLE_BYTES
        try:
            with open(self.path, "r+b") as f:
                if self._is_wav():
                    f.write(wav_header(data))
                    f.truncate(WAV_HEADER_BYTES + data)     # zeros: silence, written sparsely
                else:
                    f.truncate(data)
        except OSError as exc:
            _log.error("pbx.mixmonitor_write_failed", channel=self.ch.name, path=self.path,
                       error=exc.strerror or str(exc))
            return
        _log.debug("pbx.mixmonitor_written", channel=self.ch.name, path=self.path, seconds=round(seconds, 3))

    def gone(self, ch: Channel) -> None:
        self.stop()          # the hang-up ends it: no MixMonitorStop (recorded)


def recordings(ch: Channel) -> list[Recording]:
    return [w for w in ch.watchers if isinstance(w, Recording)]


def start(pbx, ch: Channel, data: str) -> bool:
    """``MixMonitor(file[,options[,command]])`` on ``ch``; False when there is no file name
    (mixmonitor_exec returns -1).  Options other than ``b`` are accepted and ignored."""
    filename, _, rest = data.partition(",")
    options = rest.partition(",")[0]
    filename = filename.strip()
    if not filename:
        _log.warning("pbx.mixmonitor_no_file", channel=ch.name, asterisk="MixMonitor requires an argument (filename)")
        return False
    if not filename.startswith("/"):
        filename = f"{pbx.config.monitor_dir.rstrip('/')}/{filename}"
    pbx.varset(ch, "MIXMONITOR_FILENAME", filename)
    rec = Recording(pbx, ch, filename, bridged_only="b" in options)
    ch.watchers.append(rec)
    pbx.chan_event(ev.CALL, "MixMonitorStart", ch)
    return True


def stop(pbx, ch: Channel) -> bool:
    """StopMixMonitor: ends the newest recording of ``ch`` (the datastore found first)."""
    running = recordings(ch)
    if not running:
        return False
    running[-1].stop()
    pbx.chan_event(ev.CALL, "MixMonitorStop", ch)
    return True


async def app_mixmonitor(pbx, ch, data):
    """AGI ``EXEC MixMonitor file,b``: 0 in every case, as the application returns."""
    start(pbx, ch, data)
    return Outcome("200 result=0")


async def app_stopmixmonitor(pbx, ch, data):
    stop(pbx, ch)
    return Outcome("200 result=0")


class MonitorActions:
    """The AMI actions, mixed into :class:`ivr.pbx.session.Session`."""

    def _monitored(self, m: Message) -> Channel | None:
        name = m.get("Channel") or ""
        if not name:
            self.error(m, "No channel specified")
            return None
        ch = self.pbx.find(name)
        if ch is None or ch.gone:
            self.error(m, "No such channel")
            return None
        return ch

    async def do_mixmonitor(self, m: Message) -> None:
        ch = self._monitored(m)
        if ch is None:
            return
        data = f"{m.get('File') or ''},{m.get('Options') or ''},{m.get('Command') or ''}"
        if not start(self.pbx, ch, data):
            self.error(m, "Could not start monitoring channel")
            return
        self.reply(m, "Success")

    async def do_stopmixmonitor(self, m: Message) -> None:
        ch = self._monitored(m)
        if ch is None:
            return
        if not stop(self.pbx, ch):
            self.error(m, "Could not stop monitoring channel")
            return
        self.reply(m, "Success")
