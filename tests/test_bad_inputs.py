"""Every command, every kind of bad input: one line on stderr naming the place, and the right exit status.

The people who type these commands run a hotline that never closes; a
traceback for a typo costs them the minutes they do not have.  Each row gives a
command line (``{bad}`` is replaced by a file holding the bad input), what the
one line must name, and the exit status: 2 for a mistake in the input, 3 for a
service that does not answer.  Commands run in this process (``main``), which
is how ``ivr``, ``acd`` and ``seats`` run when installed.
"""

from __future__ import annotations

import pathlib
import socket

import pytest

import acd.cli
import ivr.cli
import seats.cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAINS = {"ivr": ivr.cli.main, "acd": acd.cli.main, "seats": seats.cli.main}

#: What a bad file holds, by kind.  "folder" gives a folder where a file belongs (root reads any file,
#: so permission bits cannot make one unreadable here); "missing" a file in a folder that does not exist.
CONTENTS = {"non-utf8": b"key: \xff\xfe\xe4\n", "empty": b""}

FILE_KINDS = ("non-utf8", "empty", "folder", "missing")

#: (command line with {bad}, file name, kinds that apply)
FILE_ROWS = [
    ("ivr simulate --flow {bad} --did 12345 --caller 043188880000 --press 1", "city.yaml", FILE_KINDS),
    ("ivr graph {bad}", "city.yaml", FILE_KINDS),
    ("ivr serve --config {bad}", "engine.yaml", FILE_KINDS),
    ("ivr serve --acd-config {bad} --port 1", "acd.yaml", FILE_KINDS),
    ("ivr serve --secret-file {bad} --port 1", "ami.secret", ("empty", "folder", "missing")),
    ("ivr call --config {bad}", "engine.yaml", FILE_KINDS),
    ("acd --config {bad} check", "acd.yaml", FILE_KINDS),
    ("acd --config {bad} status", "acd.yaml", FILE_KINDS),
    ("seats --config {bad} size", "seats.yaml", FILE_KINDS),
    ("seats --centers {bad} size", "centers.yaml", FILE_KINDS),
    ("seats need --forecast {bad}", "forecast.csv", FILE_KINDS),
    ("seats compare --forecast {bad} --center changchun", "forecast.csv", FILE_KINDS),
    ("seats roster check {bad}", "roster.json", FILE_KINDS),
    ("seats roster show {bad}", "roster.json", FILE_KINDS),
]


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(capsys, line: str) -> tuple[int, str]:
    prog, *argv = line.split()
    try:
        code = MAINS[prog](argv)
    except SystemExit as exc:          # argparse: a wrong flag or value
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(err: str, must: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert must in err, f"{must!r} not named in: {err}"


def bad_file(tmp_path: pathlib.Path, name: str, kind: str) -> pathlib.Path:
    if kind == "missing":
        return tmp_path / "no-such-folder" / name
    path = tmp_path / name
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(CONTENTS[kind])
    return path


@pytest.mark.parametrize("line, name, kind", [(line, name, kind) for line, name, kinds in FILE_ROWS for kind in kinds],
                         ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_a_bad_file_is_one_line_naming_it(capsys, tmp_path, monkeypatch, line, name, kind):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s")
    path = bad_file(tmp_path, name, kind)
    code, err = run(capsys, line.format(bad=path))
    assert code == 2, err
    assert_one_line(err, str(path))


@pytest.mark.parametrize("kind", ["non-utf8", "empty"])
def test_ivr_check_reports_a_bad_flow_file_as_a_problem_at_its_place(capsys, tmp_path, kind):
    """The checker's answer to a broken flow is its list of problems (exit 1), the first naming the file."""
    path = bad_file(tmp_path, "city.yaml", kind)
    try:
        code = ivr.cli.main(["check", str(path)])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code == 1 and out.out.startswith(f"{path}:1:")
    assert_one_line(out.err, "1 error(s)")


NUMBER_ROWS = [
    ("ivr serve --port 99999", "--port"),
    ("ivr serve --port 0", "--port"),
    ("ivr serve --drain-s -1", "--drain-s"),
    ("ivr call --for nan", "--for"),
    ("ivr call --port 70000", "--port"),
    ("ivr demo --calls 0", "--calls"),
    ("ivr demo --calls nan", "--calls"),
    ("ivr demo --speed inf", "--speed"),
    ("ivr demo --agents -2", "--agents"),
    ("acd --redis 127.0.0.1:99999 status", "--redis"),
    ("acd --redis 127.0.0.1 status", "--redis"),
    ("acd report --from yesterday-ish", "--from"),
    ("acd report --from 2026-12-01 --to 2026-11-01", "--to"),
    ("seats erlang --calls nan --interval-min 15 --aht-s 200", "--calls"),
    ("seats erlang --calls 100 --interval-min inf --aht-s 200", "--interval-min"),
    ("seats erlang --calls 100 --interval-min 15 --aht-s -5", "--aht-s"),
    ("seats erlang --calls 100 --interval-min 15 --aht-s 200 --target-sl 1.5", "--target-sl"),
    ("seats erlang --calls 100 --interval-min 15 --aht-s 200 --target-sl 250", "--target-sl"),
    ("seats size --rate inf", "--rate"),
    ("seats size --rate nan", "--rate"),
    ("seats size --per-seat 0", "--per-seat"),
    ("ivr --log-level loud check", "--log-level"),
    ("ivr simulate --did 99999 --caller 043188880000 --press 1", "99999"),
    ("ivr simulate --did 12345 --caller 043188880000 --press abc", "--press"),
]


@pytest.mark.parametrize("line, must", NUMBER_ROWS)
def test_a_bad_value_is_one_line_naming_the_flag(capsys, line, must):
    code, err = run(capsys, line)
    assert code == 2, err
    assert_one_line(err, must)


def test_a_missing_output_folder_is_refused_at_once(capsys, tmp_path):
    out = tmp_path / "no-such-folder" / "roster.json"
    code, err = run(capsys, f"seats roster new --out {out} --days 1 --no-progress")
    assert code == 2
    assert_one_line(err, str(out.parent))
    code, err = run(capsys, f"ivr prompts --out {tmp_path / 'p'} --install {tmp_path / 'no-sounds'}")
    assert code == 2
    assert_one_line(err, "--install")


def test_a_missing_config_folder_is_one_line_for_every_command(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    for line in ("ivr check", "ivr demo", "ivr serve", "acd status", "acd check", "seats size", "seats roster show x"):
        prog, rest = line.split(" ", 1)
        code, err = run(capsys, f"{prog} --config-dir {missing} {rest}")
        assert code == 2, line
        assert_one_line(err, str(missing))


@pytest.mark.parametrize("line", [
    "acd --redis 127.0.0.1:{port} status",
    "acd --redis 127.0.0.1:{port} agent login 1101",
    "ivr serve --port {port} --acd-store memory --no-records",
    "ivr call --port {port}",
    "seats adherence {roster} --redis 127.0.0.1:{port}",
    "acd --db postgresql://nobody@127.0.0.1:{port}/x db status",
])
def test_a_service_that_does_not_answer_is_exit_3_naming_its_address(capsys, monkeypatch, tmp_path, line):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s")
    port = dead_port()
    roster = tmp_path / "roster.json"
    if "{roster}" in line:
        assert run(capsys, f"seats roster new --out {roster} --days 1 --center liaoyuan --no-progress")[0] == 0
        capsys.readouterr()
    code, err = run(capsys, "ivr --log-level warning " + line.format(port=port, roster=roster)[4:]
                    if line.startswith("ivr serve") else line.format(port=port, roster=roster))
    assert code == 3, err
    assert_one_line(err, f"127.0.0.1:{port}")


def test_an_ami_secret_with_a_line_break_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s3cret\r\nAction: Originate")
    code, err = run(capsys, f"ivr serve --port {dead_port()}")
    assert code == 2
    assert_one_line(err, "HOTLINE_AMI_SECRET")
    assert "s3cret" not in err
