"""One AMI client connection: login, actions, and the events it asked for.

Actions of one session run one after another, as in Asterisk's per-session
thread (a PlayDTMF holds the session for the key's duration, as recorded).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from hotline import log
from ivr.ami.protocol import Message, Oversized, Parser, encode

from . import events as ev
from .channels import Target
from .lists import VERSION_LINE, ListActions  # noqa: F401 (VERSION_LINE re-exported)
from .monitor import MonitorActions
from .originate import refused_originate
from .transfer import TransferActions

_log = log.get(__name__)



def _tv(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}+0000"


class Session(ListActions, TransferActions, MonitorActions, asyncio.Protocol):
    def __init__(self, pbx):
        self.pbx = pbx
        self.transport: asyncio.Transport | None = None
        self.parser = Parser(expect_banner=False)
        self.authenticated = False
        self.username = ""
        self.send_events = ev.ALL
        self.readperm = ev.ALL
        self.filters = ev.Filters()
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.closed = False
        self.started = time.time()
        self.session_id = f"0x{id(self):x}"
        self.local = self.remote = ""
        self._held: list[bytes] | None = None   # bytes that arrived during a blackhole

    # -- connection ---------------------------------------------------------------------
    @property
    def event_mask(self) -> int:
        return (self.send_events & self.readperm) if self.authenticated and not self.closed else 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"
        if self.pbx.faults.hold(self):          # an AMI "blackhole": answer nothing yet
            self._held = []
            return
        self.begin()

    def begin(self) -> None:
        """Start the session: banner, worker, and whatever arrived while it was held."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        self.pbx.sessions.add(self)
        self.transport.write(b"Asterisk Call Manager/13.0.0\r\n")
        self.worker = asyncio.get_running_loop().create_task(self._work())
        held, self._held = self._held, None
        for data in held or ():
            self.data_received(data)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.pbx.faults.release(self)
        self.pbx.sessions.discard(self)
        self.pbx._recompute_wanted()
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
            return
        for item in self.parser.feed(data):
            if isinstance(item, Message):
                self.queue.put_nowait(item)
            elif isinstance(item, Oversized):
                _log.warning("ami.oversized_action", size=item.size, remote=self.remote)

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self.pbx._recompute_wanted()

    def reply(self, m: Message, response: str, *headers: tuple[str, object]) -> None:
        out: list[tuple[str, object]] = [("Response", response)]
        aid = m.action_id
        if aid is not None:
            out.append(("ActionID", aid))
        out += headers
        self.write(encode(out))

    def error(self, m: Message, message: str) -> None:
        self.reply(m, "Error", ("Message", message))

    def ack(self, m: Message, message: str) -> None:
        self.reply(m, "Success", ("Message", message))

    # -- dispatch -----------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            m = await self.queue.get()
            if m is None or self.closed:
                return
            delay = self.pbx.faults.response_delay()
            if delay:                       # a saturated PBX: slow, not dead
                await asyncio.sleep(delay)
                if self.closed:
                    return
            try:
                await self.handle(m)
            except Exception:  # a bug must not kill the session silently
                _log.exception("ami.action_failed", action=m.action)
                self.error(m, "Internal error")

    async def handle(self, m: Message) -> None:
        action = (m.action or "").strip()
        if not action:
            self.error(m, "Missing action in request")
            return
        name = action.lower()
        if not self.authenticated and name not in ("login", "logoff", "challenge"):
            self.error(m, "Permission denied")
            return
        handler = getattr(self, "do_" + name, None)
        if name == "pbxtest" and self.pbx.config.test_actions:
            from .faults import test_action
            await test_action(self, m)
            return
        if handler is None:
            self.error(m, f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.")
            now = time.time()
            self.pbx.emit(ev.SECURITY, "RequestBadFormat", [
                ("EventTV", _tv(now)), ("Severity", "Error"), ("Service", "AMI"), ("EventVersion", 1),
                ("SessionID", self.session_id), ("LocalAddress", self.local), ("RemoteAddress", self.remote),
                ("RequestType", f"Action: {action}"), ("SessionTV", _tv(self.started)),
                ("AccountID", self.username)])
            return
        await handler(m)

    # -- session actions ----------------------------------------------------------------
    async def do_login(self, m: Message) -> None:
        cfg = self.pbx.config
        user = m.get("Username", "")
        if user != cfg.username or m.get("Secret", "") != cfg.secret:
            _log.info("ami.login_failed", username=user, remote=self.remote)
            await self.pbx.sleep(cfg.timing.login_fail_s)
            self.error(m, "Authentication failed")
            self.close()
            return
        self.username = user
        mask = ev.parse_mask(m.get("Events"))
        if mask is not None:
            self.send_events = mask
        self.authenticated = True
        self.ack(m, "Authentication accepted")
        self.pbx._recompute_wanted()
        uptime = int(time.time() - self.pbx.boot)
        if self.event_mask & ev.SYSTEM:
            self.write(encode([("Event", "FullyBooted"), ("Privilege", ev.PRIVILEGE[ev.SYSTEM]),
                               ("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")]))
        now = time.time()
        self.pbx.emit(ev.SECURITY, "SuccessfulAuth", [
            ("EventTV", _tv(now)), ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", 1),
            ("AccountID", user), ("SessionID", self.session_id), ("LocalAddress", self.local),
            ("RemoteAddress", self.remote), ("UsingPassword", 0), ("SessionTV", _tv(self.started))])
        _log.info("ami.login", username=user, remote=self.remote)

    async def do_logoff(self, m: Message) -> None:
        self.reply(m, "Goodbye", ("Message", "Thanks for all the fish."))
        self.close()

    async def do_corestatus(self, m: Message) -> None:
        """As manager.c's action_corestatus: when this PBX started, and its calls."""
        started = time.localtime(self.pbx.boot)
        self.reply(m, "Success", ("CoreStartupDate", time.strftime("%Y-%m-%d", started)),
                   ("CoreStartupTime", time.strftime("%H:%M:%S", started)),
                   ("CoreReloadDate", time.strftime("%Y-%m-%d", started)),
                   ("CoreReloadTime", time.strftime("%H:%M:%S", started)),
                   ("CoreCurrentCalls", len(self.pbx.channels)), ("CoreProcessedCalls", self.pbx.calls_processed))

    async def do_ping(self, m: Message) -> None:
        self.reply(m, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))

    async def do_events(self, m: Message) -> None:
        mask = ev.parse_mask(m.get("EventMask"))
        if mask is None:
            self.error(m, "Invalid event mask")
            return
        self.send_events = mask
        self.pbx._recompute_wanted()
        self.reply(m, "Success", ("Events", "On" if mask else "Off"))

    async def do_filter(self, m: Message) -> None:
        op = (m.get("Operation") or "").strip()
        text = m.get("Filter") or ""
        if op.lower() != "add":
            self.error(m, "Unknown operation")
            return
        if not text:
            self.error(m, "Filter must be specified")
            return
        if not self.filters.add(text):
            self.error(m, "Filter did not compile.  Check the syntax of the filter given.")
            return
        self.ack(m, "Success")

    # -- calls --------------------------------------------------------------------------
    async def do_originate(self, m: Message) -> None:
        spec = m.get("Channel") or ""
        if not spec:
            self.error(m, "Channel not specified")
            return
        app = m.get("Application")
        context, exten = m.get("Context"), m.get("Exten")
        if not app and not exten:
            self.error(m, "Exten not specified") if context else self.error(m, "Channel not specified")
            return
        try:
            timeout_s = int(m.get("Timeout") or 30000) / 1000.0
            priority = int(m.get("Priority") or 1)
        except ValueError:
            self.error(m, "Invalid timeout")
            return
        variables = {}
        for v in m.getall("Variable"):
            for pair in v.split(","):
                k, _, val = pair.partition("=")
                if k:
                    variables[k.strip()] = val
        is_async = (m.get("Async") or "").strip().lower() in ("true", "yes", "1", "on")
        aid = m.action_id

        def notify(headers):
            self.pbx.emit(ev.CALL, "OriginateResponse", headers)

        refusal = self.pbx.faults.originate_refusal()     # PbxTest RefuseOriginate (faults.py)
        if refusal == "failure" and is_async:
            self.ack(m, "Originate successfully queued")
            refused_originate(notify, aid, spec, (app, m.get("Data") or "", context, exten))
            return
        if refusal:
            self.error(m, "Originate failed")
            return

        kwargs = dict(app=app, data=m.get("Data") or "", context=context, exten=exten, priority=priority,
                      callerid=m.get("CallerID"), timeout_s=timeout_s, action_id=aid, variables=variables,
                      uniqueids=(m.get("ChannelId") or None, m.get("OtherChannelId") or None))
        if is_async:
            # Asterisk answers first, then runs the originate in its own thread.
            self.ack(m, "Originate successfully queued")
            await self.pbx.originate(spec, async_=True, notify=notify, **kwargs)
            return
        ok, _ = await self.pbx.originate(spec, async_=False, notify=None, **kwargs)
        if ok:
            self.ack(m, "Originate successfully queued")
        else:
            self.error(m, "Originate failed")

    async def do_hangup(self, m: Message) -> None:
        ch = self.pbx.find(m.get("Channel"))
        if ch is None or ch.gone:
            self.error(m, "No such channel")
            return
        cause = m.get("Cause")
        try:
            cause_n = int(cause) if cause else None
        except ValueError:
            self.error(m, "Invalid cause")
            return
        if ch.owner is not None:
            by = "agent"
        elif ch.name.endswith(";1") and ch.peer is not None:
            by = "caller"
        else:
            by = "engine"
        self.ack(m, "Channel Hungup")
        self.pbx.hangup(ch, cause=cause_n, by=by)

    async def do_redirect(self, m: Message) -> None:
        name = m.get("Channel") or ""
        ch = self.pbx.find(name)
        if ch is None or ch.gone:
            self.error(m, f"Channel does not exist: {name}")
            return
        exten = m.get("Exten") or ""
        context = m.get("Context") or ch.context
        if not exten:
            self.error(m, "Extension not specified")
            return
        try:
            priority = int(m.get("Priority") or 1)
        except ValueError:
            self.error(m, "Invalid priority")
            return
        self.ack(m, "Redirect successful")
        self.pbx.redirect(ch, Target(context, exten, priority))

    async def do_playdtmf(self, m: Message) -> None:
        ch = self.pbx.find(m.get("Channel"))
        if ch is None or ch.gone:
            self.error(m, "Channel not found")
            return
        digit = (m.get("Digit") or "").strip()
        if not digit:
            self.error(m, "No digit specified")
            return
        try:
            duration = int(m.get("Duration")) if m.get("Duration") else None
        except ValueError:
            duration = None
        done = asyncio.get_running_loop().create_future()
        self.pbx.dtmf(ch, digit[0], duration, then=lambda: self.ack(m, "DTMF successfully queued")
                      or (done.done() or done.set_result(None)))
        await done

    async def do_agi(self, m: Message) -> None:
        name = m.get("Channel") or ""
        command = m.get("Command") or ""
        if not name or not command:
            self.error(m, "Both, Channel and Command are *required*")
            return
        ch = self.pbx.find(name)
        if ch is None or ch.gone:
            self.error(m, f"Channel {name} does not exist.")
            return
        if not ch.agi_store:
            self.error(m, f"Failed to add AGI command to channel {name} queue")
            return
        ch.agi_queue.append((m.get("CommandID") or "", command))
        self.ack(m, "Added AGI command to queue")
        ch.signal("agi")

    async def do_getvar(self, m: Message) -> None:
        from .variables import lookup
        var = m.get("Variable") or ""
        ch = self.pbx.find(m.get("Channel"))
        if m.get("Channel") and ch is None:
            self.error(m, "No such channel")
            return
        self.reply(m, "Success", ("Variable", var), ("Value", lookup(ch, var, self.pbx.globals)))

    async def do_setvar(self, m: Message) -> None:
        name = m.get("Variable") or ""
        if not name:
            self.error(m, "No variable specified")
            return
        if m.get("Channel"):
            ch = self.pbx.find(m.get("Channel"))
            if ch is None:
                self.error(m, "No such channel")
                return
            self.ack(m, "Variable Set")
            self.pbx.varset(ch, name, m.get("Value") or "")
            return
        self.ack(m, "Variable Set")            # no channel: a global variable, as recorded
        self.pbx.set_global(name, m.get("Value") or "")
