"""Scores are explainable: every point comes from evidence, and the interview score is the
weighted mean of question scores with skipped and superseded attempts left out openly."""
from __future__ import annotations

from server.plan import DimensionPlan, Rule
from server.scoring import QuestionResult, score_interview, score_question

SAFETY = DimensionPlan(1, "Safety", ("procedure", "helmet", "절차"),
                       (Rule("keyword_hits:procedure", ">=", 1, 10), Rule("eye_contact_ratio", ">=", 0.6, 20)))
TEAM = DimensionPlan(2, "Teamwork", ("team",), ())


def test_keywords_substance_and_rules_add_up_with_evidence() -> None:
    signals = {"keyword_hits:procedure": 2, "keyword_hits:helmet": 0, "keyword_hits:절차": 1,
               "word_count": 80, "coherence": 0.5, "eye_contact_ratio": 0.4}
    spans = [{"keyword": "procedure", "text": "the procedure", "start_s": 3.0, "end_s": 3.6},
             {"keyword": "team", "text": "team", "start_s": 9.0, "end_s": 9.2}]
    s = score_question(SAFETY, signals, spans, question_index=0)
    # 2 distinct keywords x 20 + substance 20 x 0.5 x 1 + rule (procedure >= 1) 10; eye contact rule fails.
    assert s.score == 40 + 10 + 10
    kinds = [e["kind"] for e in s.evidence]
    assert kinds == ["keywords", "substance", "rule"]
    assert s.evidence[0]["keywords"] == ["procedure", "절차"]
    assert s.evidence[0]["spans"] == [spans[0]]  # only this dimension's keywords are cited
    assert s.evidence[2]["signal"] == "keyword_hits:procedure" and s.evidence[2]["points"] == 10


def test_score_is_clamped_and_empty_answer_scores_zero() -> None:
    many = DimensionPlan(3, "X", tuple(f"k{i}" for i in range(10)), (Rule("word_count", ">=", 1, 100),))
    signals = {f"keyword_hits:k{i}": 1 for i in range(10)} | {"word_count": 100, "coherence": 1.0}
    assert score_question(many, signals).score == 100
    assert score_question(SAFETY, {}).score == 0 and score_question(SAFETY, {}).evidence == ()
    penalty = DimensionPlan(4, "Y", (), (Rule("filler_ratio", ">", 0.2, -30),))
    assert score_question(penalty, {"filler_ratio": 0.5}).score == 0


def test_interview_score_is_weighted_mean_and_skips_are_shown_not_counted() -> None:
    q0 = QuestionResult(0, ((1, 2.0), (2, 1.0)), {1: score_question(SAFETY, {"keyword_hits:procedure": 1}),
                                                  2: score_question(TEAM, {"keyword_hits:team": 1})})
    q1 = QuestionResult(1, ((1, 1.0),), {1: score_question(SAFETY, {"keyword_hits:helmet": 1, "keyword_hits:절차": 1,
                                                                      "keyword_hits:procedure": 1})}, fault=True)
    q2 = QuestionResult(2, ((1, 5.0),), {1: score_question(SAFETY, {})}, skipped=True)
    q1_old = QuestionResult(1, ((1, 1.0),), {1: score_question(SAFETY, {})}, superseded=True)
    safety, team = score_interview([SAFETY, TEAM], [q0, q1_old, q1, q2])
    # q0: 20 + 10 (rule) = 30 at weight 2; q1: 60 + 10 = 70 at weight 1 -> (60 + 70) / 3
    assert safety.score == round((2 * 30 + 70) / 3, 1)
    assert team.score == 20
    question_items = [e for e in safety.evidence if e["kind"] in ("question", "not_counted")]
    assert [(e["question_index"], e["kind"]) for e in question_items] == [(0, "question"), (1, "question"), (2, "not_counted")]
    assert question_items[1]["fault"] is True


def test_rule_operators() -> None:
    assert Rule("x", ">=", 1, 1).holds(1) and not Rule("x", ">", 1, 1).holds(1)
    assert Rule("x", "<=", 1, 1).holds(1) and Rule("x", "<", 1, 1).holds(0.5)
    assert Rule("x", "==", 2, 1).holds(2) and not Rule("x", "==", 2, 1).holds(2.1)
