"""Argument types for the commands' flags: a wrong value is one line naming the flag (argparse)."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(kind: Callable[[str], float], what: str, ok: Callable[[float], bool], rule: str):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{value} must be {rule}")
        return value

    return convert


positive_int = _number(int, "a whole number", lambda v: v >= 1, "at least 1")
positive_float = _number(float, "a number", lambda v: v > 0, "above 0")
seconds = _number(float, "a number of seconds", lambda v: v >= 0, "0 or more")
tcp_port = _number(int, "a TCP port number", lambda v: 1 <= v <= 65535, "from 1 to 65535")
tcp_port_or_0 = _number(int, "a TCP port number", lambda v: 0 <= v <= 65535, "from 0 (any free port) to 65535")
