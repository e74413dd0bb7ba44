"""``--sounds-dir``: every prompt's sound file must be installed where Asterisk looks, in a format it reads;
the engine's own prompts (queue_wait, system_fault) are prompts like any other."""

from __future__ import annotations

import shutil

import pytest

from ivr.cli import main
from ivr.flows.audio_len import sound_lengths
from ivr.flows.check import flow_files, load_and_check
from ivr.flows.registry import FlowRegistry, FlowsBroken
from ivr.flows.sounds import AUDIO_EXTENSIONS, all_prompts, prompt_sounds

from flow_paths import CONFIG, FLOWS

FORMATS = ["wav", "gsm", "ulaw", "alaw", "sln", "WAV", "g722", "sln16"]


def every_sound(flowset) -> list[str]:
    return sorted({s for p in all_prompts(flowset).values() for s in prompt_sounds(p)})


@pytest.fixture
def installed(tmp_path, shipped):
    """A sounds folder with a small file for every sound of the shipped flows, in assorted formats."""
    sounds = tmp_path / "sounds"
    for i, name in enumerate(every_sound(shipped)):
        path = sounds / f"{name}.{FORMATS[i % len(FORMATS)]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00\x01" * 80)
    return sounds


def check(sounds):
    return load_and_check(flow_files(FLOWS), CONFIG, None, sounds_dir=sounds)


def test_complete_sounds_folder_passes(installed):
    result = check(installed)
    assert result.ok and not result.problems, "\n".join(map(str, result.problems))


def test_one_missing_file_is_one_problem_naming_prompt_language_and_path(installed):
    victim = next((installed / "ivr" / "ko").glob("survey_thanks.*"))
    victim.unlink()
    result = check(installed)
    assert [str(p) for p in result.problems] == [
        f"{CONFIG / 'prompts.yaml'}:11:3: prompt 'survey_thanks' (ko): no sound file for 'ivr/ko/survey_thanks'; "
        f"expected {installed / 'ivr/ko/survey_thanks.wav'} (or .gsm, .ulaw, .alaw, .sln… any format Asterisk reads), "
        f"a placeholder: 'ivr prompts --out {installed}' makes it"]
    assert result.flowset is None


@pytest.mark.parametrize("spoil", ["empty", "directory", "wrong_case", "unknown_format"])
def test_files_asterisk_would_not_play_count_as_missing(installed, spoil):
    victim = next((installed / "ivr" / "zh").glob("queue_wait.*"))
    victim.unlink()
    target = installed / "ivr" / "zh"
    if spoil == "empty":
        (target / "queue_wait.wav").write_bytes(b"")
    elif spoil == "directory":
        (target / "queue_wait.wav").mkdir()
    elif spoil == "wrong_case":
        (target / "Queue_Wait.wav").write_bytes(b"\x00" * 100)
    else:
        (target / "queue_wait.mp3").write_bytes(b"\x00" * 100)
    problems = [str(p) for p in check(installed).problems]
    assert len(problems) == 1 and "prompt 'queue_wait' (zh): no sound file for 'ivr/zh/queue_wait'" in problems[0]


def test_a_studio_recording_is_looked_for_under_its_own_name(tmp_path, installed):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "prompts.yaml").read_text(encoding="utf-8")
    (config / "prompts.yaml").write_text(text.replace("  goodbye:\n", "  goodbye:\n    audio: {zh: studio/goodbye_2026}\n"),
                                         encoding="utf-8")
    result = load_and_check(flow_files(FLOWS), config, None, sounds_dir=installed)
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.line, problem.col) == (15, 17)   # the recording's name in the file
    assert "prompt 'goodbye' (zh): no sound file for 'studio/goodbye_2026'" in problem.message
    assert "a studio recording (audio:) to install there" in problem.message
    (installed / "studio").mkdir()
    (installed / "studio" / "goodbye_2026.g729").write_bytes(b"\x00" * 20)
    assert load_and_check(flow_files(FLOWS), config, None, sounds_dir=installed).ok


def test_cli_sounds_dir(in_root, installed, capsys):
    assert main(["check", "flows", "config", "--prompts-dir", "/nonexistent", "--sounds-dir", str(installed)]) == 0
    next((installed / "ivr" / "zh").glob("system_fault.*")).unlink()
    capsys.readouterr()
    assert main(["check", "flows", "config", "--prompts-dir", "/nonexistent", "--sounds-dir", str(installed)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("config/prompts.yaml:") and "'system_fault' (zh)" in out[0]
    assert main(["check", "--sounds-dir", str(installed / "nowhere")]) == 1
    assert "sounds folder not found (--sounds-dir)" in capsys.readouterr().out


def test_registry_refuses_first_load_and_reload_naming_a_missing_sound(tmp_path, installed):
    tree = tmp_path / "tree"
    shutil.copytree(FLOWS, tree / "flows")
    shutil.copytree(CONFIG, tree / "config")
    hidden = next((installed / "ivr" / "zh").glob("goodbye.*"))
    kept = hidden.with_name("kept")
    hidden.rename(kept)
    with pytest.raises(FlowsBroken) as exc:
        FlowRegistry(tree / "flows", tree / "config", None, sounds_dir=installed).load()
    assert "prompt 'goodbye' (zh): no sound file for 'ivr/zh/goodbye'" in str(exc.value)
    kept.rename(hidden)
    reg = FlowRegistry(tree / "flows", tree / "config", None, sounds_dir=installed)
    version = reg.load().version
    # a new prompt in a flow whose placeholder was never made: refused, the old version serves
    city = tree / "flows" / "city.yaml"
    city.write_text(city.read_text(encoding="utf-8").replace("prompts:\n", "prompts:\n  fresh: 新提示。\n", 1), encoding="utf-8")
    errors = reg.reload()
    assert len(errors) == 1 and "prompt 'fresh' (zh): no sound file for 'ivr/zh/fresh'" in str(errors[0])
    assert reg.version == version


def test_engine_prompts_are_shared_and_everywhere(shipped):
    assert shipped.shared_sound("queue_wait", "zh") == "ivr/zh/queue_wait"
    assert shipped.shared_sound("queue_wait", "ko") == "ivr/ko/queue_wait"
    assert shipped.shared_sound("system_fault", "ko") == "ivr/ko/system_fault"
    lengths = sound_lengths(shipped)      # what the demo gives the built-in PBX as its installed sounds
    for name in ("ivr/zh/queue_wait", "ivr/ko/queue_wait", "ivr/zh/system_fault", "ivr/ko/system_fault"):
        assert lengths[name] > 1.0
    assert set(every_sound(shipped)) == set(lengths)
    assert not any(n.startswith("queue-") for n in lengths)


def test_a_recorded_engine_prompt_is_played_as_its_recording(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "prompts.yaml").read_text(encoding="utf-8")
    (config / "prompts.yaml").write_text(text.replace("  queue_wait:\n", "  queue_wait:\n    audio: {ko: studio/queue_wait_ko}\n"),
                                         encoding="utf-8")
    flowset = load_and_check(flow_files(FLOWS), config, None).flowset
    assert flowset.shared_sound("queue_wait", "ko") == "studio/queue_wait_ko"
    assert flowset.shared_sound("queue_wait", "zh") == "ivr/zh/queue_wait"


def test_config_without_an_engine_prompt_is_refused(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "prompts.yaml").read_text(encoding="utf-8")
    (config / "prompts.yaml").write_text(text.replace("  system_fault:", "  system_fault_old:"), encoding="utf-8")
    result = load_and_check(flow_files(FLOWS), config, None)
    assert [p.message for p in result.errors] == [
        "no prompt 'system_fault' in prompts.yaml: the engine needs it, played to a caller the engine has to let go "
        "(overload, a fault)"]


def test_extension_list_is_asterisks():
    # formats/format_*.c .exts, as main/file.c tries them; wav49 is written as .WAV
    for ext in ("wav", "WAV", "wav16", "gsm", "ulaw", "ul", "alaw", "al", "sln", "sln16", "raw", "g722", "g729"):
        assert ext in AUDIO_EXTENSIONS
    assert "wav49" not in AUDIO_EXTENSIONS and "h264" not in AUDIO_EXTENSIONS
