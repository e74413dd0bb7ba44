"""Recording files: where they go, and the retention sweep (plain functions, a real folder)."""

from __future__ import annotations

import os

from ivr.engine.recording import RecordingPlace, path_for, sweep

DAY = 86400.0
# 2026-12-06 23:30 UTC is already 12-07 in China
LATE_EVENING_UTC = 1796599800.0


def test_the_path_has_the_china_date_and_a_safe_call_id(tmp_path):
    place = RecordingPlace(dir=str(tmp_path) + "/")
    assert path_for(place, "pbx1-1796591041.1", LATE_EVENING_UTC) == f"{tmp_path}/2026/12/07/pbx1-1796591041.1.wav"
    assert path_for(place, "../../etc/x;y", LATE_EVENING_UTC).endswith("/2026/12/07/.._.._etc_x_y.wav")


def test_the_sweep_removes_what_is_past_its_retention_and_empty_days(tmp_path):
    place = RecordingPlace(dir=str(tmp_path), retention_days=30)
    now = LATE_EVENING_UTC
    old = tmp_path / "2026" / "10" / "01" / "a.wav"
    new = tmp_path / "2026" / "12" / "06" / "b.wav"
    other = tmp_path / "2026" / "12" / "06" / "notes.txt"     # not a recording: left alone
    for path, age in ((old, 40 * DAY), (new, DAY), (other, 90 * DAY)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
        os.utime(path, (now - age, now - age))
    assert sweep(place, now) == (1, 1)
    assert not old.exists() and new.exists() and other.exists()
    assert not (tmp_path / "2026" / "10").exists()        # its only day emptied
    assert sweep(place, now) == (0, 1)


def test_a_folder_that_is_not_here_is_nothing_to_sweep(tmp_path):
    assert sweep(RecordingPlace(dir=str(tmp_path / "elsewhere")), LATE_EVENING_UTC) == (0, 0)
