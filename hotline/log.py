"""Logging set-up shared by every command: structlog, JSON when not on a terminal.

Every call-scoped logger is bound with ``call_id`` so each line of a call can be
found with one grep.  Secrets never reach a log: :func:`redact` masks keys that
name one, and the AMI link never logs a Login action's fields.
"""

from __future__ import annotations

import logging
import sys

import structlog


_SECRET_KEYS = {"secret", "password", "redis_password", "ami_secret", "key"}
#: Keys that hold a citizen's phone number: logged with the middle digits masked.
_NUMBER_KEYS = {"caller", "caller_number", "callback_number", "number_called_back"}


def mask(number: object) -> str:
    """A caller number as logs, exports and reports may show it: the operator prefix and the last 4 digits."""
    text = number if isinstance(number, str) else ""
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return f"<{len(text)} chars>" if text else "<none>"
    if len(digits) >= 9:
        return text[: len(text) - len(digits) + 3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * (len(digits) - 2) + digits[-2:]


def redact(_logger, _method, event_dict):
    for key in list(event_dict):
        lkey = key.lower()
        if lkey in _SECRET_KEYS:
            event_dict[key] = "***"
        elif lkey in _NUMBER_KEYS and event_dict[key]:
            event_dict[key] = mask(event_dict[key])
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write (tests swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def setup(level: str = "info", *, json: bool | None = None, stream=None) -> None:
    """Configure structlog once per process.

    ``json=None`` chooses by whether ``stream`` is a terminal.
    """
    stream = stream or _CurrentStderr()
    if json is None:
        json = not stream.isatty()
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get(name: str | None = None, **bound):
    log = structlog.get_logger(name)
    return log.bind(**bound) if bound else log
