"""``ivr prompts``: placeholder audio for every prompt text without a recording (espeak-ng)."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

from hotline import paths
from ivr.cli import UserError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "prompts", help="make placeholder prompt audio with espeak-ng (8 kHz mono WAV)",
        description="Speak every prompt text that has no studio recording with espeak-ng (Mandarin, Korean) "
                    "into OUT/ivr/<lang>/<prompt>.wav, 8 kHz mono 16-bit as Asterisk plays it, and write "
                    "OUT/lengths.json (seconds per sound) for 'ivr check' budgets and the built-in PBX. "
                    "Every shared prompt is made, also those only the engine plays (queue_wait, system_fault). "
                    "OUT is laid out as an Asterisk sounds folder: use it as Asterisk's, link OUT/ivr into "
                    "Asterisk's, and check it with 'ivr check --sounds-dir OUT'. "
                    "Unchanged texts are not spoken again.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="flows and config folders (default: the flows and the config folder in use)")
    p.add_argument("--out", default="build/prompts",
                   help="output folder, a sounds folder for Asterisk (default build/prompts)")
    p.add_argument("--install", metavar="SOUNDS_DIR", default=None,
                   help="then copy OUT/ivr into Asterisk's sounds folder (e.g. /var/lib/asterisk/sounds), "
                        "files 0644 and folders 0755 so the asterisk user can read them")
    p.add_argument("--force", action="store_true", help="speak every prompt again")
    return p


def run(args) -> int:
    from ivr.flows.audio import EspeakMissing, find_espeak, make_placeholders
    from ivr.flows.check import check_paths

    if args.install and not pathlib.Path(args.install).is_dir():     # before minutes of speaking
        raise UserError(f"--install {args.install}: no such folder (Asterisk's sounds folder, "
                        f"e.g. /var/lib/asterisk/sounds)")
    try:
        exe = find_espeak()
    except EspeakMissing as exc:
        raise UserError(str(exc)) from None
    try:
        result = check_paths(args.paths or paths.check_paths(), None)
    except FileNotFoundError as exc:
        raise UserError(f"no such file or folder: {exc.args[0]}") from None
    if not result.ok:
        for problem in result.errors:
            print(problem, file=sys.stderr)
        raise UserError(f"{len(result.errors)} error(s) in the flows; run 'ivr check'")
    try:
        made = make_placeholders(result.flowset, pathlib.Path(args.out), force=args.force, exe=exe)
    except OSError as exc:
        raise UserError(f"--out {args.out}: {exc.strerror or exc}") from None
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    for item in made:
        print(f"{'made' if item.fresh else 'kept'} {item.path} {item.seconds:.1f} s")
    total = sum(i.fresh for i in made)
    print(f"ivr prompts: {total} made, {len(made) - total} unchanged, lengths in {pathlib.Path(args.out) / 'lengths.json'}",
          file=sys.stderr)
    if args.install:
        copied = install(pathlib.Path(args.out), pathlib.Path(args.install))
        print(f"ivr prompts: {copied} files installed under {pathlib.Path(args.install) / 'ivr'} (readable by all)",
              file=sys.stderr)
    return 0


def install(out: pathlib.Path, sounds: pathlib.Path) -> int:
    """Copy ``out/ivr`` under ``sounds``: Asterisk runs as its own user, so every file must be world-readable."""
    copied = 0
    try:
        for src in sorted((out / "ivr").rglob("*")):
            dest = sounds / src.relative_to(out)
            if src.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                dest.chmod(0o755)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.parent.chmod(0o755)
            shutil.copyfile(src, dest)
            dest.chmod(0o644)
            copied += 1
    except OSError as exc:
        raise UserError(f"--install {sounds}: {exc.strerror or exc} ({exc.filename})") from None
    return copied
