"""Scores that hold up (issue 9): the resume boost moves the candidate's overall (not the
dimension scores), a dimension without a counted answer is "not assessed" (not 0), too little
evidence means no recommendation and no place in percentile pools, interview-scope rules, job
dimension weights and rule validation. Real sessions driven without media (speech and frames
injected on the session's clock), the real store and API."""
from __future__ import annotations

import html

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import select

from analyzers.speech import Word
from conftest import Api
from server.reports import Thresholds, build_report, job_pool, recommend
from server.schemas import ReportOut
from server.session import State
from server.sessions import sessions_key
from server.settings import Settings, SettingsError
from server.tables import Interview, InterviewWeight, Score
from tests.test_controls import FakePeer
from tests.test_reports import Sample
from tests.test_session import FakeLink

DEADLINE = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()


async def new_job(hr: Api, dimensions: list[dict[str, Any]],
                  questions: list[tuple[str, list[int]]]) -> tuple[int, list[int], int]:
    """A job and a template; `questions`: (text, positions of its dimensions), weight 1 each."""
    _, job = await hr.call("POST", "/api/jobs", json={"title": "Site engineer", "language": "en",
                                                      "dimensions": dimensions}, expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
        {"text": text, "time_limit_s": 60, "dimensions": [{"dimension_id": dims[i], "weight": 1} for i in linked]}
        for text, linked in questions]}, expect=201)
    return job["id"], dims, tpl["id"]


async def invite(hr: Api, template_id: int, name: str, resume: str = "") -> int:
    email = f"{name.lower().replace(' ', '.')}@example.com"
    _, c = await hr.call("POST", "/api/candidates", json={"name": name, "email": email, "resume_text": resume},
                         expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={"template_id": template_id, "candidate_ids": [c["id"]],
                                                             "deadline": DEADLINE}, expect=201)
    return int(inv["invitations"][0]["interview_id"])


async def go_live(client: Any, iid: int) -> tuple[Any, FakePeer]:
    session = await client.app[sessions_key].session_for(iid)
    link, peer = FakeLink(), FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE
    return session, peer


async def say(session: Any, peer: FakePeer, text: str, face: bool = True) -> None:
    """An answer: final words on the session's clock, and 10 analysed frames."""
    t = session.clock()
    words = tuple(Word(w, t + 0.4 * i, t + 0.4 * i + 0.3, 1.0) for i, w in enumerate(text.split()))
    if words:
        session.on_transcript(text, True, t, words[-1].end_s, words)
    base = (int(t // 2) + 1) * 2
    for i in range(10):
        session.on_vision(Sample(faces=1 if face else 0, eye_contact=True if face else None,
                                 smile=False if face else None, upright=True if face else None), base + 0.5 * i)
    peer.media()
    await session.drain_writes()


async def interview(client: Any, iid: int, answers: list[str]) -> None:
    session, peer = await go_live(client, iid)
    for text in answers:
        await say(session, peer, text)
        await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()


async def report(hr: Api, iid: int) -> dict[str, Any]:
    _, body = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    return body  # type: ignore[no-any-return]


def by_name(rep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in rep["dimensions"]}


def fake_completed(store: Any, iid: int, scores: dict[int, float]) -> None:
    """A completed interview of the job whose current dimension scores are `scores` (the pool
    the percentile compares with; its own answers do not matter here)."""
    def work(db: Any) -> None:
        interview = db.get(Interview, iid)
        interview.state, interview.consent = "completed", True
        db.add(interview)
        for dim_id, value in scores.items():
            db.add(Score(interview_id=iid, dimension_id=dim_id, question_index=None, score=value, evidence=[]))
    store.run_sync(work)


PLANNING_SAFETY = [{"name": "Planning", "keywords": ["schedule", "budget"]},
                   {"name": "Safety", "keywords": ["procedure", "helmet", "inspection"]}]
TWO_QUESTIONS = [("Tell us about a project you planned.", [0]), ("How do you keep a site safe?", [1])]
SAME_ANSWERS = ["we kept the schedule every single week of the year",
                "I follow the procedure wear a helmet and do an inspection before work starts"]


async def test_resume_boost_moves_the_overall_by_the_factor_not_the_dimension_scores(
        client: Any, hr: Api, store: Any) -> None:
    job_id, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    plain_id = await invite(hr, tpl, "Plain Candidate", resume="Ten years as a site engineer.")
    boosted_id = await invite(hr, tpl, "Boosted Candidate", resume="Ten years of site inspection work.")
    pool_ids = [await invite(hr, tpl, f"Pool {i}") for i in range(5)]
    await interview(client, plain_id, SAME_ANSWERS)
    await interview(client, boosted_id, SAME_ANSWERS)
    plain, boosted = await report(hr, plain_id), await report(hr, boosted_id)
    ReportOut.model_validate(boosted)  # the documented shape (/api/openapi.json)

    # Identical answers: identical, unboosted dimension scores.
    p, s = by_name(plain)["Planning"]["score"], by_name(plain)["Safety"]["score"]
    assert (p, s) == (by_name(boosted)["Planning"]["score"], by_name(boosted)["Safety"]["score"])
    assert s > p > 0  # the safety answer is the stronger one
    # The overall: the plain mean for one, Safety weighing 1.5 for the other.
    assert plain["overall"]["score"] == round((p + s) / 2, 1) and plain["overall"]["coverage"] == 1
    assert boosted["overall"]["score"] == round((p + 1.5 * s) / 2.5, 1)
    assert boosted["overall"]["score"] > plain["overall"]["score"]
    assert plain["overall_score"] == plain["overall"]["score"]
    # And the report says so.
    assert plain["overall"]["resume_boosts"] == []
    assert boosted["overall"]["resume_boosts"] == [{"dimension_id": dims[1], "name": "Safety", "factor": 1.5,
                                                    "keywords": ["inspection"]}]
    assert "Safety counts x1.5" in boosted["overall"]["text"]
    assert by_name(boosted)["Safety"]["boost"] == {"factor": 1.5, "keywords": ["inspection"]}
    # The frozen per-question weight keeps the boost (and what matched) for the record.
    weights = store.run_sync(lambda db: db.exec(select(InterviewWeight).where(
        InterviewWeight.interview_id == boosted_id, InterviewWeight.dimension_id == dims[1])).all())
    assert [(w.base_weight, w.weight, w.matched_keywords) for w in weights] == [(1.0, 1.5, ["inspection"])]

    # Percentile follows: five more candidates of the job, around and between the two overalls.
    lo, hi = plain["overall"]["score"], boosted["overall"]["score"]
    for iid, value in zip(pool_ids, (lo - 10, lo - 5, (lo + hi) / 2, hi + 5, hi + 10), strict=True):
        fake_completed(store, iid, {dims[0]: value, dims[1]: value})
    plain, boosted = await report(hr, plain_id), await report(hr, boosted_id)
    # Each is compared with the five and with the other (whose boost counts in their overall).
    assert plain["percentile"]["count"] == boosted["percentile"]["count"] == 6
    assert plain["percentile"]["value"] == round(100 * 2 / 6, 1)  # above lo-10, lo-5
    assert boosted["percentile"]["value"] == round(100 * 4 / 6, 1)  # above those, the middle one and lo
    # Per dimension the two are level (same scores, the other one ties).
    for name in ("Planning", "Safety"):
        assert by_name(plain)[name]["percentile"] == by_name(boosted)[name]["percentile"]
        assert by_name(plain)[name]["percentile"]["count"] == 6

    # Recommendation follows: with the bar between the two overalls, only the boosted one passes it.
    bar = Thresholds(recommend_at=(lo + hi) / 2, second_at=0, weak_dimension=0)
    decisions = store.run_sync(lambda db: [build_report(db, i, "", bar)["recommendation"]["decision"]
                                           for i in (plain_id, boosted_id)])
    assert decisions == ["second_interview", "recommend"]

    # HR's page says it too.
    from tests.test_report_page import page_login, text_of

    await page_login(client)
    page = text_of(await (await client.get(f"/interviews/{boosted_id}/report")).text())
    assert "Safety counts ×1.5 in this candidate’s overall: the resume mentions inspection." in page
    assert f"{boosted['overall']['score']:.0f} overall score" in page and "100% of the job’s dimension weight" in page
    assert "Safety — " in page and "×1.5 in this overall" in page
    assert "×1.5" not in text_of(await (await client.get(f"/interviews/{plain_id}/report")).text())


THREE = [{"name": "Planning", "keywords": ["schedule"]}, {"name": "Safety", "keywords": ["procedure"]},
         {"name": "Teamwork", "keywords": ["team"]}]
THREE_QUESTIONS = [("Tell us about planning.", [0]), ("Tell us about safety.", [1]), ("Tell us about people.", [2])]


async def test_skipped_and_unreached_questions_leave_dimensions_not_assessed(
        client: Any, hr: Api, store: Any) -> None:
    _, dims, tpl = await new_job(hr, THREE, THREE_QUESTIONS)
    skipped_id = await invite(hr, tpl, "Skipped One")
    ended_id = await invite(hr, tpl, "Ended Early")
    connecting_id = await invite(hr, tpl, "Never Connected")

    # Question 2 skipped by HR; questions 1 and 3 answered.
    session, peer = await go_live(client, skipped_id)
    await say(session, peer, "I keep the schedule in a shared plan every week")
    await session.candidate_next()
    await hr.call("POST", f"/api/interviews/{skipped_id}/intervene", json={"action": "skip"}, expect=200)
    await say(session, peer, "our team meets every morning to agree the work")
    await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()

    # Ended by HR during the first question.
    session, peer = await go_live(client, ended_id)
    await say(session, peer, "I keep the schedule in a shared plan every week")
    await hr.call("POST", f"/api/interviews/{ended_id}/intervene", json={"action": "end"}, expect=200)
    await session.settled()

    # Ended while still connecting: no answer at all.
    session = await client.app[sessions_key].session_for(connecting_id)
    await session.attach_candidate(FakeLink())
    await session.start(consent=True)
    await session.offer(FakePeer())
    await hr.call("POST", f"/api/interviews/{connecting_id}/intervene", json={"action": "end"}, expect=200)

    skipped = await report(hr, skipped_id)
    d = by_name(skipped)
    assert d["Safety"]["status"] == "not_assessed" and d["Safety"]["score"] is None
    assert "question 2 skipped" in d["Safety"]["reason"]
    assert d["Safety"]["percentile"] == {"value": None, "count": 0}
    assert d["Planning"]["status"] == d["Teamwork"]["status"] == "assessed"
    assert skipped["overall"]["coverage"] == round(2 / 3, 3)
    assert skipped["overall"]["score"] == round((d["Planning"]["score"] + d["Teamwork"]["score"]) / 2, 1)
    rec = skipped["recommendation"]
    assert rec["decision"] != "insufficient_evidence" and "weak on Safety" not in rec["reason"]
    assert "not assessed: Safety" in rec["reason"]
    assert [w["code"] for w in skipped["warnings"]] == ["not_assessed"]
    from tests.test_report_page import page_login, text_of

    await page_login(client)
    page = text_of(await (await client.get(f"/interviews/{skipped_id}/report")).text())
    assert "Read before the scores: Not assessed (left out of the overall, not scored as 0): Safety" in page
    assert "Safety — not assessed" in page and "Not assessed: no counted answer: question 2 skipped." in page
    assert "67% of the job’s dimension weight assessed." in page
    # Not stored as a 0 either: the live session keeps no score row for it.
    stored = store.run_sync(lambda db: {s.dimension_id for s in db.exec(select(Score).where(
        Score.interview_id == skipped_id, Score.question_index == None))})  # noqa: E711
    assert stored == {dims[0], dims[2]}

    ended = await report(hr, ended_id)
    d = by_name(ended)
    assert d["Planning"]["status"] == "assessed"
    assert all(d[n]["score"] is None and "not reached" in d[n]["reason"] for n in ("Safety", "Teamwork"))
    assert ended["overall"]["coverage"] == round(1 / 3, 3) and not ended["overall"]["sufficient"]
    assert ended["recommendation"]["decision"] == "insufficient_evidence"
    assert "33%" in ended["recommendation"]["reason"]
    assert ended["percentile"]["value"] is None and "not compared" in ended["percentile"]["text"]
    codes = [w["code"] for w in ended["warnings"]]
    assert codes == ["insufficient_evidence", "not_reached"]
    assert ended["warnings"][1]["question_indexes"] == [1, 2]

    never = await report(hr, connecting_id)
    for rep in (skipped, ended, never):
        ReportOut.model_validate(rep)
    assert never["overall"] == {**never["overall"], "score": None, "coverage": 0.0}
    assert all(d["status"] == "not_assessed" for d in never["dimensions"])
    assert never["recommendation"]["decision"] == "insufficient_evidence"

    # Neither insufficient interview is in anyone's pool; the sufficient one is in theirs.
    assert skipped["percentile"]["count"] == 0
    assert ended["percentile"]["count"] == never["percentile"]["count"] == 1
    weights = {dims[0]: 1.0, dims[1]: 1.0, dims[2]: 1.0}
    job_id = store.run_sync(lambda db: db.get(Interview, skipped_id).job_id)
    pool = store.run_sync(lambda db: job_pool(db, job_id, 0, weights, 0.6))
    assert pool.overall == [skipped["overall"]["score"]] and set(pool.dimensions) == {dims[0], dims[2]}


SAFETY_RULE = {"signal": "mentions:follow operating procedures", "op": ">", "value": 0.8, "points": 10,
               "scope": "interview"}
FIVE_QUESTIONS = [(f"Question {n}: describe a day on the site.", [0]) for n in ("one", "two", "three", "four", "five")]
MENTIONS = "every day we follow operating procedures and wear a helmet on site"
NO_MENTION = "every day we check the weather and wear a helmet on site"


@pytest.mark.parametrize(("answers", "fires"), [([MENTIONS] * 5, True), ([MENTIONS] * 4 + [NO_MENTION], False)],
                         ids=["5-of-5", "4-of-5"])
async def test_interview_scope_mentions_rule_from_the_transcript(
        client: Any, hr: Api, answers: list[str], fires: bool) -> None:
    safety = [{"name": "Safety", "keywords": ["helmet"], "rules": [SAFETY_RULE]}]
    _, _, tpl = await new_job(hr, safety, FIVE_QUESTIONS)
    iid = await invite(hr, tpl, "Safe Worker")
    await interview(client, iid, answers)
    safety = by_name(await report(hr, iid))["Safety"]
    rule = next(e for e in safety["evidence"] if e["kind"] == "interview_rule")
    assert rule["fired"] is fires and rule["answers"] == 5
    assert rule["value"] == pytest.approx(sum(a == MENTIONS for a in answers) / 5)
    assert rule["rule"] == "mentions:follow operating procedures over the interview > 0.8 -> +10"
    counted = [e for e in safety["evidence"] if e["kind"] == "question"]
    mean = sum(e["score"] * e["weight"] for e in counted) / sum(e["weight"] for e in counted)
    assert safety["score"] == pytest.approx(min(100.0, round(mean + (10 if fires else 0), 1)), abs=0.051)


async def test_job_dimension_weights_and_rule_validation(client: Any, hr: Api) -> None:
    body = {"title": "T", "dimensions": [
        {"name": "Planning", "keywords": ["Schedule"], "weight": 3,
         "rules": [{"signal": "keyword_hits:schedule", "op": ">=", "value": 1, "points": 5},
                   {"signal": "coherence", "op": ">", "value": 0.5, "points": 5},
                   {"signal": "mentions:  on time ", "op": ">=", "value": 0.5, "points": 5, "scope": "interview"}]},
        {"name": "Safety"}]}
    _, job = await hr.call("POST", "/api/jobs", json=body, expect=201)
    _, detail = await hr.call("GET", f"/api/jobs/{job['id']}", expect=200)
    planning, safety = detail["dimensions"]
    assert (planning["weight"], safety["weight"]) == (3.0, 1.0)
    # Stored as the dimension spells the keyword; a mentions phrase trimmed.
    assert [(r["signal"], r["scope"]) for r in planning["rules"]] == [
        ("keyword_hits:Schedule", "answer"), ("coherence", "answer"), ("mentions:on time", "interview")]

    def job(rule: dict[str, Any], **dim: Any) -> dict[str, Any]:
        return {"title": "T", "dimensions": [{"name": "A", "keywords": ["plan"], "rules": [rule], **dim}]}

    ok = {"op": ">=", "value": 1, "points": 1}
    for rule, extra, expected in [
        ({"signal": "confidence", **ok}, {}, "unknown signal 'confidence'"),
        ({"signal": "keyword_hits:budget", **ok}, {}, "keyword_hits: needs one of the dimension's keywords (plan)"),
        ({"signal": "mentions:  ", **ok}, {}, "unknown signal"),
        ({"signal": "word_count", **ok, "scope": "job"}, {}, "scope"),
        ({"signal": "word_count", **ok}, {"weight": 0}, "weight"),
        ({"signal": "word_count", **ok}, {"weight": -1}, "weight"),
    ]:
        status, err = await hr.call("POST", "/api/jobs", json=job(rule, **extra))
        assert status == 422 and expected in err["error"], (rule, extra, err)
    status, err = await hr.call("POST", "/api/jobs", json=job({"signal": "confidence", **ok}))
    for name in ("eye_contact_ratio", "pause_count", "longest_pause_s", "coherence", "mentions:<phrase>"):
        assert name in err["error"]


async def test_job_weights_decide_the_overall(client: Any, hr: Api) -> None:
    dims = [{**PLANNING_SAFETY[0], "weight": 3}, {**PLANNING_SAFETY[1], "weight": 1}]
    _, _, tpl = await new_job(hr, dims, TWO_QUESTIONS)
    iid = await invite(hr, tpl, "Weighted One")
    await interview(client, iid, SAME_ANSWERS)
    rep = await report(hr, iid)
    p, s = by_name(rep)["Planning"]["score"], by_name(rep)["Safety"]["score"]
    assert p != s and rep["overall"]["score"] == round((3 * p + s) / 4, 1)
    assert by_name(rep)["Planning"]["weight"] == 3


def test_recommendation_needs_coverage_and_ignores_what_was_not_assessed() -> None:
    t = Thresholds(min_coverage=0.6)
    low = recommend({"A": 95}, [], t, overall=95, coverage=0.5, not_assessed=["B"])
    assert low.decision == "insufficient_evidence" and "50%" in low.reason and "not assessed: B" in low.reason
    enough = recommend({"A": 95, "B": 90}, [], t, overall=93, coverage=0.75, not_assessed=["C"])
    assert enough.decision == "recommend" and "weak on" not in enough.reason
    assert recommend({}, [], t).decision == "second_interview"  # human-only review: no scores at all
    assert recommend({}, [], t, coverage=0.0).decision == "insufficient_evidence"
    # Past hires' overall uses the job's weights.
    hires = [{"A": 90, "B": 10}] * 3
    assert "averaged 70" in recommend({"A": 90, "B": 10}, hires, t, weights={"A": 3, "B": 1}).reason


def test_min_coverage_setting() -> None:
    assert Settings.from_env({}).min_coverage == 0.6
    assert Settings.from_env({"CANDOR_MIN_COVERAGE": "0.8"}).min_coverage == 0.8
    assert Thresholds.from_settings(Settings.from_env({"CANDOR_MIN_COVERAGE": "0.8"})).min_coverage == 0.8
    for bad in ("1.5", "-0.1", "nan", "lots"):
        with pytest.raises(SettingsError):
            Settings.from_env({"CANDOR_MIN_COVERAGE": bad})


async def test_openapi_describes_the_report_and_the_new_fields(client: Any) -> None:
    resp = await client.get("/api/openapi.json")
    doc = await resp.json()
    schemas = doc["components"]["schemas"]
    ok = doc["paths"]["/api/interviews/{interview_id}/report"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportOut"}
    report_fields = set(schemas["ReportOut"]["properties"])
    assert {"warnings", "overall", "dimensions", "percentile", "recommendation"} <= report_fields
    assert {"score", "coverage"} <= set(schemas["OverallOut"]["properties"])
    dimension = schemas["DimensionReportOut"]["properties"]
    assert {"status", "score", "percentile", "weight"} <= set(dimension)
    assert "insufficient_evidence" in schemas["RecommendationOut"]["properties"]["decision"]["enum"]
    assert schemas["RuleIn"]["properties"]["scope"]["enum"] == ["answer", "interview"]
    assert schemas["DimensionIn"]["properties"]["weight"]["exclusiveMinimum"] == 0


async def test_job_form_takes_dimension_weight_and_interview_rules(client: Any, hr: Api) -> None:
    from tests.test_pages_hr import JOB_FORM, post
    from tests.test_report_page import page_login

    csrf = await page_login(client)
    form = {**JOB_FORM, "dim_weight_2": "3",
            "dim_rules_2": "interview mentions:follow operating procedures > 0.8 10\neye_contact_ratio >= 0.6 20",
            "csrf_token": csrf}
    resp = await post(client, "/jobs/new", form)
    assert resp.status == 303, await resp.text()
    page = await (await client.get(resp.headers["Location"])).text()
    assert "weight 3 in the overall" in page and "weight 1 in the overall" in page
    assert ("Over the whole interview: when the share of answers that mention “follow operating procedures” "
            "is more than 0.8, add 10 points.") in html.unescape(page)
    assert "mentions:follow operating procedures &gt; 0.8 → +10 (interview)" in page
    # A bad weight or a keyword rule on another dimension's keyword is refused with the row named.
    for change, message in (({"dim_weight_2": "0"}, "Dimension 3: weight"),
                            ({"dim_rules_2": "keyword_hits:schedule >= 1 5"}, "keyword_hits: needs one of")):
        resp = await post(client, "/jobs/new", {**form, **change})
        assert resp.status == 422 and message in await resp.text(), change


async def test_human_only_review_has_no_scores_and_is_in_no_pool(client: Any, hr: Api, store: Any) -> None:
    _, _, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    iid = await invite(hr, tpl, "Human Only")
    other = await invite(hr, tpl, "Other One")
    await interview(client, iid, SAME_ANSWERS)
    await interview(client, other, SAME_ANSWERS)

    def human_only(db: Any) -> None:
        row = db.get(Interview, iid)
        row.consent = False
        db.add(row)
    store.run_sync(human_only)
    rep = await report(hr, iid)
    ReportOut.model_validate(rep)
    assert rep["dimensions"] == [] and rep["warnings"] == [] and rep["overall"]["score"] is None
    assert rep["recommendation"]["decision"] == "second_interview" and "human-only" in rep["recommendation"]["reason"]
    assert (await report(hr, other))["percentile"]["count"] == 0


async def test_a_silent_attempt_redone_counts_only_the_new_answer(client: Any, hr: Api) -> None:
    _, _, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    iid = await invite(hr, tpl, "Second Try")
    session, peer = await go_live(client, iid)
    await say(session, peer, "")  # the microphone was muted: nothing recognised
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "redo"}, expect=200)
    for text in SAME_ANSWERS:
        await say(session, peer, text)
        await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()
    rep = await report(hr, iid)
    first = [q for q in rep["questions"] if q["index"] == 0]
    assert [(q["attempt"], q["superseded"], q["scores"][0]["status"]) for q in first] == [
        (0, True, "not_assessed"), (1, False, "assessed")]
    assert first[0]["gaps"] == []  # a superseded attempt does not count, so it raises no warning
    assert by_name(rep)["Planning"]["status"] == "assessed" and rep["warnings"] == []
    from tests.test_report_page import page_login, text_of

    await page_login(client)
    resp = await client.get(f"/interviews/{iid}/report")
    assert resp.status == 200
    assert "This attempt (not assessed) was replaced" in text_of(await resp.text())
