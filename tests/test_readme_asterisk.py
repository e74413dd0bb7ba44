"""The README's "Against a real Asterisk" walk-through, run as written against the built-in PBX.

A telecom engineer follows that section line by line on a box that never
closes, so every command in its ``sh`` blocks is run here, in order, in its own
process: the built-in PBX (another process) stands in for Asterisk, a copy of
the config folder (found through ``$HOTLINE_CONFIG_DIR``, as the README says)
points the engine at it and gives the ACD its own Redis key prefix, and
Asterisk's sounds folder is a temporary one.  Only what needs the real Asterisk
(``asterisk -rx``, copies into /etc/asterisk) is not run; the files those lines
copy must exist.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOUNDS = "/var/lib/asterisk/sounds"


def walkthrough() -> list[str]:
    """The command lines of the section's ``sh`` blocks, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Against a real Asterisk", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lines:
    """Collects a process's stderr lines on a thread so the test can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                assert left > 0, f"no {needle!r} within {timeout} s; got:\n{''.join(self.lines[-20:])}"
                self.cond.wait(left)


def config_copy(tmp: pathlib.Path, ami_port: int) -> pathlib.Path:
    folder = tmp / "config"
    shutil.copytree(ROOT / "config", folder)
    engine = folder / "engine.yaml"
    engine.write_text(engine.read_text(encoding="utf-8").replace("port: 5038", f"port: {ami_port}"), encoding="utf-8")
    acd = folder / "acd.yaml"
    text = acd.read_text(encoding="utf-8")
    for old, new in (('prefix: "{hotline}:"', f'prefix: "{{readme-{uuid.uuid4().hex[:8]}}}:"'),
                     ("url: sqlite:///var/records.db", f"url: sqlite:///{tmp}/records.db"),
                     ("spool_dir: var/spool", f"spool_dir: {tmp}/spool")):
        assert old in text, old
        text = text.replace(old, new)
    acd.write_text(text, encoding="utf-8")
    return folder


def test_readme_walkthrough_runs_as_written(tmp_path):
    lines = walkthrough()
    assert any(line.startswith("ivr serve") for line in lines) and any(line.startswith("ivr call") for line in lines)
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    port = free_port()
    env = dict(os.environ, HOTLINE_CONFIG_DIR=str(config_copy(tmp_path, port)),
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("HOTLINE_AMI_SECRET", None)
    exports = dict(re.fullmatch(r"export (\w+)=(\S+)", line).groups() for line in lines if line.startswith("export "))
    assert "HOTLINE_AMI_SECRET" in exports
    env.update(exports)
    pbx = subprocess.Popen([sys.executable, "-m", "ivr.pbx", "--port", str(port), "--speed", "4",
                            "--secret", exports["HOTLINE_AMI_SECRET"], "--sounds-dir", str(sounds)],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    serve = None
    outputs: dict[str, str] = {}
    try:
        assert json.loads(pbx.stdout.readline())["port"] == port
        for line in lines:
            if line.startswith("export "):
                continue
            argv = shlex.split(line.split(" #", 1)[0].replace(SOUNDS, str(sounds)))
            if argv[:2] == ["sudo", "cp"]:
                assert (ROOT / argv[2]).is_file(), line
                continue
            if argv[0] == "asterisk":
                continue
            if argv[:2] == ["ivr", "serve"]:
                serve = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
                log = Lines(serve.stderr)
                started = json.loads(log.wait_for('"serve.started"', 30))
                assert str(tmp_path / "config") in started["config"] and "HOTLINE_CONFIG_DIR" in started["config"]
                continue
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{line}: exit {done.returncode}\n{done.stderr}"
            assert "Traceback" not in done.stderr, line
            outputs[line] = done.stdout + done.stderr
        assert serve is not None and serve.poll() is None, "ivr serve stopped during the walk-through"
        call = next(v for k, v in outputs.items() if k.startswith("ivr call"))
        assert re.search(r"reached Local/11\d\d@agents\S* after [\d.]+ s", call.splitlines()[-1]), call
        assert "the engine has the call" in call
        listed = next(v for k, v in outputs.items() if k.startswith("acd agent list"))
        assert re.search(r"1101\s+(available|ringing|talking|wrapup)", listed), listed
        status = next(v for k, v in outputs.items() if k.startswith("acd status"))
        assert "changchun" in status
        assert (sounds / "ivr" / "zh" / "changchun_menu.wav").stat().st_mode & 0o444 == 0o444
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(30)
        pbx.terminate()
        pbx.wait(10)
