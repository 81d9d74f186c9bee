"""Key clip selection with the stored vision timeline: concerns centred on where the signal
dropped, highlights on the words (keyword hits, `mention` items) or on the best stretch of a
rule's signal; every clip inside its answer and at least CLIP_MIN_S long."""
from __future__ import annotations

from typing import Any

import pytest

from server.clip_selection import CLIP_MIN_S, CONCERN_MAX_S, QuestionSpan, select_clips, stretch


def timeline(t0: float, values: list[float | None], key: str = "eye") -> list[dict[str, Any]]:
    """2 s buckets from t0; `key` takes `values`, the other series stay at 1.0."""
    return [{"t": t0 + 2 * i, "face": 1.0, "eye": 1.0, "smile": 0.5, "upright": 1.0, key: v}
            for i, v in enumerate(values)]


SPANS = [QuestionSpan(0, 0.0, 40.0, "first"), QuestionSpan(1, 40.0, 100.0, "second")]
STEADY = {0: {"eye_contact_ratio": 0.9}}


def test_a_concern_is_centred_on_the_drop_not_on_the_start_of_the_answer() -> None:
    # Question 2 (40-100 s): eye contact 1.0 except 70-76 s (three buckets at 0.0, 0.1, 0.0).
    values = [1.0] * 15 + [0.0, 0.1, 0.0] + [1.0] * 12
    signals = {**STEADY, 1: {"eye_contact_ratio": 0.2}}
    clips = select_clips(SPANS, {}, signals, timelines={1: timeline(40.0, values)})
    [concern] = [c for c in clips if c.kind == "concern"]
    assert concern.question_index == 1 and "far below" in concern.reason
    # The drop is 70-76 s: the clip shows it with a second either side, centred on it.
    assert (concern.start_s, concern.end_s) == (69.0, 77.0)
    assert (concern.start_s + concern.end_s) / 2 == pytest.approx(73.0)
    # Without the timeline, the old place: the start of the answer.
    [old] = select_clips(SPANS, {}, signals)
    assert old.start_s == 40.0


def test_a_long_drop_is_capped_around_its_worst_moment_and_one_bucket_widened_to_the_minimum() -> None:
    values = [1.0] * 3 + [0.2] * 20 + [0.0] + [0.2] * 5 + [1.0]  # 46-104 s low, worst 86-88 s
    signals = {**STEADY, 1: {"eye_contact_ratio": 0.2}}
    [concern] = select_clips([SPANS[0], QuestionSpan(1, 40.0, 110.0, "")], {}, signals,
                             timelines={1: timeline(40.0, values)})
    assert concern.end_s - concern.start_s == CONCERN_MAX_S
    assert (concern.start_s + concern.end_s) / 2 == pytest.approx(87.0)
    # The face missing for one bucket (60-62 s): 4 s with the second either side.
    face = timeline(40.0, [1.0] * 10 + [0.0] + [1.0] * 19, key="face")
    [missing] = select_clips(SPANS, {}, {1: {"face_present_ratio": 0.5}}, timelines={1: face})
    assert (missing.start_s, missing.end_s) == (59.0, 63.0) and "face visible in only 50%" in missing.reason


def test_a_drop_at_the_edge_of_the_answer_stays_inside_it_and_lasts_the_minimum() -> None:
    span = QuestionSpan(1, 41.0, 60.0, "")
    values = [0.0] + [1.0] * 9  # bucket 40-42 s, the answer starts at 41 s
    [concern] = select_clips([SPANS[0], span], {}, {**STEADY, 1: {"eye_contact_ratio": 0.1}},
                             timelines={1: timeline(40.0, values)}, live={1: (41.0, 60.0)})
    assert concern.start_s == 41.0 and concern.end_s - concern.start_s >= CLIP_MIN_S


def test_every_clip_lasts_at_least_the_minimum_and_a_short_answer_gets_none() -> None:
    hit = {"kind": "keyword_hit", "keyword": "plan", "text": "plan", "start_s": 20.0, "end_s": 20.1}
    rule = {"kind": "rule", "signal": "face_present_ratio", "rule": "face_present_ratio >= 0.8 -> +5", "value": 0.9}
    clips = select_clips(SPANS, {0: [hit, rule]}, {0: {"face_present_ratio": 0.3, "multiple_faces_ratio": 0.5}})
    assert clips and all(c.end_s - c.start_s >= CLIP_MIN_S for c in clips)
    assert all(0.0 <= c.start_s and c.end_s <= 40.0 for c in clips)
    # A 2.5 s answer: no clip at all (its full recording serves), whatever it holds.
    short = QuestionSpan(0, 10.0, 12.5, "short")
    assert select_clips([short], {0: [{**hit, "start_s": 10.5, "end_s": 10.9}, rule]},
                        {0: {"face_present_ratio": 0.3}}) == []
    # A hit near the end of a 3.2 s answer: the clip is the minimum, ending with the answer.
    [near_end] = select_clips([QuestionSpan(0, 10.0, 13.2, "")], {0: [{**hit, "start_s": 13.0, "end_s": 13.1}]}, {})
    assert (near_end.start_s, near_end.end_s) == (pytest.approx(10.2), 13.2)


def test_mentions_get_highlights_on_their_words() -> None:
    mention = {"kind": "mention", "phrase": "root cause", "text": "the root cause", "start_s": 12.0, "end_s": 13.0}
    rule = {"kind": "rule", "signal": "mentions:root cause", "rule": "mentions:root cause >= 1 -> +10", "value": 1}
    echo = {"kind": "echo", "text": "tell us about", "start_s": 2.0, "end_s": 3.0, "words": 3, "discounted": []}
    clips = select_clips(SPANS, {0: [mention, rule, echo]}, {})
    assert [(c.kind, c.start_s, c.end_s) for c in clips] == [("highlight", 10.0, 15.0)]
    assert "said \u201croot cause\u201d" in clips[0].reason and "rule mentions:root cause" in clips[0].reason
    assert clips[0].text == "the root cause"


def test_a_frame_rule_highlights_the_stretch_where_its_signal_was_best() -> None:
    rule = {"kind": "rule", "signal": "eye_contact_ratio", "rule": "eye_contact_ratio >= 0.6 -> +20", "value": 0.7}
    values = [0.2] * 5 + [0.9, 1.0] + [0.3] * 13  # 10-14 s good
    [clip] = select_clips(SPANS, {0: [rule]}, {}, timelines={0: timeline(0.0, values)})
    assert (clip.start_s, clip.end_s) == (9.0, 15.0) and "eye_contact_ratio >= 0.6" in clip.reason
    # Good all along: the best bucket is the first; the 10 s clip is shifted into the answer, not cut.
    [steady] = select_clips(SPANS, {0: [rule]}, {}, timelines={0: timeline(0.0, [1.0] * 20)})
    assert (steady.start_s, steady.end_s) == (0.0, 10.0)


def test_the_timeline_gives_the_extent_of_a_silent_answer() -> None:
    # Nothing said in question 2 (no span), but it was seen: its concern still gets a clip.
    values = [1.0] * 5 + [0.0] + [1.0] * 4
    clips = select_clips(SPANS[:1], {}, {**STEADY, 1: {"eye_contact_ratio": 0.1}},
                         timelines={1: timeline(40.0, values)})
    assert [(c.question_index, c.start_s, c.end_s) for c in clips] == [(1, 49.0, 53.0)]
    # With the live time given, that is the extent (the drop at 40-42 s is inside it).
    live = select_clips(SPANS[:1], {}, {**STEADY, 1: {"eye_contact_ratio": 0.1}},
                        timelines={1: timeline(40.0, [0.0] + [1.0] * 9)}, live={1: (41.0, 58.0)})
    assert live[0].start_s == 41.0 and live[0].end_s == 44.0


def test_stretch_finds_the_extreme_run() -> None:
    span = QuestionSpan(0, 0.0, 20.0, "")
    tl = timeline(0.0, [0.9, 0.4, 0.1, 0.3, 0.9, None, 0.0, 0.8])
    assert stretch(tl, "eye", span, low=True, threshold=0.5) == (12.0, 14.0, 13.0)  # None breaks the run
    assert stretch(tl, "eye", span, low=True, threshold=None) == (12.0, 14.0, 13.0)
    assert stretch(timeline(0.0, [0.9, 0.4, 0.1, 0.3, 0.9]), "eye", span, low=True, threshold=0.5) == (2.0, 8.0, 5.0)
    assert stretch(tl, "eye", span, low=False, threshold=0.85) == (0.0, 2.0, 1.0)
    assert stretch([], "eye", span, low=True) is None
