"""Reports: percentile maths, clip boundaries, recommendation rules, weights' effect, and the
review gate in the API."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from analyzers.speech import Word
from conftest import Api, login
from server.clip_selection import CLIP_MAX_S, CLIP_PAD_S, QuestionSpan, select_clips
from server.reports import percentile, recommend
from server.session import State
from server.tables import Candidate, InterviewWeight, Report
from tests.test_controls import live_session


def test_percentile_counts_ties_half_and_needs_enough_candidates() -> None:
    assert percentile(70, [10, 20, 30, 40, 50]).value == 100.0
    assert percentile(5, [10, 20, 30, 40, 50]).value == 0.0
    assert percentile(30, [10, 20, 30, 40, 50]).value == 50.0  # 2 below + half of 1 tie, of 5
    assert percentile(30, [30, 30, 30, 30, 30]).value == 50.0
    p = percentile(30, [10, 20, 30, 40])
    assert p.value is None and p.count == 4
    assert percentile(80, [50] * 24 + [90]).value == 96.0 and percentile(80, [50] * 24 + [90]).count == 25


SPAN = QuestionSpan(0, 10.0, 70.0, "answer")


def test_clip_boundaries_pad_clamp_cap_and_merge() -> None:
    hit = lambda kw, a, b: {"kind": "keyword_hit", "keyword": kw, "text": kw, "start_s": a, "end_s": b}  # noqa: E731
    clips = select_clips([SPAN], {0: [hit("plan", 30.0, 30.5)]}, {0: {}})
    assert [(c.kind, c.start_s, c.end_s) for c in clips] == [("highlight", 30.0 - CLIP_PAD_S, 30.5 + CLIP_PAD_S)]
    # Near the start of the answer the clip does not reach before the question went live.
    assert select_clips([SPAN], {0: [hit("plan", 10.5, 11.0)]}, {0: {}})[0].start_s == 10.0
    assert select_clips([SPAN], {0: [hit("plan", 69.0, 69.8)]}, {0: {}})[0].end_s == 70.0
    # Overlapping hits merge into one clip that names both; distant ones stay apart.
    merged = select_clips([SPAN], {0: [hit("plan", 30.0, 30.5), hit("budget", 32.0, 32.4), hit("team", 50.0, 50.3)]}, {0: {}})
    assert [(c.start_s, c.end_s) for c in merged] == [(28.0, 34.4), (48.0, 52.3)]
    assert "plan" in merged[0].reason and "budget" in merged[0].reason
    # A long span is capped.
    long = select_clips([QuestionSpan(0, 0.0, 500.0, "")], {0: [hit("x", 100.0, 160.0)]}, {0: {}})[0]
    assert long.end_s - long.start_s == CLIP_MAX_S
    # A rule on frame statistics gets a clip at the start of the answer; a keyword rule, its words.
    rule = {"kind": "rule", "signal": "eye_contact_ratio", "rule": "eye_contact_ratio >= 0.6 -> +20", "value": 0.8}
    krule = {"kind": "rule", "signal": "keyword_hits:plan", "rule": "keyword_hits:plan >= 1 -> +10", "value": 1}
    clips = select_clips([SPAN], {0: [rule, krule, hit("plan", 40.0, 40.5)]}, {0: {}})
    assert [(c.start_s, c.end_s) for c in clips] == [(10.0, 20.0), (38.0, 42.5)]
    assert "eye_contact_ratio" in clips[0].reason and "keyword_hits:plan" in clips[1].reason


def test_concerns_compare_with_the_candidates_own_average() -> None:
    spans = [QuestionSpan(i, 20.0 * i, 20.0 * i + 18, f"a{i}") for i in range(3)]
    signals = {0: {"eye_contact_ratio": 0.9}, 1: {"eye_contact_ratio": 0.85}, 2: {"eye_contact_ratio": 0.2}}
    clips = select_clips(spans, {}, signals)
    assert [(c.kind, c.question_index) for c in clips] == [("concern", 2)]
    assert "far below" in clips[0].reason and clips[0].start_s == 40.0
    assert select_clips(spans, {}, signals, eye_contact_on=False) == []
    others = select_clips(spans, {}, {0: {"face_present_ratio": 0.5, "multiple_faces_ratio": 0.2}})
    assert "face visible in only 50%" in others[0].reason and "another face" in others[0].reason


def test_recommendation_thresholds_and_hiring_profile() -> None:
    assert recommend({"A": 80, "B": 75}, []).decision == "recommend"
    weak = recommend({"A": 95, "B": 30}, [])
    assert weak.decision == "second_interview" and "weak on B" in weak.reason
    assert recommend({"A": 40, "B": 45}, []).decision == "not_recommended"
    assert "no hiring history" in recommend({"A": 40}, []).reason
    hires = [{"A": 60, "B": 60}, {"A": 62, "B": 58}, {"A": 58, "B": 62}]
    fits = recommend({"A": 61, "B": 60}, hires)
    assert fits.decision == "recommend" and "past hires" in fits.reason and "n=3" in fits.reason
    assert recommend({"A": 30, "B": 30}, hires).decision == "not_recommended"
    assert recommend({}, hires).decision == "second_interview"


@dataclass(frozen=True)
class Sample:
    faces: int = 1
    eye_contact: bool | None = True
    smile: bool | None = False
    upright: bool | None = True
    motion: float | None = 0.01


async def completed_interview(client: Any, hr: Api, *, eye_contact_q1: bool = True) -> int:
    """A real session driven without media: speech and frames injected on its clock."""
    session, iid, link, peer = await live_session(client, hr)
    for q in range(2):
        t = session.clock()
        words = (Word("large", t, t + 0.4, 1.0), Word("project", t + 0.5, t + 0.9, 1.0),
                 Word("schedule", t + 1.0, t + 1.5, 1.0), Word("procedure", t + 1.6, t + 2.2, 1.0))
        session.on_transcript("large project schedule procedure", True, t, t + 2.2, words)
        base = (int(t // 2) + 1) * 2  # frames every 0.5 s from a 2 s boundary: 3 timeline buckets (4, 4, 2 frames)
        for i in range(10):
            session.on_vision(Sample(eye_contact=eye_contact_q1 or q == 0, smile=i % 2 == 0), base + 0.5 * i)
        peer.media()
        await session.drain_writes()
        await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()  # the answers' scores are stored in the background
    return iid


async def test_report_and_review_gate(client: Any, hr: Api, store: Any) -> None:
    iid = await completed_interview(client, hr)
    status, report = await hr.call("GET", f"/api/interviews/{iid}/report")
    assert status == 200, report
    names = {d["name"]: d for d in report["dimensions"]}
    assert set(names) == {"Project management", "Safety"}
    pm = names["Project management"]
    assert pm["score"] > 0 and any(e["kind"] == "keywords" for e in pm["evidence"])
    kw = next(e for e in pm["evidence"] if e["kind"] == "keywords")
    assert {"large project", "schedule"} <= set(kw["keywords"]) and kw["spans"][0]["start_s"] >= 0
    assert report["percentile"]["value"] is None and "too few" in report["percentile"]["text"]
    assert report["recommendation"]["decision"] in ("recommend", "second_interview", "not_recommended")
    assert report["clips"] and all(c["kind"] in ("highlight", "concern") for c in report["clips"])
    assert all(c["media_url"].endswith("/media") and c["end_s"] > c["start_s"] for c in report["clips"])
    assert [q["index"] for q in report["questions"]] == [0, 1]
    # Signals over time: per 2 s of the interview clock, the ratios among that bucket's frames.
    for q in report["questions"]:
        tl = q["timeline"]
        assert len(tl) == 3 and [b["t"] - tl[0]["t"] for b in tl] == [0, 2, 4] and tl[0]["t"] % 2 == 0
        assert [b["face"] for b in tl] == [1.0, 1.0, 1.0] and [b["upright"] for b in tl] == [1.0, 1.0, 1.0]
        assert [b["eye"] for b in tl] == [1.0, 1.0, 1.0] and [b["smile"] for b in tl] == [0.5, 0.5, 0.5]
    assert store.run_sync(lambda db: db.get(Report, iid)) is not None

    # The gate: no decision before the clips are seen and a note is written.
    status, body = await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "hire", "note": ""})
    assert status == 409 and "key clip" in body["error"] and "note" in body["error"]
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "Clear answers."}, expect=201)
    status, body = await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "hire"})
    assert status == 409 and "key clip" in body["error"] and "note" not in body["error"].split(";")[-1]
    # An unknown decision is refused as invalid.
    status, body = await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "maybe"})
    assert status == 422


async def test_weights_change_the_report(client: Any, hr: Api, store: Any) -> None:
    iid = await completed_interview(client, hr)
    _, before = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)

    def reweight(db: Any) -> None:
        for w in db.exec(select(InterviewWeight).where(InterviewWeight.interview_id == iid)):
            # Favour the question with weight 1 (the template's weight: dimension scores use it).
            w.base_weight = w.weight = 10.0 if w.base_weight == 1.0 else w.base_weight
            db.add(w)

    store.run_sync(reweight)
    _, after = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    safety_before = next(d for d in before["dimensions"] if d["name"] == "Safety")
    safety_after = next(d for d in after["dimensions"] if d["name"] == "Safety")
    weights_after = [e["weight"] for e in safety_after["evidence"] if e["kind"] == "question"]
    assert 10.0 in weights_after and weights_after != [e["weight"] for e in safety_before["evidence"] if e["kind"] == "question"]


async def test_report_errors(client: Any, hr: Api, store: Any) -> None:
    session, iid, _, _ = await live_session(client, hr)
    status, body = await hr.call("GET", f"/api/interviews/{iid}/report")
    assert status == 409 and "completed" in body["error"]
    assert (await hr.call("GET", "/api/interviews/999/report"))[0] == 404
    assert (await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "x"}))[0] == 409
    assert (await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "hire"}))[0] == 409
    other = await login(client, store, "other@example.com")
    assert (await other.call("GET", f"/api/interviews/{iid}/report"))[0] == 404


def test_thresholds_are_configurable() -> None:
    from server.reports import Thresholds
    from server.settings import Settings

    strict = Thresholds.from_settings(Settings.from_env({"CANDOR_RECOMMEND_AT": "90", "CANDOR_SECOND_INTERVIEW_AT": "80"}))
    assert recommend({"A": 85, "B": 85}, []).decision == "recommend"
    assert recommend({"A": 85, "B": 85}, [], strict).decision == "second_interview"
    assert "recommend at 90" in recommend({"A": 85}, [], strict).reason
