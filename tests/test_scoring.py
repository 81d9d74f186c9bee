"""Scores are explainable: every point comes from evidence, the interview score is the weighted
mean of question scores with skipped, unreached and superseded attempts left out openly, an
answer without usable evidence is "not assessed" (never 0), and the overall weighs dimensions by
the job's weights and the candidate's resume boost."""
from __future__ import annotations

import pytest

from server.plan import DimensionPlan, Rule
from server.scoring import (
    QuestionResult, assess_interview, evidence_gaps, overall_score, score_interview, score_question,
)

SAFETY = DimensionPlan(1, "Safety", ("procedure", "helmet", "절차"),
                       (Rule("keyword_hits:procedure", ">=", 1, 10), Rule("eye_contact_ratio", ">=", 0.6, 20)))
TEAM = DimensionPlan(2, "Teamwork", ("team",), ())
# Someone said something, and a face was seen: an answer with usable evidence of both kinds.
SPOKE = {"word_count": 30.0, "face_present_ratio": 1.0}


def test_keywords_substance_and_rules_add_up_with_evidence() -> None:
    signals = {"keyword_hits:procedure": 2, "keyword_hits:helmet": 0, "keyword_hits:절차": 1,
               "word_count": 80, "coherence": 0.5, "eye_contact_ratio": 0.4}
    spans = [{"keyword": "procedure", "text": "the procedure", "start_s": 3.0, "end_s": 3.6},
             {"keyword": "team", "text": "team", "start_s": 9.0, "end_s": 9.2}]
    s = score_question(SAFETY, signals, spans, question_index=0)
    # 2 distinct keywords x 20 + substance 20 x 0.5 x 1 + rule (procedure >= 1) 10; eye contact rule fails.
    assert s.score == 40 + 10 + 10 and s.assessed
    kinds = [e["kind"] for e in s.evidence]
    assert kinds == ["keywords", "substance", "rule"]
    assert s.evidence[0]["keywords"] == ["procedure", "절차"]
    assert s.evidence[0]["spans"] == [spans[0]]  # only this dimension's keywords are cited
    assert s.evidence[2]["signal"] == "keyword_hits:procedure" and s.evidence[2]["points"] == 10


def test_score_is_clamped_and_an_answer_with_nothing_recognised_is_not_assessed() -> None:
    many = DimensionPlan(3, "X", tuple(f"k{i}" for i in range(10)), (Rule("word_count", ">=", 1, 100),))
    signals = {f"keyword_hits:k{i}": 1 for i in range(10)} | {"word_count": 100, "coherence": 1.0}
    assert score_question(many, signals).score == 100
    penalty = DimensionPlan(4, "Y", (), (Rule("filler_ratio", ">", 0.2, -30),))
    assert score_question(penalty, {"filler_ratio": 0.5, "word_count": 10}).score == 0
    # Nothing recognised: not a 0 but "not assessed", with the reason in the evidence.
    silent = score_question(SAFETY, {"word_count": 0, "face_present_ratio": 1.0, "eye_contact_ratio": 0.9},
                            question_index=2)
    assert not silent.assessed and "nothing was recognised" in silent.reason
    assert [e["kind"] for e in silent.evidence] == ["not_assessed"] and silent.evidence[0]["code"] == "no_speech"


def test_no_face_leaves_vision_rules_unchecked_but_language_counts() -> None:
    looks_away = DimensionPlan(5, "Presence", ("plan",), (Rule("face_present_ratio", "<", 0.5, -30),
                                                          Rule("eye_contact_ratio", "<", 0.3, -20)))
    signals = {"word_count": 40, "coherence": 1.0, "keyword_hits:plan": 1, "face_present_ratio": 0.0,
               "multiple_faces_ratio": 0.0}
    assert [g.code for g in evidence_gaps(signals)] == ["no_face"]
    s = score_question(looks_away, signals, question_index=0)
    # Keyword 20 + substance 20; neither vision rule is held against the candidate.
    assert s.assessed and s.score == 40
    unchecked = [e for e in s.evidence if e["kind"] == "rule_not_assessed"]
    assert [e["signal"] for e in unchecked] == ["face_present_ratio", "eye_contact_ratio"]
    assert all(e["reason"] == "no face in the analysed frames" for e in unchecked)
    # With a face in view the same rule does fire.
    seen = score_question(looks_away, signals | {"face_present_ratio": 0.4}, question_index=0)
    assert seen.score == 10 and [e["kind"] for e in seen.evidence][-1] == "rule"
    # No frames at all: the vision gap is named as such.
    assert [g.code for g in evidence_gaps({"word_count": 3})] == ["no_video"]


def test_interview_score_is_weighted_mean_and_skips_are_shown_not_counted() -> None:
    q0 = QuestionResult(0, ((1, 2.0), (2, 1.0)), {1: score_question(SAFETY, SPOKE | {"keyword_hits:procedure": 1}),
                                                  2: score_question(TEAM, SPOKE | {"keyword_hits:team": 1})})
    q1 = QuestionResult(1, ((1, 1.0),), {1: score_question(SAFETY, SPOKE | {
        "keyword_hits:helmet": 1, "keyword_hits:절차": 1, "keyword_hits:procedure": 1})}, fault=True)
    q2 = QuestionResult(2, ((1, 5.0),), {1: score_question(SAFETY, SPOKE)}, skipped=True)
    q1_old = QuestionResult(1, ((1, 1.0),), {1: score_question(SAFETY, SPOKE)}, superseded=True)
    safety, team = score_interview([SAFETY, TEAM], [q0, q1_old, q1, q2])
    # q0: 20 + 10 (rule) = 30 at weight 2; q1: 60 + 10 = 70 at weight 1 -> (60 + 70) / 3
    assert safety.score == round((2 * 30 + 70) / 3, 1)
    assert team.score == 20
    question_items = [e for e in safety.evidence if e["kind"] in ("question", "not_counted")]
    assert [(e["question_index"], e["kind"]) for e in question_items] == [
        (0, "question"), (1, "question"), (2, "not_counted")]
    assert question_items[1]["fault"] is True


def test_a_dimension_without_counted_answers_is_not_assessed_not_zero() -> None:
    answered = QuestionResult(0, ((2, 1.0),), {2: score_question(TEAM, SPOKE | {"keyword_hits:team": 1})})
    skipped = QuestionResult(1, ((1, 1.0),), {1: score_question(SAFETY, SPOKE)}, skipped=True)
    unreached = QuestionResult(2, ((1, 1.0),), {}, reached=False)
    silent = QuestionResult(3, ((1, 2.0), (2, 1.0)), {1: score_question(SAFETY, {"word_count": 0}),
                                                      2: score_question(TEAM, {"word_count": 0})})
    results = assess_interview([SAFETY, TEAM], [answered, skipped, unreached, silent])
    safety, team = results
    assert safety.score is None and safety.status == "not_assessed"
    assert "question 2 skipped" in safety.reason and "question 3 not reached" in safety.reason
    assert "question 4: nothing was recognised" in safety.reason
    assert [e["reason"] for e in safety.evidence] == ["skipped", "not_reached", "no_evidence"]
    # Team: the silent answer does not pull the score down to 10 (20 and 0 at equal weight).
    assert team.score == 20 and team.answers == 1
    # The live path stores only assessed dimensions (nothing is written as 0).
    assert [s.dimension_id for s in score_interview([SAFETY, TEAM], [answered, skipped, unreached, silent])] == [2]
    unlinked = assess_interview([SAFETY], [answered])[0]
    assert unlinked.score is None and "no question" in unlinked.reason


SAFE_OP = DimensionPlan(6, "Safety", ("helmet",), (Rule("mentions:follow operating procedures", ">", 0.8, 10,
                                                        "interview"),))


def _safety_answers(mentioned: list[bool]) -> list[QuestionResult]:
    return [QuestionResult(i, ((6, 1.0),), {6: score_question(
        SAFE_OP, SPOKE | {"keyword_hits:helmet": 1, "mentions:follow operating procedures": float(m)}, (), i)})
        for i, m in enumerate(mentioned)]


@pytest.mark.parametrize(("mentioned", "fires"), [
    ([True] * 5, True),  # 100% > 80%
    ([True] * 4 + [False], False),  # exactly 80%: not more than 80%
    ([True] * 9 + [False], True),  # 90%
    ([False] * 5, False),
])
def test_interview_scope_mentions_rule(mentioned: list[bool], fires: bool) -> None:
    (safety,) = assess_interview([SAFE_OP], _safety_answers(mentioned))
    rule = next(e for e in safety.evidence if e["kind"] == "interview_rule")
    assert rule["value"] == pytest.approx(sum(mentioned) / len(mentioned))
    assert rule["fired"] is fires and rule["answers"] == len(mentioned)
    assert safety.score == 20 + (10 if fires else 0)  # one keyword each answer, + the rule once
    # The per-answer scores do not carry the interview rule.
    assert all(e["kind"] != "rule" for e in safety.evidence)


def test_interview_scope_rule_on_other_signals_uses_the_mean_and_skips_unmeasured() -> None:
    calm = DimensionPlan(7, "Calm", (), (Rule("eye_contact_ratio", ">=", 0.5, 15, "interview"),))
    answers = [QuestionResult(0, ((7, 1.0),), {7: score_question(calm, SPOKE | {"eye_contact_ratio": 0.9})}),
               QuestionResult(1, ((7, 1.0),), {7: score_question(calm, SPOKE | {"eye_contact_ratio": 0.2})}),
               # No face here: its eye contact is not measured, so it is not in the mean.
               QuestionResult(2, ((7, 1.0),), {7: score_question(calm, {"word_count": 5, "face_present_ratio": 0.0,
                                                                          "eye_contact_ratio": 0.0})})]
    (result,) = assess_interview([calm], answers)
    rule = next(e for e in result.evidence if e["kind"] == "interview_rule")
    assert rule["value"] == pytest.approx(0.55) and rule["answers"] == 2 and rule["fired"]
    assert result.score == 15


def test_overall_weighs_job_weights_boost_and_coverage() -> None:
    plain = overall_score({1: 80.0, 2: 40.0}, {1: 1.0, 2: 1.0})
    assert plain.score == 60 and plain.coverage == 1
    boosted = overall_score({1: 80.0, 2: 40.0}, {1: 1.0, 2: 1.0}, {1: 1.5})
    assert boosted.score == round((1.5 * 80 + 40) / 2.5, 1) and boosted.coverage == 1  # 64
    weighted = overall_score({1: 80.0, 2: 40.0}, {1: 3.0, 2: 1.0})
    assert weighted.score == 70
    # Not assessed: left out of the score, counted against coverage (by job weight, not boost).
    partial = overall_score({1: 80.0, 2: None}, {1: 1.0, 2: 3.0}, {1: 1.5})
    assert partial.score == 80 and partial.coverage == 0.25
    nothing = overall_score({1: None}, {1: 1.0})
    assert nothing.score is None and nothing.coverage == 0


def test_rule_operators() -> None:
    assert Rule("x", ">=", 1, 1).holds(1) and not Rule("x", ">", 1, 1).holds(1)
    assert Rule("x", "<=", 1, 1).holds(1) and Rule("x", "<", 1, 1).holds(0.5)
    assert Rule("x", "==", 2, 1).holds(2) and not Rule("x", "==", 2, 1).holds(2.1)
