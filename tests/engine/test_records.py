"""Tally of call records: lost calls and both service-level definitions."""

from ivr.engine.records import CallRecord, tally


def rec(i, outcome, *, answered=0.0, person=None, ended=True):
    r = CallRecord(call_id=str(i), started=100.0)
    r.answered = 100.0 + answered
    if person is not None:
        r.agent_answered = 100.0 + person
    r.outcome = outcome
    r.ended = 200.0 if ended else None
    return r


def test_lost_is_offered_minus_recorded_ends():
    records = [rec(1, "answered", person=5), rec(2, "abandoned"), rec(3, "", ended=False)]
    t = tally(records)
    assert t["offered"] == 3 and t["lost"] == 1
    assert t["answered"] == 1 and t["abandoned"] == 1


def test_service_level_over_answered_and_over_offered():
    records = [rec(1, "answered", person=5), rec(2, "answered", person=20), rec(3, "abandoned"),
               rec(4, "answered", person=15)]
    t = tally(records, threshold_s=15)
    assert t["service_level_answered"] == round(2 / 3, 4)
    assert t["service_level_offered"] == round(2 / 4, 4)
    assert t["asa_s"] == round((5 + 20 + 15) / 3, 3)


def test_time_to_person_counts_from_ivr_answer():
    r = rec(1, "answered", answered=1.0, person=9.0)
    assert r.to_person_s == 8.0
