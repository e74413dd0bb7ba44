"""Argument types for the commands' flags: a wrong value is one line naming the flag (argparse)."""

from __future__ import annotations

import argparse
from typing import Callable


def _number(kind: Callable[[str], float], what: str, ok: Callable[[float], bool], rule: str):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{value} must be {rule}")
        return value

    return convert


positive_int = _number(int, "a whole number", lambda v: v >= 1, "at least 1")
positive_float = _number(float, "a number", lambda v: v > 0, "above 0")
seconds = _number(float, "a number of seconds", lambda v: v >= 0, "0 or more")
