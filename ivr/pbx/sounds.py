"""Which sound files the PBX has installed, and how long each one plays.

A real Asterisk plays only files it finds: a name that is in no format it knows
is "missing", and STREAM FILE, GET DATA and Playback each fail in their own way
(see :mod:`ivr.pbx.agi`).  The built-in PBX knows a sound when its ``prompts:``
table lists it (name -> seconds) or when ``sounds_dir`` holds a file for it,
looked up the way ``main/file.c`` does with ``languageprefix = yes``: first
``DIR/<language>/<name>.<ext>`` (the language, then the language without its
``_dialect`` suffixes), then ``DIR/<name>.<ext>``, then ``DIR/en/<name>.<ext>``.
"""

from __future__ import annotations

import pathlib
import wave

#: File extensions of Asterisk's audio format modules (``formats/*.c``, ``.exts``), in
#: the order they are tried here.  Video formats (h263, h264) do not make a sound.
AUDIO_EXTENSIONS = (
    "wav", "WAV", "wav49", "wav16", "gsm", "ulaw", "ul", "mu", "ulw", "pcm", "alaw", "al", "alw",
    "sln", "slin", "raw", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
    "g722", "g729", "g723", "g723sf", "g726-40", "g726-32", "g726-24", "g726-16", "g719", "au",
    "ilbc", "vox", "ogg", "spx", "spx16", "spx32", "siren7", "siren14",
)

#: Bytes a second of the headerless formats, to tell a file's length from its size.
_BYTES_PER_S = {
    "ulaw": 8000, "ul": 8000, "mu": 8000, "ulw": 8000, "pcm": 8000, "alaw": 8000, "al": 8000,
    "alw": 8000, "sln": 16000, "slin": 16000, "raw": 16000, "sln12": 24000, "sln16": 32000,
    "sln24": 48000, "sln32": 64000, "sln44": 88200, "sln48": 96000, "sln96": 192000,
    "sln192": 384000, "g722": 8000, "g729": 1000, "gsm": 1650, "g726-40": 5000, "g726-32": 4000,
    "g726-24": 3000, "g726-16": 2000, "vox": 4000,
}

#: Length given to a found file whose format does not tell its length (ogg, speex, ...).
UNMEASURED_S = 1.0

DEFAULT_LANGUAGE = "en"


def search_names(name: str, language: str) -> list[str]:
    """The relative paths ``main/file.c`` tries for ``name`` on a channel of ``language``."""
    def with_lang(lang: str) -> str:
        if not name.startswith("/"):
            return f"{lang}/{name}"        # the "new layout": the language folder first
        head, _, tail = name.rpartition("/")
        return f"{head}/{lang}/{tail}"      # an absolute name: the language before the file
    out: list[str] = []
    lang = language or ""
    while lang:
        out.append(with_lang(lang))
        if "_" not in lang:
            break
        lang = lang.rsplit("_", 1)[0]
    out.append(name)
    if language != DEFAULT_LANGUAGE and lang != DEFAULT_LANGUAGE:
        out.append(with_lang(DEFAULT_LANGUAGE))
    return out


def find_file(folder: pathlib.Path, name: str, language: str) -> pathlib.Path | None:
    """The file Asterisk would open for ``name``, or None when it is in no format."""
    for rel in search_names(name, language):
        base = pathlib.Path(rel) if rel.startswith("/") else folder / rel
        for ext in AUDIO_EXTENSIONS:
            path = base.with_name(f"{base.name}.{ext}")
            if path.is_file():
                return path
    return None


def file_seconds(path: pathlib.Path) -> float:
    """How long a sound file plays: its WAV header, else its size and format's byte rate."""
    ext = path.suffix[1:]
    if ext in ("wav", "wav16"):
        try:
            with wave.open(str(path), "rb") as w:
                return w.getnframes() / float(w.getframerate() or 8000)
        except (wave.Error, EOFError, OSError):
            return UNMEASURED_S
    rate = _BYTES_PER_S.get(ext)
    if rate is None:
        return UNMEASURED_S
    try:
        return path.stat().st_size / rate
    except OSError:
        return UNMEASURED_S


class SoundCatalogue:
    """The table first (it may change while the PBX runs: the demo adds its flows'
    prompts), then the folder; found files are remembered, misses are not, so a file
    copied in while calls run is played from then on, as on a real Asterisk."""

    __slots__ = ("table", "folder", "_found")

    def __init__(self, table: dict[str, float], folder: pathlib.Path | None):
        self.table = table
        self.folder = folder
        self._found: dict[tuple[str, str], float] = {}

    def seconds(self, name: str, language: str) -> float | None:
        """Seconds ``name`` plays on a channel of ``language``; None when it is missing."""
        secs = self.table.get(name)
        if secs is not None:
            return secs
        if self.folder is None or not name:
            return None
        key = (name, language)
        secs = self._found.get(key)
        if secs is None:
            path = find_file(self.folder, name, language)
            if path is None:
                return None
            secs = self._found[key] = file_seconds(path)
        return secs

    def installed(self, name: str, language: str = DEFAULT_LANGUAGE) -> bool:
        return self.seconds(name, language) is not None
