"""Sound names as Asterisk takes them, and whether the files behind them are installed.

A prompt reaches Asterisk as a sound name in an AGI ``STREAM FILE`` or ``GET
DATA`` argument; Asterisk looks for ``<sounds>/<name>.<ext>`` with the
extension of every format module it has.  A name Asterisk cannot take, or a file
it cannot find, answers ``result=-1`` on a live call, so both are refused
before a flow goes live rather than found by a caller.
"""

from __future__ import annotations

import os
import pathlib
import stat
from dataclasses import dataclass

from ivr.flows import model as m

#: File extensions Asterisk tries for a sound name: the ``.exts`` of every audio format module in
#: Asterisk's ``formats/format_*.c`` (video formats h263/h264 left out).  ``main/file.c``
#: (``filehelper``, ``build_filename``) stats ``<sounds>/<name>.<ext>`` for each, and writes the
#: ``wav49`` format (GSM in WAV) as ``.WAV``.
AUDIO_EXTENSIONS = (
    "wav", "WAV", "wav16", "gsm", "ulaw", "ul", "mu", "ulw", "pcm", "alaw", "al", "alw", "au",
    "sln", "slin", "raw", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
    "g722", "g729", "g723", "g723sf", "g726-40", "g726-32", "g726-24", "g726-16", "g719",
    "ilbc", "siren7", "siren14", "ogg", "spx", "spx16", "spx32", "vox",
)
SAFE_MARKS = "_-.+/"     # besides letters and digits

_WHY = {
    " ": ("a space", "AGI splits its arguments at spaces"),
    "\t": ("a tab", "AGI splits its arguments at tabs"),
    '"': ("a double quote", "AGI reads it as quoting"),
    "'": ("a single quote", "dialplan applications read it as quoting"),
    "`": ("a backquote", "only letters, digits and _ - . + / are safe"),
    "\\": ("a backslash", "AGI reads it as an escape"),
    ",": ("a comma", "dialplan applications split their arguments at it"),
    "&": ("'&'", "Playback and Background split file lists at it"),
    "|": ("'|'", "older dialplan applications split their arguments at it"),
    ":": ("':'", "Asterisk fetches names with '://' from the network"),
    "$": ("'$'", "the dialplan would read '${...}' as a variable"),
}


def _shown(name: str) -> str:
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name


def name_problem(name: str) -> str | None:
    """Why Asterisk could not play ``name`` from its sounds folder, or None if it can."""
    if not name:
        return "the sound name is empty"
    shown = _shown(name)
    if name.startswith("/"):
        return f"sound name '{shown}' is an absolute path: give it relative to Asterisk's sounds folder"
    parts = name.split("/")
    if ".." in parts:
        return f"sound name '{shown}' goes up out of the sounds folder with '..'"
    if "" in parts:
        return f"sound name '{shown}' has an empty part ('//' or a '/' at the end)"
    for ch in name:
        if ch.isalnum() or ch in SAFE_MARKS:
            continue
        if ch in _WHY:
            what, why = _WHY[ch]
        elif not ch.isprintable():
            what, why = f"a control character (U+{ord(ch):04X})", "it cannot be sent to Asterisk"
        else:
            what, why = f"'{ch}'", "only letters, digits and _ - . + / are safe"
        return f"sound name '{shown}' holds {what}, which Asterisk cannot take in a STREAM FILE or GET DATA argument ({why})"
    ext = name.rsplit(".", 1)[-1] if "." in parts[-1] else ""
    if ext in AUDIO_EXTENSIONS:
        return f"sound name '{shown}' ends in '.{ext}': leave the extension out, Asterisk adds one for each format it has"
    return None


def prompt_sounds(prompt: m.Prompt) -> dict[str, list[str]]:
    """Sound name -> languages it plays in, for every language a caller may hear ``prompt`` in."""
    out: dict[str, list[str]] = {}
    for lang in m.LANGUAGES:
        if lang in prompt.texts or prompt.recorded(lang):
            out.setdefault(prompt.sound(lang), []).append(lang)
    return out


def all_prompts(flowset: m.FlowSet) -> dict[str, m.Prompt]:
    """Every prompt a call may hear: the shared ones (the engine plays some itself) and each flow's."""
    seen: dict[str, m.Prompt] = dict(flowset.config.prompts)
    for flow in flowset.flows.values():
        for pid, p in flow.prompts.items():
            seen.setdefault(pid, p)
    return seen


def find_sound(sounds_dir: pathlib.Path, name: str) -> pathlib.Path | None:
    """The file Asterisk would play for ``name`` from ``sounds_dir`` (a regular file, any format)."""
    base = pathlib.Path(sounds_dir) / name
    for ext in AUDIO_EXTENSIONS:
        path = base.with_name(f"{base.name}.{ext}")
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size > 0:
            return path
    return None


@dataclass(frozen=True)
class Missing:
    prompt: m.Prompt
    sound: str
    languages: tuple[str, ...]
    expected: pathlib.Path       # the .wav it would most likely be
    recorded: bool               # a studio recording (audio:), not a placeholder from 'ivr prompts'

    def message(self) -> str:
        fix = ("a studio recording (audio:) to install there" if self.recorded
               else f"a placeholder: 'ivr prompts --out {_sounds_root(self.expected, self.sound)}' makes it")
        return (f"prompt '{self.prompt.id}' ({', '.join(self.languages)}): no sound file for '{self.sound}'; "
                f"expected {self.expected} (or .gsm, .ulaw, .alaw, .sln… any format Asterisk reads), {fix}")


def _sounds_root(expected: pathlib.Path, sound: str) -> pathlib.Path:
    path = expected
    for _ in sound.split("/"):
        path = path.parent
    return path


def missing_sounds(prompts: dict[str, m.Prompt], sounds_dir: pathlib.Path) -> list[Missing]:
    out = []
    for pid in sorted(prompts):
        prompt = prompts[pid]
        for sound, langs in prompt_sounds(prompt).items():
            if name_problem(sound) is None and find_sound(sounds_dir, sound) is None:
                recorded = any(prompt.recorded(lang) == sound for lang in langs)
                out.append(Missing(prompt, sound, tuple(langs), pathlib.Path(sounds_dir) / f"{sound}.wav", recorded))
    return out
