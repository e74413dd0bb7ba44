"""Where the config folder is: ``--config-dir``, then ``$HOTLINE_CONFIG_DIR``, then ``./config``, then the defaults.

An installed ``ivr`` is run from anywhere, and an engineer checking a copy of the
config must be sure which folder was read, so every command resolves the folder
the same way and can say which one it used and why.
"""

from __future__ import annotations

import os
import pathlib

from hotline.errors import UserError

ENV = "HOTLINE_CONFIG_DIR"
ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULTS = ROOT / "config"
#: A folder counts as a config folder when it holds one of these.
MARKERS = ("engine.yaml", "acd.yaml", "centers.yaml")

_chosen: tuple[pathlib.Path, str] | None = None


def find(flag: str | os.PathLike | None = None, *, cwd: pathlib.Path | None = None) -> tuple[pathlib.Path, str]:
    """The config folder and how it was chosen (``--config-dir``, ``$HOTLINE_CONFIG_DIR``, ``./config``, ``defaults``)."""
    if flag:
        return _checked(pathlib.Path(flag), "--config-dir"), "--config-dir"
    env = os.environ.get(ENV)
    if env:
        return _checked(pathlib.Path(env), f"${ENV}"), f"${ENV}"
    here = (cwd or pathlib.Path.cwd()) / "config"
    if here.resolve() != DEFAULTS and any((here / name).is_file() for name in MARKERS):
        return here.resolve(), "./config"
    return DEFAULTS, "defaults"


def _checked(folder: pathlib.Path, source: str) -> pathlib.Path:
    if not folder.is_dir():
        raise UserError(f"{source} {folder}: no such folder")
    if not any((folder / name).is_file() for name in MARKERS):
        raise UserError(f"{source} {folder}: not a config folder (it holds none of {', '.join(MARKERS)})")
    return folder.resolve()


def use(flag: str | os.PathLike | None = None) -> tuple[pathlib.Path, str]:
    """Resolve the folder once for this process; later :func:`config_dir` calls return it."""
    global _chosen
    _chosen = find(flag)
    return _chosen


def config_dir() -> pathlib.Path:
    """The folder chosen by :func:`use` (resolved on first use when a library is called directly)."""
    global _chosen
    if _chosen is None:
        _chosen = find()
    return _chosen[0]


def config_file(name: str) -> pathlib.Path:
    return config_dir() / name


def flows_dir() -> pathlib.Path:
    """The flows beside the config folder (the shipped layout: ``flows/`` next to ``config/``), else the shipped ones."""
    beside = config_dir().parent / "flows"
    return beside if beside.is_dir() else ROOT / "flows"


def check_paths() -> list[str]:
    """What ``ivr check`` and ``ivr prompts`` read when given no paths: the flows and the config folder."""
    return [str(flows_dir()), str(config_dir())]


def describe() -> str:
    folder, source = _chosen or find()
    return f"{folder} (from {source})"


def reset() -> None:
    """Forget the chosen folder (tests run several commands in one process)."""
    global _chosen
    _chosen = None
