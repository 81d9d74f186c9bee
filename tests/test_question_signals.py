"""Per-answer signals: the vision timeline (ratios per 2 s bucket of the interview clock), and the
language signals of an answer as rules and scoring see them (echo, mentions, rates)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from analyzers.speech import Word
from server.plan import DimensionPlan, Rule
from server.question_signals import TIMELINE_MAX_BUCKETS, Segment, VisionTally, language_signals
from server.scoring import score_question


@dataclass
class Sample:
    faces: int = 1
    eye_contact: bool | None = True
    smile: bool | None = False
    upright: bool | None = True
    motion: float | None = 0.01


def test_timeline_ratios_per_bucket() -> None:
    tally = VisionTally()
    tally.add(Sample(eye_contact=True, smile=None), 10.0)
    tally.add(Sample(eye_contact=False, smile=None, faces=0), 11.9)
    tally.add(Sample(eye_contact=None, smile=True, upright=None), 12.0)  # the next bucket
    tally.add(Sample(eye_contact=None, smile=False, upright=None), 11.5)  # late: counts in the open bucket
    tally.add(Sample(), 17.2)  # buckets without frames are left out
    assert tally.timeline() == [
        {"t": 10, "face": 0.5, "eye": 0.5, "smile": None, "upright": 1.0},
        {"t": 12, "face": 1.0, "eye": None, "smile": 0.5, "upright": None},
        {"t": 16, "face": 1.0, "eye": 1.0, "smile": 0.0, "upright": 1.0},
    ]
    # Reading the timeline does not close the open bucket.
    tally.add(Sample(eye_contact=False), 17.9)
    assert tally.timeline()[-1] == {"t": 16, "face": 1.0, "eye": 0.5, "smile": 0.0, "upright": 1.0}
    # Analyses that are off give None, whatever was counted.
    off = tally.timeline(eye_contact=False, expression=False, posture=False)
    assert all(b["eye"] is None and b["smile"] is None and b["upright"] is None for b in off)
    assert [b["face"] for b in off] == [0.5, 1.0, 1.0]
    # The ratios over the whole attempt are unchanged by the timeline.
    assert tally.signals()["face_present_ratio"] == round(5 / 6, 4)
    assert tally.frames == 6


def test_timeline_without_clock_and_empty() -> None:
    tally = VisionTally()
    assert tally.timeline() == []
    tally.add(Sample())
    assert tally.timeline() == [] and tally.frames == 1


def test_timeline_is_capped() -> None:
    tally = VisionTally()
    for i in range(TIMELINE_MAX_BUCKETS + 50):
        tally.add(Sample(), 2.0 * i + 0.5)
    tl = tally.timeline()
    assert len(tl) == TIMELINE_MAX_BUCKETS
    assert tl[0]["t"] == 0 and tl[-1]["t"] == 2 * (TIMELINE_MAX_BUCKETS - 1)
    assert tally.frames == TIMELINE_MAX_BUCKETS + 50  # the ratios still count every frame
    assert len(tally.buckets) <= TIMELINE_MAX_BUCKETS


# -- language signals of an answer: echo, mentions, rates --------------------------------------


def said(text: str, start: float, step: float = 0.45) -> Segment:
    """A final segment as the recogniser hands it over: space-separated words with times."""
    words = tuple(Word(w, round(start + i * step, 2), round(start + i * step + 0.35, 2), 0.9)
                  for i, w in enumerate(text.split()))
    return Segment(text, words[0].start_s, words[-1].end_s, words)


KO_QUESTION = "동료가 안전 절차를 지키지 않는 것을 보면 어떻게 하시겠습니까?"
SAFETY = DimensionPlan(1, "Safety", ("안전 절차", "보고"),
                       (Rule("keyword_hits:보고", ">=", 1, 10), Rule("coherence", ">=", 0.2, 10),
                        Rule("mentions:작업을 멈추", ">=", 1, 15)))


def test_reading_the_question_back_scores_nothing() -> None:
    # The question's own words, split the way Vosk's Korean model splits them ("절차 를", "않 는").
    read_back = [said("동료 가 안전 절차 를 지키지 않 는 것을 보면 어떻게 하시겠습니까", 1.0)]
    signals, evidence = language_signals(read_back, KO_QUESTION, SAFETY.keywords, 30.0, ("작업을 멈추", "지키지 않는"))
    assert signals["keyword_hits:안전 절차"] == 0.0 and signals["mentions:지키지 않는"] == 0.0
    assert "coherence" not in signals and signals["echo_word_count"] == signals["word_count"] == 12
    score = score_question(SAFETY, signals, evidence, 0)
    assert score.score == 0.0
    assert not [e for e in score.evidence if e["kind"] in ("keywords", "substance", "rule")]
    (echo,) = [e for e in evidence if e.get("kind") == "echo"]
    assert echo["text"].startswith("동료 가 안전") and echo["words"] == 12
    assert {"안전 절차", "지키지 않는"} <= set(echo["discounted"])
    json.dumps(evidence)  # stored and sent as JSON as it is

    # The same words as the candidate's own answer (no question to echo) would have scored.
    own, own_evidence = language_signals(read_back, "", SAFETY.keywords, 30.0, ("지키지 않는",))
    assert score_question(SAFETY, own, own_evidence, 0).score > 20 and own["mentions:지키지 않는"] == 1.0


def test_a_real_answer_after_the_read_back_scores() -> None:
    segments = [said("동료 가 안전 절차 를 지키지 않 는 것을 보면", 1.0),
                said("저는 먼저 작업을 멈추고 위험을 설명한 뒤 팀장에게 보고 하겠습니다", 8.0)]
    signals, evidence = language_signals(segments, KO_QUESTION, SAFETY.keywords, 30.0, ("작업을 멈추",))
    assert signals["keyword_hits:안전 절차"] == 0.0 and signals["keyword_hits:보고"] == 1.0
    assert signals["mentions:작업을 멈추"] == 1.0
    (mention,) = [e for e in evidence if e.get("kind") == "mention"]
    assert mention == {"kind": "mention", "phrase": "작업을 멈추", "text": "작업을 멈추고",
                       "start_s": 8.9, "end_s": 9.7}
    score = score_question(SAFETY, signals, evidence, 0)
    fired = {e["signal"] for e in score.evidence if e["kind"] == "rule"}
    assert "mentions:작업을 멈추" in fired and "keyword_hits:보고" in fired


def test_mentions_rule_on_a_phrase_that_is_not_a_keyword() -> None:
    """The seed's example: a rule on "follow operating procedures", which is no keyword."""
    dim = DimensionPlan(2, "Safety", ("safety",), (Rule("mentions:follow operating procedures", ">=", 1, 10),))
    segments = [said("On site I always Follow, operating procedures.", 0.0)]
    signals, evidence = language_signals(segments, "Tell us about your work on site.", dim.keywords, 20.0,
                                         ("follow operating procedures",))
    assert signals["mentions:follow operating procedures"] == 1.0
    score = score_question(dim, signals, evidence, 0)
    assert [e["signal"] for e in score.evidence if e["kind"] == "rule"] == ["mentions:follow operating procedures"]
    assert score.score >= 10.0
    # Not said: the signal is 0 (the rule is checked and does not hold), not missing.
    signals, _ = language_signals([said("I like my job a lot", 0.0)], "", dim.keywords, 20.0,
                                  ("follow operating procedures",))
    assert signals["mentions:follow operating procedures"] == 0.0


def test_no_speech_rate_from_a_fraction_of_a_second() -> None:
    signals, _ = language_signals([said("yes", 4.0)], "Tell us about a project.", (), 30.0)
    assert signals["word_count"] == 1.0 and "speech_rate_wpm" not in signals and "filler_ratio" not in signals
    long_enough = [said("we planned the schedule together and delivered the project two weeks early", 0.0, 0.5)]
    signals, _ = language_signals(long_enough, "Tell us about a project.", (), 30.0)
    assert signals["speech_rate_wpm"] == round(12 / signals["answer_seconds"] * 60, 2)
