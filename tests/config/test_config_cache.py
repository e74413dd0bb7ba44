"""One parse per file per process, whoever asks; a changed file is parsed again."""

from __future__ import annotations

import os
import shutil

import pytest

from acd import config as acd_config
from hotline import paths, yamlconf
from ivr.flows.config import load_config
from seats import config as seats_config


@pytest.fixture
def folder(tmp_path):
    for name in ("centers.yaml", "acd.yaml", "numbers.yaml"):
        shutil.copy(paths.DEFAULTS / name, tmp_path / name)
    yamlconf.clear()
    yield tmp_path
    yamlconf.clear()


def parsed(path) -> int:
    return yamlconf.parses[str(path.resolve())]


def test_centers_and_acd_are_parsed_once_for_every_part_that_reads_them(folder):
    centers = seats_config.load_centers(folder / "centers.yaml")
    acd = acd_config.load(folder / "acd.yaml")
    checked = load_config(folder)
    seats_config.load_centers(folder / "centers.yaml")
    assert parsed(folder / "centers.yaml") == 1 and parsed(folder / "acd.yaml") == 1
    assert checked.docs["centers.yaml"] is yamlconf.document(folder / "centers.yaml")
    centers_queues = {q for q in acd.queues if not q.startswith("hotline-")}   # not the kept hotlines' own
    assert {c.id for c in centers} == set(checked.config.centers) == centers_queues
    assert checked.config.queues == frozenset(acd.queues)


def test_a_changed_file_is_parsed_again(folder):
    path = folder / "centers.yaml"
    before = seats_config.load_centers(path)
    path.write_text(path.read_text(encoding="utf-8").replace("population: 0", "population: 1000"), encoding="utf-8")
    after = seats_config.load_centers(path)
    assert parsed(path) == 2
    assert before[0].population == 0 and after[0].population == 1000


def test_a_change_that_keeps_the_size_is_seen_by_its_time(folder):
    path = folder / "centers.yaml"
    seats_config.load_centers(path)
    stamp = os.stat(path)
    path.write_text(path.read_text(encoding="utf-8").replace("population: 0", "population: 7"), encoding="utf-8")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))   # a clock tick later, for certain
    assert os.stat(path).st_size == stamp.st_size
    assert seats_config.load_centers(path)[0].population == 7
    assert parsed(path) == 2


def test_one_file_by_two_names_is_one_parse_with_each_name_in_its_messages(folder, monkeypatch):
    (folder / "bad").mkdir()
    bad = folder / "bad" / "acd.yaml"
    bad.write_text("queues: [{id: a, max_waiting: 0}]\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    messages = []
    for name in (bad, "bad/acd.yaml", bad):
        with pytest.raises(acd_config.ConfigError) as err:
            acd_config.load(name)
        messages.append(str(err.value))
    assert parsed(bad) == 1
    assert messages[1] == "bad/acd.yaml:1:31: queues[a].max_waiting must be a whole number, 1 or more, not 0"
    assert messages[0] == messages[2] == f"{bad}:1:31: queues[a].max_waiting must be a whole number, 1 or more, not 0"


def test_a_missing_file_is_not_remembered(folder):
    path = folder / "seats.yaml"
    with pytest.raises(seats_config.SeatsError, match="seats.yaml: cannot read: No such file"):
        seats_config.load_seats_config(path)
    shutil.copy(paths.DEFAULTS / "seats.yaml", path)
    assert seats_config.load_seats_config(path).operators_per_seat == 3


def test_a_cached_document_is_not_changed_by_its_readers(folder):
    path = folder / "acd.yaml"
    doc = yamlconf.document(path)
    before = repr(doc.data)
    cfg = acd_config.load(path)
    cfg.queues["jilin"].escalation.clear()
    seats_config.load_centers(folder / "centers.yaml")
    load_config(folder)
    assert repr(yamlconf.document(path).data) == before
