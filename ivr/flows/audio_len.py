"""How long a prompt plays: measured from its WAV when there is one, else estimated from its text.

The time-to-person budget and the built-in PBX's STREAM FILE timing both need
prompt lengths before the studio has recorded anything; an estimate is marked
as such wherever it is shown.
"""

from __future__ import annotations

import json
import pathlib
import wave

from ivr.flows import model as m
from ivr.flows.sounds import prompt_sounds

# Speaking rates of a calm hotline announcer (characters a second); punctuation adds pauses.
_RATE = {"zh": 4.0, "ko": 6.0}
_PAUSES = set("，。、；：！？,.;:!?")


def estimate_seconds(text: str, lang: str = "zh") -> float:
    if not text:
        return 0.0
    spoken = [c for c in text if not c.isspace() and c not in _PAUSES]
    pauses = sum(1 for c in text if c in _PAUSES)
    return round(len(spoken) / _RATE.get(lang, 4.0) + 0.25 * pauses + 0.3, 2)


def wav_seconds(path: pathlib.Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def prompt_seconds(prompt: m.Prompt, lang: str, table: dict[str, float]) -> float:
    """Length of ``prompt`` as played to a caller of language ``lang``."""
    sound = prompt.sound(lang)
    if sound in table:
        return table[sound]
    actual = prompt.language_for(lang)
    return estimate_seconds(prompt.texts.get(actual, ""), actual)


def load_table(folder: pathlib.Path | str | None) -> dict[str, float]:
    """Lengths written by ``ivr prompts`` (``lengths.json``: sound name -> seconds), if any."""
    if not folder:
        return {}
    path = pathlib.Path(folder) / "lengths.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v["seconds"] if isinstance(v, dict) else v) for k, v in data.get("sounds", {}).items()}


def sound_lengths(flowset: m.FlowSet) -> dict[str, float]:
    """Seconds for every sound a call of ``flowset`` may hear, in every language a prompt plays in:
    measured where ``ivr prompts`` wrote a WAV, else estimated.  Every shared prompt is in, used by
    a flow or not (the engine plays queue_wait and system_fault itself).  Pass it to the built-in
    PBX as ``PbxConfig.load(prompts=...)`` so STREAM FILE takes as long as the prompt would."""
    prompts = dict(flowset.config.prompts)
    for flow in flowset.flows.values():
        prompts.update(flow.prompts)
    table = flowset.config.prompt_seconds
    out: dict[str, float] = {}
    for p in prompts.values():
        for sound, langs in prompt_sounds(p).items():
            out[sound] = prompt_seconds(p, langs[0], table)
    return out
