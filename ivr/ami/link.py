"""The engine's one connection to Asterisk's manager interface.

Built on panoramisk's protocol class, mended where it goes wrong for a hotline
(see docs/ami.md): framing on bytes, every action with a deadline, pending
actions failed (never re-sent) when the connection drops, a Ping that must be
answered, reconnect with backoff and jitter, and one ordered event sink whose
failures cannot break the link.  panoramisk's ``Manager`` is not used: its
reconnect path re-sends unanswered actions, which could run an Originate twice.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from hotline.errors import describe
from hotline import log as ivr_log
from ivr.ami.errors import (
    AmiActionError,
    AmiConnectError,
    AmiConnectionLost,
    AmiError,
    AmiLoginError,
    AmiTimeout,
)
from ivr.ami.correlate import Correlator, Headers, PendingAction
from ivr.ami.liveness import Liveness, keep_alive
from ivr.ami.protocol import Banner, Message, Oversized
from ivr.ami.transport import LinkProtocol
from hotline.backoff import backoff_delay

__all__ = ["AmiLink", "LinkProtocol", "backoff_delay", "DEFAULT_EVENTS", "DEFAULT_FILTERS"]

#: What the engine needs from Asterisk (see the asyncagi-filtered-events capture).
DEFAULT_EVENTS = "call,agi,dtmf"
DEFAULT_FILTERS = ("Event: AsyncAGI*", "Event: Hangup", "Event: Dial*", "Event: DTMFEnd")

EventSink = Callable[[Message], None]
ConnectedHook = Callable[[], Awaitable[None] | None]


@dataclass(slots=True)
class _Counters:
    events: int = 0
    unrouted: int = 0
    garbage: int = 0
    oversized: int = 0
    sink_errors: int = 0
    reconnects: int = 0


class AmiLink:
    """A logged-in, self-healing AMI connection.

    Set :attr:`on_event` (a plain function taking each event :class:`Message`, in
    arrival order) and :attr:`on_connected` (awaited after every successful login,
    for resync) before :meth:`connect`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: str | None = DEFAULT_EVENTS,
        filters: Iterable[str] = DEFAULT_FILTERS,
        action_timeout: float = 10,
        ping_interval: float | None = 5,
        ping_timeout: float = 20,
        slow_s: float = 1.0,
        overload_s: float = 2.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30,
        log=None,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self._secret = secret
        self.events = events
        self.filters = tuple(filters)
        self.action_timeout = action_timeout
        #: None or <= 0: no keepalive Pings (the peer's close is still noticed)
        self.ping_interval = ping_interval if ping_interval and ping_interval > 0 else None
        #: How long a silence may last after a Ping before the peer counts as gone.
        #: Any message received in the meantime proves it alive (see ivr.ami.liveness).
        self.ping_timeout = ping_timeout
        self.liveness = Liveness(slow_s=slow_s, overload_s=overload_s)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.where = f"{host}:{self.port}"
        self._log = (log or ivr_log.get("ivr.ami.link")).bind(ami=self.where)
        self._rng = rng or random.Random()
        self.on_event: EventSink | None = None
        self.on_connected: ConnectedHook | None = None

        self._proto: LinkProtocol | None = None
        self._actions = Correlator()
        self._state = "new"
        self._last_error: str | None = None
        self._version: str | None = None
        self._lost_event = asyncio.Event()
        self._up = asyncio.Event()
        #: Wall-clock time the last connection was lost (None while never lost).
        self.lost_at: float | None = None
        self._supervisor: asyncio.Task | None = None
        self._closing = False
        self._count = _Counters()

    # ----------------------------------------------------------------- state

    def __repr__(self) -> str:  # the secret stays out of reprs and tracebacks
        return f"<AmiLink {self.username}@{self.where} {self._state}>"

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    @property
    def status(self) -> dict[str, Any]:
        """What ``ivr serve`` shows about the link."""
        c = self._count
        return {
            "state": self._state,
            "server": self.where,
            "version": self._version,
            "reconnects": c.reconnects,
            "last_error": self._last_error,
            "pending_actions": len(self._actions),
            "events": c.events,
            "events_unrouted": c.unrouted,
            "sink_errors": c.sink_errors,
            "garbage_messages": c.garbage,
            "oversized_messages": c.oversized,
            "answer_delays": self.liveness.report(),
            "overloaded": self.liveness.overloaded,
        }

    @property
    def overloaded(self) -> bool:
        return self.liveness.overloaded

    @property
    def ready(self) -> bool:
        """Logged in and past ``on_connected``: the engine's resync has settled the calls."""
        return self.connected and self._up.is_set()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the link is logged in again and its resync done; False after ``timeout``
        or once closed.  A call must not act on the new connection before the resync has told
        it what became of its channel (a PBX that restarted, not a channel that vanished)."""
        if self.ready:
            return True
        if self._closing:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
        except TimeoutError:
            return False
        return self.connected

    # ----------------------------------------------------------- life cycle

    async def connect(self, *, spawn=None) -> None:
        """Connect, log in, set the event mask and filters, then call ``on_connected``.

        Raises :class:`AmiConnectError` or :class:`AmiLoginError` (one line each);
        after a first success the link keeps itself up until :meth:`close`.  ``spawn``
        (``Supervisor.spawn`` of the runtime's tree) owns the task that keeps it up, so the
        node's one supervision tree holds it too; alone (tools, tests) the link owns it.
        """
        if self._supervisor is not None:
            raise RuntimeError("AmiLink.connect() called twice")
        self._closing = False
        await self._open()
        name = f"ami-link {self.where}"
        self._supervisor = (spawn(self._supervise(), name=name) if spawn is not None
                            else asyncio.create_task(self._supervise(), name=name))
        self._supervisor.add_done_callback(self._task_done)
        await self._call_on_connected()

    async def close(self) -> None:
        """Log off, stop pinging and reconnecting, fail whatever still waits."""
        self._closing = True
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self.connected:
            try:
                await self.action("Logoff", timeout=min(self.action_timeout, 2))
            except AmiError:
                pass
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.close()
        self._fail_pending(lambda p: AmiConnectionLost(f"AMI link to {self.where} closed before {p.name} was answered", action=p.name))
        self._state = "closed"
        self._up.set()   # wake waiters: they find the link closed
        self._lost_event.set()
        self._log.info("ami link closed")

    async def _open(self) -> None:
        """One connection attempt, with login and subscriptions; all or nothing."""
        loop = asyncio.get_running_loop()
        self._state = "connecting"
        try:
            async with asyncio.timeout(self.action_timeout):
                _, proto = await loop.create_connection(lambda: LinkProtocol(self), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else describe(exc)
            self._state = "disconnected"
            self._last_error = f"cannot reach AMI at {self.where}: {reason}"
            raise AmiConnectError(self._last_error) from None
        self._lost_event = asyncio.Event()
        self._proto = proto
        try:
            await self._setup(proto)
            if self._proto is not proto or proto.closed:
                raise AmiConnectError(f"{self.where} closed the connection during login")
        except BaseException as exc:
            if self._proto is proto:
                self._proto = None
            proto.close()
            self._state = "disconnected"
            if isinstance(exc, AmiError):
                self._last_error = str(exc)
            raise
        self._state = "connected"
        self.liveness.heard()
        self._log.info("ami logged in", user=self.username, version=self._version)

    async def _setup(self, proto: LinkProtocol) -> None:
        try:
            # Events: off at login, so nothing arrives before the mask and filters.
            await self._request(proto, "Login", [("Username", self.username), ("Secret", self._secret), ("Events", "off")])
        except AmiActionError:
            raise AmiLoginError(f"login refused by {self.where} as {self.username}") from None
        except AmiTimeout:
            raise AmiConnectError(f"no answer to Login from {self.where} (is it an AMI port?)") from None
        except AmiConnectionLost:
            raise AmiConnectError(f"{self.where} closed the connection during login") from None
        steps: list[tuple[str, list[tuple[str, object]]]] = []
        if self.events is not None:
            steps.append(("Events", [("EventMask", self.events)]))
        steps += [("Filter", [("Operation", "Add"), ("Filter", f)]) for f in self.filters]
        for name, headers in steps:
            try:
                await self._request(proto, name, headers)
            except AmiActionError as exc:
                raise AmiConnectError(f"{self.where} refused {name} {headers[-1][1]!r}: {exc}") from None
            except (AmiTimeout, AmiConnectionLost) as exc:
                raise AmiConnectError(f"{self.where} during {name}: {exc}") from None

    async def _supervise(self) -> None:
        while not self._closing:
            await self._keepalive()
            if self._closing:
                return
            await self._reconnect()

    async def _keepalive(self) -> None:
        """Return once the connection is gone: closed by the peer, or silent too long."""
        if self.ping_interval is None:
            await self._lost_event.wait()
            return
        await keep_alive(self.liveness, lost=self._lost_event, interval_s=self.ping_interval,
                         timeout_s=self.ping_timeout, ping=self._ping, drop=self._drop, log=self._log)

    async def _ping(self, limit: float) -> None:
        try:
            await self.action("Ping", timeout=limit)
        except AmiActionError as exc:
            self._log.warning("ami ping refused", message=str(exc))
        except AmiError:
            pass  # the silence rule in keep_alive decides

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._closing:
            delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max, self._rng.random())
            self._state = "reconnecting"
            self._log.warning("ami reconnecting", attempt=attempt + 1, delay_s=round(delay, 3), last_error=self._last_error)
            await asyncio.sleep(delay)
            try:
                await self._open()
            except AmiError as exc:
                self._last_error = str(exc)
                attempt += 1
                continue
            self._count.reconnects += 1
            await self._call_on_connected()
            return

    async def _call_on_connected(self) -> None:
        hook = self.on_connected
        try:
            if hook is not None:
                result = hook()
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self._log.error("ami on_connected hook failed", exc_info=True)
        if self.connected:
            self._up.set()

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._state = "failed"
            self._last_error = _one_line(task.exception())
            self._log.error("ami link supervisor died", exc_info=task.exception())

    def _drop(self, reason: str) -> None:
        """Give up on the current connection now (the Ping went unanswered)."""
        proto = self._proto
        if proto is None:
            return
        self._lost(proto, ConnectionError(reason))
        proto.close()

    def _lost(self, proto: LinkProtocol, exc: BaseException | None) -> None:
        if proto is not self._proto:
            return  # an old connection finishing its close
        self._proto = None
        if self._state in ("connected", "connecting"):
            self._state = "disconnected"
        self._up.clear()
        self.lost_at = time.time()
        reason = _one_line(exc) if exc else "closed by the PBX"
        self._last_error = f"connection to {self.where} lost: {reason}"
        if not self._closing:
            self._log.warning("ami connection lost", reason=reason, pending_actions=len(self._actions))
        self._fail_pending(lambda p: AmiConnectionLost(f"connection to {self.where} lost before {p.name} was answered", action=p.name))
        self._lost_event.set()

    def _fail_pending(self, make_error: Callable[[PendingAction], AmiError]) -> None:
        self._actions.fail_all(make_error)

    # --------------------------------------------------------------- actions

    async def action(self, name: str, headers: Headers = None, *, timeout: float | None = None) -> Message:
        """Send one action and return Asterisk's response.

        Raises :class:`AmiActionError` on ``Response: Error``, :class:`AmiTimeout`
        after the deadline, :class:`AmiConnectionLost` if the link is or goes
        down, :class:`ProtocolError` (before writing) on CR/LF in a value.
        """
        return await self._wait(self._send(self._live(name), name, headers, None), timeout)

    async def action_list(self, name: str, headers: Headers = None, *, timeout: float | None = None) -> list[Message]:
        """Send an EventList action (CoreShowChannels, Status, QueueStatus) and return its items.

        The items are the events carrying this action's ActionID up to the
        ``...Complete`` one; they do not go to :attr:`on_event`.
        """
        return await self._wait(self._send(self._live(name), name, headers, []), timeout)

    async def _request(self, proto: LinkProtocol, name: str, headers: Headers) -> Message:
        return await self._wait(self._send(proto, name, headers, None), None)

    def _live(self, name: str) -> LinkProtocol:
        proto = self._proto
        if proto is None or self._state != "connected":
            raise AmiConnectionLost(f"AMI link to {self.where} is down ({self._state}); {name} not sent", action=name,
                                    sent=False)
        return proto

    def _send(self, proto: LinkProtocol, name: str, headers: Headers, items: list | None) -> PendingAction:
        pending, data = self._actions.new(name, headers, listing=items is not None)  # ProtocolError: nothing sent
        try:
            proto.send(data)
        except ConnectionError:
            self._actions.forget(pending.action_id)
            raise AmiConnectionLost(f"connection to {self.where} closed; {name} not sent", action=name,
                                    sent=False) from None
        if name != "Login":  # a Login's fields are never logged
            self._log.debug("ami action sent", action=name, action_id=pending.action_id)
        return pending

    async def _wait(self, pending: PendingAction, timeout: float | None):
        limit = self.action_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await pending.future
        except TimeoutError:
            raise AmiTimeout(f"AMI action {pending.name} got no answer from {self.where} within {limit:g} s", action=pending.name) from None
        finally:
            self._actions.forget(pending.action_id)

    # -------------------------------------------------------------- receiving

    def _received(self, proto: LinkProtocol, item: Message | Banner | Oversized) -> None:
        if proto is not self._proto:
            return
        if isinstance(item, Message):
            self._dispatch(item)
        elif isinstance(item, Banner):
            proto.version = self._version = item.version
        else:
            self._count.oversized += 1
            self._log.warning("ami message over the size limit skipped", size=item.size)

    def _dispatch(self, msg: Message) -> None:
        if msg.event is not None:
            if not self._actions.take_event(msg):
                self._deliver(msg)
            return
        if msg.response is None:
            self._count.garbage += 1
            self._log.warning("ami message with neither Event nor Response skipped", lines=len(msg.headers) + len(msg.body))
            return
        settled = self._actions.take_response(msg)
        if settled is None:
            self._log.debug("ami response nobody waits for", action_id=msg.action_id, response=msg.response)
        else:
            self.liveness.answered(time.monotonic() - settled.sent_at)

    def _deliver(self, msg: Message) -> None:
        count = self._count
        count.events += 1
        sink = self.on_event
        if sink is None:
            count.unrouted += 1
            if count.unrouted == 1 or count.unrouted % 1000 == 0:
                self._log.warning("ami events arriving with no sink set", ami_event=msg.event, unrouted=count.unrouted)
            return
        try:
            sink(msg)
        except Exception:
            count.sink_errors += 1
            self._log.error(
                "ami event sink failed",
                ami_event=msg.event,
                call_id=msg.get("Uniqueid"),
                channel=msg.get("Channel"),
                exc_info=True,
            )


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
