"""Placeholder prompt audio from the prompt texts, so a flow can be heard before the studio records it.

espeak-ng speaks Mandarin (cmn) and Korean (ko); Asterisk plays 8 kHz mono
16-bit WAV, so espeak's 22.05 kHz output is low-passed and resampled here.
The output folder is laid out as a sounds folder: the file for sound name
``ivr/zh/welcome`` is ``OUT/ivr/zh/welcome.wav``, so OUT can be Asterisk's sounds
folder itself, or OUT/ivr be linked into it, and ``ivr check --sounds-dir OUT``
finds every placeholder.  The measured lengths go to ``OUT/lengths.json`` for
the checker's time budget and the built-in PBX's playback timing.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np

from ivr.flows import model as m
from ivr.flows import sounds

VOICES = {"zh": ("cmn", 260), "ko": ("ko", 200)}   # voice, words a minute (about 4 Chinese characters a second)
RATE = 8000
_ZH_DIGITS = "零一二三四五六七八九"


class EspeakMissing(Exception):
    pass


def find_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissing("espeak-ng is not installed (Debian: apt-get install espeak-ng); "
                            "placeholder prompts cannot be made, prompt lengths stay estimated from text")
    return exe


def speakable(text: str, lang: str) -> str:
    """Hotline numbers are read digit by digit (12345: 幺二三四五), keys as single digits."""
    if lang != "zh":
        return text

    def digits(mt: re.Match) -> str:
        run = mt.group(0)
        spoken = "".join(_ZH_DIGITS[int(c)] for c in run)
        return spoken.replace("一", "幺") if len(run) >= 3 else spoken

    return re.sub(r"\d+", digits, text)


def resample(samples: np.ndarray, rate_in: int, rate_out: int = RATE) -> np.ndarray:
    """Low-pass below the new Nyquist frequency, then interpolate onto the new sample times."""
    x = samples.astype(np.float64)
    if rate_in != rate_out:
        cutoff = 0.45 * rate_out / rate_in            # of the input rate
        n = np.arange(-50, 51)
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(len(n))
        taps /= taps.sum()
        x = np.convolve(x, taps, mode="same")
        t_out = np.arange(int(len(x) * rate_out / rate_in)) * (rate_in / rate_out)
        x = np.interp(t_out, np.arange(len(x)), x)
    return np.clip(np.round(x), -32768, 32767).astype("<i2")


def wav_bytes(samples: np.ndarray, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def speak(text: str, lang: str, exe: str | None = None) -> bytes:
    """8 kHz mono WAV of ``text`` spoken by espeak-ng."""
    exe = exe or find_espeak()
    voice, speed = VOICES.get(lang, ("cmn", 260))
    proc = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", speakable(text, lang)],
                          capture_output=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed for {lang} text {text[:20]!r}: {proc.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(proc.stdout), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise RuntimeError(f"espeak-ng gave {8 * width}-bit audio; expected 16-bit")
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if len(samples) == 0:
        # espeak-ng sometimes writes an unknown length into the header of piped output
        samples = np.frombuffer(proc.stdout[44:], dtype="<i2")
    return wav_bytes(resample(samples, rate))


@dataclass
class Made:
    sound: str
    path: pathlib.Path
    seconds: float
    fresh: bool     # False: the WAV already matched the text


def all_prompts(flowset: m.FlowSet) -> list[m.Prompt]:
    """Every shared prompt (the engine plays some itself, in no flow) and every flow's own."""
    seen = sounds.all_prompts(flowset)
    return [seen[k] for k in sorted(seen)]


def make_placeholders(flowset: m.FlowSet, out: pathlib.Path, *, force: bool = False,
                      exe: str | None = None) -> list[Made]:
    """A WAV for every (prompt, language) that has text and no recording; writes lengths.json."""
    exe = exe or find_espeak()
    out = pathlib.Path(out)
    made: list[Made] = []
    index_path = out / "lengths.json"
    try:
        old = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    old_hashes = old.get("text_sha1", {})
    table, hashes = {}, {}
    for prompt in all_prompts(flowset):
        for lang, text in sorted(prompt.texts.items()):
            if prompt.recorded(lang):
                continue
            sound = m.placeholder_sound(prompt.id, lang)
            path = out / f"{sound}.wav"
            digest = hashlib.sha1(f"{lang}\0{text}".encode()).hexdigest()
            fresh = force or not path.exists() or old_hashes.get(sound) != digest
            if fresh:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(speak(text, lang, exe))
            with wave.open(str(path), "rb") as w:
                seconds = round(w.getnframes() / w.getframerate(), 2)
            table[sound] = seconds
            hashes[sound] = digest
            made.append(Made(sound=sound, path=path, seconds=seconds, fresh=fresh))
    index = {
        "about": "seconds per sound file; sound names as Asterisk plays them, relative to this folder "
                 "(ivr/<lang>/<prompt>.wav), which is laid out as an Asterisk sounds folder",
        "sounds": table,
        "text_sha1": hashes,
    }
    out.mkdir(parents=True, exist_ok=True)
    index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return made
