"""The AMI actions that list what the PBX holds: CoreShowChannels, Status, Command.

They show what each channel runs now, as Asterisk 13 does from its channel
snapshots: ``AGI``/``agi:async`` while a channel waits in AsyncAGI, ``Dial`` (with
the bridge once answered) or ``MusicOnHold`` while an AGI ``EXEC`` runs them,
the dialplan's application otherwise.  An engine that lost its AMI link finds the
channels still waiting for it this way.
"""

from __future__ import annotations

import time

from ivr.ami.protocol import Message

from . import events as ev

VERSION_LINE = ("Asterisk UNKNOWN__and_probably_unsupported built by root @ vm on a x86_64 running Linux "
                "on 2026-11-27 05:31:03 UTC")


class ListActions:
    """Mixed into :class:`ivr.pbx.session.Session`."""

    def _list(self, m: Message, items: list[list], start_msg: str, complete: str, extra=()) -> None:
        self.reply(m, "Success", ("EventList", "start"), ("Message", start_msg))
        aid = m.action_id
        for headers in items:
            self.write(self.pbx.encode(headers[:1] + ([("ActionID", aid)] if aid is not None else []) + headers[1:]))
        tail = [("Event", complete)]
        if aid is not None:
            tail.append(("ActionID", aid))
        tail += [("EventList", "Complete"), ("ListItems", len(items)), *extra]
        self.write(self.pbx.encode(tail))

    @staticmethod
    def _apps(ch) -> tuple[str, str]:
        """What the channel runs now: the dialplan application (AGI while in AsyncAGI),
        or the one an AGI EXEC runs (Dial, MusicOnHold, ...), as pbx_exec sets it."""
        if ch.app:
            return ch.app, ch.appdata
        return "AppDial", "(Outgoing Line)"

    async def do_coreshowchannels(self, m: Message) -> None:
        now = time.time()
        items = []
        for ch in list(self.pbx.channels.values()):
            app, data = self._apps(ch)
            secs = int(now - ch.created)
            items.append([("Event", "CoreShowChannel")] + ev.channel_block(ch) + [
                ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""), ("Application", app),
                ("ApplicationData", data),
                ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}")])
        self._list(m, items, "Channels will follow", "CoreShowChannelsComplete")

    async def do_status(self, m: Message) -> None:
        want = m.get("Channel")
        chans = list(self.pbx.channels.values())
        if want:
            chans = [c for c in chans if c.name == want]
            if not chans:
                self.error(m, "No such channel")
                return
        now = time.time()
        items = []
        for ch in chans:
            app, data = self._apps(ch)
            items.append([("Event", "Status"), ("Privilege", "Call")] + ev.channel_block(ch) + [
                ("Type", ch.name.split("/")[0]), ("DNID", "" if ch.dnid == "unknown" else ch.dnid),
                ("EffectiveConnectedLineNum", ch.conn_num or "<unknown>"),
                ("EffectiveConnectedLineName", ch.conn_name or "<unknown>"),
                ("TimeToHangup", 0), ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
                ("Application", app), ("Data", data), ("Nativeformats", "(slin)"),
                ("Readformat", "slin"), ("Readtrans", ""), ("Writeformat", "slin"), ("Writetrans", ""),
                ("Callgroup", 0), ("Pickupgroup", 0), ("Seconds", int(now - ch.created))])
        self._list(m, items, "Channel status will follow", "StatusComplete", extra=[("Items", len(items))])

    async def do_command(self, m: Message) -> None:
        cmd = " ".join((m.get("Command") or "").split()).lower()
        if cmd == "core show version":
            lines = [VERSION_LINE]
        elif cmd in ("core show channels", "core show channels concise"):
            lines = self._show_channels(concise=cmd.endswith("concise"))
        elif cmd == "core show uptime":
            up = int(time.time() - self.pbx.boot)
            lines = [f"System uptime: {up} seconds", f"Last reload: {up} seconds"]
        else:
            self.reply(m, "Error", ("Message", "Command output follows"),
                       ("Output", f"No such command '{m.get('Command')}' (type 'core show help {m.get('Command')}' for other possible commands)"))
            return
        self.reply(m, "Success", ("Message", "Command output follows"), ("Output", lines))

    def _show_channels(self, concise: bool) -> list[str]:
        chans = list(self.pbx.channels.values())
        if concise:
            return [f"{c.name}!{c.context}!{c.exten}!{c.priority}!{ev.STATE_DESC.get(c.state)}!"
                    f"{self._apps(c)[0]}!{self._apps(c)[1]}!{c.cid_num}!!!3!{int(time.time() - c.created)}!!{c.uniqueid}"
                    for c in chans]
        lines = [f"{'Channel':<20.20} {'Location':<20.20} {'State':<7.7} {'Application(Data)':<30.30}"]
        for c in chans:
            app, data = self._apps(c)
            loc = f"{c.exten}@{c.context}:{c.priority}"
            lines.append(f"{c.name:<20.20} {loc:<20.20} {ev.STATE_DESC.get(c.state, ''):<7.7} {app + '(' + data + ')':<30.30}")
        n = len(chans)
        calls = len({c.linkedid for c in chans})
        lines.append(f"{n} active channel{'s' if n != 1 else ''}")
        lines.append(f"{calls} active call{'s' if calls != 1 else ''}")
        lines.append(f"{self.pbx.calls_processed} call{'s' if self.pbx.calls_processed != 1 else ''} processed")
        return lines
