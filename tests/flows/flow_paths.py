"""Where the shipped flows, the config and the broken-flow corpus live."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
CONFIG = ROOT / "config"
BROKEN = pathlib.Path(__file__).resolve().parent / "broken"
