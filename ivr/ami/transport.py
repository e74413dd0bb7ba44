"""The AMI link's socket side: bytes from asyncio go to the framer, messages to the link."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from panoramisk.ami_protocol import AMIProtocol

from ivr.ami.protocol import Parser

if TYPE_CHECKING:
    from ivr.ami.link import AmiLink


class LinkProtocol(AMIProtocol):
    """panoramisk's ``AMIProtocol`` with its reading and writing replaced.

    panoramisk decodes each TCP read on its own (``errors='ignore'`` drops half
    a UTF-8 character), splits only on CRLF CRLF, and re-joins its whole buffer
    on every read.  Here the bytes go to :class:`ivr.ami.protocol.Parser`, which
    frames first and decodes a whole message, and every message goes to the link.
    """

    def __init__(self, link: "AmiLink") -> None:
        self._link = link
        self.parser = Parser()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.version: str | None = None

    def connection_made(self, transport) -> None:  # noqa: D401 - asyncio API
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._link._proto is self:
            self._link.liveness.heard()
        try:
            items = self.parser.feed(data)
        except Exception:  # a parser bug must not kill the connection silently
            self._link._log.error("ami parser failed; buffer dropped", exc_info=True)
            self.parser = Parser(expect_banner=False)
            return
        for item in items:
            try:
                self._link._received(self, item)
            except Exception:  # keep reading: one bad message must not end the link
                self._link._log.error("ami message handling failed", exc_info=True)

    def send(self, data: bytes) -> None:  # type: ignore[override]
        if self.transport is None or self.closed:
            raise ConnectionError("transport closed")
        self.transport.write(data)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._link._lost(self, exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

