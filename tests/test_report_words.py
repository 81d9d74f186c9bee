"""The report page's words for an answer's signals: no rates from a fraction of a second, "off"
only for what the job switched off, "no data" for what was not measured."""
from __future__ import annotations

from server.pages.reports import _signal_words

ALL_ON = {"expression": True, "eye_contact": True, "posture": True}


def test_nothing_measured_is_no_data_not_zero() -> None:
    words = dict(_signal_words({}, ALL_ON))
    assert words["Answer"] == "nothing recognised"
    assert words["Speech rate"] == words["Coherence"] == "no data"
    assert words["Eye contact"] == words["Face present"] == "no data"


def test_one_word_in_a_fraction_of_a_second() -> None:
    words = dict(_signal_words({"word_count": 1.0, "answer_seconds": 0.04}, ALL_ON))
    assert words["Answer"] == "1 word"
    assert words["Speech rate"] == "no data (too little speech to measure)"


def test_switched_off_analyses_say_off() -> None:
    signals = {"word_count": 54.0, "answer_seconds": 25.0, "speech_rate_wpm": 129.6, "face_present_ratio": 1.0,
               "eye_contact_ratio": 0.7}
    words = dict(_signal_words(signals, {"expression": False, "eye_contact": True, "posture": False}))
    assert words["Answer"] == "54 words in 25 s" and words["Speech rate"] == "130 words a minute"
    assert words["Eye contact"] == "70% of analysed frames"
    assert words["Smiling"] == words["Upright posture"] == "off (switched off for this job)"
