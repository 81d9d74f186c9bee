"""Predictive validity through the API on a synthetic company built as rows: dimension A truly
predicts performance (r 0.5), B is noise, C predicts early leaving but not the rating. The API
tells them apart at n = 300 and says "not enough data" at n = 15; snapshots are stored on request
and on the schedule; phrases top performers said are suggested; KPIs per month and quarter; the
page renders its SVG charts in English and Chinese."""
from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from sqlmodel import select

from conftest import Api, login
from server.tables import (
    AuditLog, Candidate, Decision, Employee, Interview, Invitation, PastInterview, PerformanceReview, Score,
    TranscriptSegment, User, ValiditySnapshot,
)
from server import validity_api
from server.web import settings_key

NOW = datetime.now(timezone.utc)
ABC = [{"name": "Analysis", "keywords": ["root cause"]}, {"name": "Bearing", "keywords": ["calm"]},
       {"name": "Commitment", "keywords": ["stay"]}]
TRUE_R = 0.5


async def new_job(hr: Api, title: str = "Field engineer") -> tuple[int, list[int], int]:
    _, job = await hr.call("POST", "/api/jobs", json={"title": title, "language": "en", "dimensions": ABC},
                           expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
        {"text": "Tell us how you solved a hard problem.", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
        {"text": "How do you handle pressure?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[1], "weight": 1}, {"dimension_id": dims[2], "weight": 1}]},
    ]}, expect=201)
    return job["id"], dims, tpl["id"]


def user_id(store: Any, email: str) -> int:
    return int(store.run_sync(lambda db: db.exec(select(User).where(User.email == email)).one().id))


def synthetic_company(store: Any, job_id: int, dims: list[int], n: int, seed: int, creator: int,
                      tag: str) -> None:
    """n hires imported from a previous system, each with one performance review after the hire.
    A = 60 + 12 z_a; rating = 70 + 10 (0.5 z_a + sqrt(0.75) e); B independent noise; C = 60 + 12 z_c
    and P(left within 60 days) = logistic(-1.4 - 2.5 z_c), unrelated to the rating."""
    rng = np.random.default_rng(seed)
    za, zb, zc, e = (rng.standard_normal(n) for _ in range(4))
    perf = TRUE_R * za + math.sqrt(1 - TRUE_R ** 2) * e
    leaves = rng.random(n) < 1 / (1 + np.exp(1.4 + 2.5 * zc))

    def work(db: Any) -> None:
        for i in range(n):
            hired = NOW - timedelta(days=700 + i)
            cand = Candidate(name=f"{tag} {i}", email=f"{tag.lower()}{i}@example.com", status="hired",
                             created_by=creator)
            db.add(cand)
            db.flush()
            scores = {str(dims[0]): float(np.clip(60 + 12 * za[i], 0, 100)),
                      str(dims[1]): float(np.clip(60 + 12 * zb[i], 0, 100)),
                      str(dims[2]): float(np.clip(60 + 12 * zc[i], 0, 100))}
            past = PastInterview(candidate_id=cand.id, job_id=job_id, interviewed_at=hired - timedelta(days=20),
                                 decision="hire", scores=scores, overall=sum(scores.values()) / 3, imported_by=creator)
            db.add(past)
            db.flush()
            emp = Employee(candidate_id=cand.id, job_id=job_id, past_interview_id=past.id, hired_at=hired,
                           start_date=hired, source="history",
                           left_at=hired + timedelta(days=60) if leaves[i] else None,
                           left_voluntary=True if leaves[i] else None)
            db.add(emp)
            db.flush()
            # Leavers too had their first (45-day) review: everybody is rated.
            db.add(PerformanceReview(employee_id=emp.id, period_end=hired + timedelta(days=45),
                                     rating=float(np.clip(70 + 10 * perf[i], 0, 100))))
    store.run_sync(work)


async def test_the_synthetic_company_is_told_apart_and_stored(client: Any, hr: Api, store: Any) -> None:
    creator = user_id(store, "hr@example.com")
    job_id, dims, _ = await new_job(hr)
    synthetic_company(store, job_id, dims, 300, seed=2026, creator=creator, tag="Big")
    small_id, small_dims, _ = await new_job(hr, "Small team")
    synthetic_company(store, small_id, small_dims, 15, seed=5, creator=creator, tag="Small")

    _, v = await hr.call("GET", f"/api/jobs/{job_id}/validity", expect=200)
    assert v["n"] == 300 and v["min_n"] == 30 and v["not_enough_data"] is False and v["computed_at"]
    by = {d["id"]: d for d in v["dimensions"]}
    a, b, c = by[dims[0]], by[dims[1]], by[dims[2]]
    # A predicts performance, and its interval covers the true r.
    assert a["predictive"] is True and a["direction"] == "positive" and a["n"] == 300
    assert a["ci"][0] <= TRUE_R <= a["ci"][1] and a["ci"][0] < a["r"] < a["ci"][1]
    assert a["spearman"] > 0.3 and a["spearman_ci"][0] < a["spearman"] < a["spearman_ci"][1]
    # B is noise: enough data, no predictive value, flagged.
    assert b["predictive"] is False and b["ci"][0] < 0 < b["ci"][1]
    # C does not predict performance either...
    assert c["predictive"] is False and c["ci"][0] < 0 < c["ci"][1]
    assert set(v["no_predictive_value"]) == {dims[1], dims[2]}
    # ...but predicts early leaving: low C leaves.
    leavers = v["early_leavers"]
    assert leavers["enough"] is True and leavers["n_leavers"] >= 20 and leavers["n_stayers"] >= 150
    assert leavers["n_leavers"] + leavers["n_stayers"] == 300
    lv = {d["id"]: d for d in leavers["dimensions"]}
    assert lv[dims[2]]["predictive"] is True and lv[dims[2]]["direction"] == "negative"
    assert lv[dims[2]]["mean_leavers"] < lv[dims[2]]["mean_rest"] and lv[dims[2]]["ci"][1] < 0
    assert lv[dims[0]]["predictive"] is False and lv[dims[1]]["predictive"] is False
    # Top performers (top 10%) score higher on A, not on B.
    top = v["top_performers"]
    assert top["enough"] is True and top["n_top"] == 30 and top["n_rest"] == 270
    tp = {d["id"]: d for d in top["dimensions"]}
    assert tp[dims[0]]["ci"][0] > 0 and tp[dims[0]]["mean_top"] > tp[dims[0]]["mean_rest"]
    assert tp[dims[1]]["ci"][0] < 0 < tp[dims[1]]["ci"][1]
    assert tp[dims[0]]["min_top"] <= tp[dims[0]]["mean_top"]
    # Hit rates: the higher A, the more hires met the bar; B does not sort them.
    hits = {h["score_at_least"]: h for h in a["hit_rates"]}
    assert hits[80]["rate"] > hits[60]["rate"] > hits[50]["rate"] * 0.99
    assert hits[80]["ci"][0] < hits[80]["rate"] <= hits[80]["ci"][1]
    assert hits[50]["n"] > hits[80]["n"] > 0
    # The overall (mean of the three) predicts too, being a third A.
    assert v["overall"]["n"] == 300 and v["overall"]["predictive"] is True

    # A higher bar: fewer met it.
    _, strict = await hr.call("GET", f"/api/jobs/{job_id}/validity?bar=85", expect=200)
    strict_hits = {h["score_at_least"]: h for h in strict["dimensions"][0]["hit_rates"]}
    assert strict["bar"] == 85 and strict_hits[50]["rate"] < hits[50]["rate"]

    # n = 15: every verdict is "not enough data".
    _, s = await hr.call("GET", f"/api/jobs/{small_id}/validity", expect=200)
    assert s["n"] == 15 and s["not_enough_data"] is True and "not enough data" in s["message"]
    assert s["overall"]["predictive"] is None
    assert all(d["predictive"] is None and d["n"] == 15 and d["r"] is not None for d in s["dimensions"])
    assert all(d["predictive"] is None for d in s["early_leavers"]["dimensions"])
    assert s["early_leavers"]["enough"] is False and s["top_performers"]["enough"] is False

    # Every computation is a stored snapshot and an audit row; history newest first.
    _, h = await hr.call("GET", f"/api/jobs/{job_id}/validity/history", expect=200)
    assert [x["bar"] for x in h["snapshots"]] == [85, 70] and all(x["trigger"] == "request" for x in h["snapshots"])
    assert h["snapshots"][1]["dimensions"][0]["predictive"] is True and h["snapshots"][1]["n"] == 300
    audits = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "validity.compute")).all())
    assert len(audits) == 3 and {a.target_id for a in audits} == {job_id, small_id}

    # Bad input and other users' jobs.
    for bad in ("abc", "101", "-1", "nan"):
        status, body = await hr.call("GET", f"/api/jobs/{job_id}/validity?bar={bad}")
        assert status == 400 and "bar" in body["error"]
    other = await login(client, store, "other@example.com")
    for path in ("validity", "validity/history", "phrases", "kpis"):
        assert (await other.call("GET", f"/api/jobs/{job_id}/{path}"))[0] == 404
    assert (await hr.call("GET", "/api/jobs/999999/validity"))[0] == 404
    status, _ = await hr.call("GET", f"/api/jobs/{job_id}/kpis?period=week")
    assert status == 400

    # The schedule: both jobs are due (no scheduled snapshot yet), then neither until the period has passed.
    every = timedelta(days=90)
    assert sorted(await validity_api.refresh_all(store, every, NOW)) == sorted([job_id, small_id])
    assert await validity_api.refresh_all(store, every, NOW + timedelta(days=89)) == []
    assert sorted(await validity_api.refresh_all(store, every, NOW + timedelta(days=91))) == sorted([job_id, small_id])
    scheduled = store.run_sync(lambda db: db.exec(select(ValiditySnapshot).where(
        ValiditySnapshot.trigger == "schedule", ValiditySnapshot.job_id == job_id)).all())
    assert len(scheduled) == 2 and scheduled[0].data["dimensions"][0]["predictive"] is True
    system = store.run_sync(lambda db: db.exec(select(AuditLog).where(
        AuditLog.action == "validity.compute", AuditLog.actor_kind == "system")).all())
    assert len(system) == 4
    _, h = await hr.call("GET", f"/api/jobs/{job_id}/validity/history", expect=200)
    assert h["snapshots"][0]["trigger"] == "schedule"

    # The page: the verdicts in words, the charts as SVG, in English and in Chinese.
    from tests.test_report_page import page_login

    await page_login(client)
    job_page = await (await client.get(f"/jobs/{job_id}")).text()
    assert f'href="/jobs/{job_id}/validity"' in job_page
    resp = await client.get(f"/jobs/{job_id}/validity")
    assert resp.status == 200
    page = await resp.text()
    assert page.count('class="chart scatter-chart"') == 3 and 'id="r-bars"' in page
    assert page.count('class="fit"') == 3 and page.count('class="point"') == 900
    assert f'data-dimension-id="{dims[0]}"' in page and 'data-verdict="predicts"' in page
    assert page.count('data-verdict="none"') == 2 and "predicts performance" in page
    assert "no predictive value" in page and f'href="/jobs/{job_id}/recalibrations"' in page
    assert "low scorers leave early" in page
    zh = await (await client.get(f"/jobs/{job_id}/validity?period=quarter",
                                 headers={"Accept-Language": "zh-CN,zh;q=0.9"})).text()
    assert "<svg" in zh and "可预测绩效" in zh and "招聘关键指标" in zh and "no predictive value" not in zh
    small_page = await (await client.get(f"/jobs/{small_id}/validity")).text()
    assert 'id="not-enough"' in small_page and "not enough data (n &lt; 30)" in small_page
    assert (await client.get(f"/jobs/{job_id}/validity?bar=lots")).status == 400
    # Each page view is one more stored analysis.
    count = store.run_sync(lambda db: len(db.exec(select(ValiditySnapshot).where(
        ValiditySnapshot.job_id == job_id)).all()))
    assert count == 2 + 2 + 2


async def test_the_refresh_task_is_owned_and_its_period_read_from_the_environment(tmp_path: Path) -> None:
    from server.settings import Settings, SettingsError

    env = {"CANDOR_DATA_DIR": str(tmp_path / "data"), "CANDOR_MODELS_DIR": str(tmp_path / "models")}
    assert Settings.from_env(env).validity_refresh_days == 90
    assert Settings.from_env({**env, "CANDOR_VALIDITY_REFRESH_DAYS": "30"}).validity_refresh_days == 30
    assert Settings.from_env({**env, "CANDOR_VALIDITY_REFRESH_DAYS": "0"}).validity_refresh_days == 0
    with pytest.raises(SettingsError, match="VALIDITY_REFRESH_DAYS"):
        Settings.from_env({**env, "CANDOR_VALIDITY_REFRESH_DAYS": "-1"}).check()

    def refresh_tasks() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == "validity-refresh" and not t.done()]

    app = web.Application()
    app[settings_key] = Settings.from_env({**env, "CANDOR_VALIDITY_REFRESH_DAYS": "90"})
    ctx = validity_api.validity_refresh_ctx(app)
    await ctx.__anext__()
    assert len(refresh_tasks()) == 1  # started with the app...
    with pytest.raises(StopAsyncIteration):
        await ctx.__anext__()
    assert refresh_tasks() == []  # ...cancelled and awaited on cleanup
    app[settings_key] = Settings.from_env({**env, "CANDOR_VALIDITY_REFRESH_DAYS": "0"})
    ctx = validity_api.validity_refresh_ctx(app)
    await ctx.__anext__()
    assert refresh_tasks() == []  # off
    with pytest.raises(StopAsyncIteration):
        await ctx.__anext__()


# --- live interviews: phrases and KPIs ---------------------------------------------------------------

async def invite_many(hr: Api, template_id: int, names: list[str]) -> list[int]:
    ids = []
    for name in names:
        _, c = await hr.call("POST", "/api/candidates", json={
            "name": name, "email": f"{name.lower().replace(' ', '.')}@example.com"}, expect=201)
        ids.append(c["id"])
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": template_id, "candidate_ids": ids,
        "deadline": (NOW + timedelta(days=3)).isoformat()}, expect=201)
    return [int(i["interview_id"]) for i in inv["invitations"]]


def segment(iid: int, qi: int, text: str) -> TranscriptSegment:
    words = [{"word": w, "start_s": i * 0.4, "end_s": i * 0.4 + 0.3, "conf": 1.0} for i, w in enumerate(text.split())]
    return TranscriptSegment(interview_id=iid, question_index=qi, text=text, start_s=0.0,
                             end_s=len(words) * 0.4, words=words, live=True)


FILLER = ["we worked as a team and finished the project on time",
          "I talk to my manager and plan the week carefully",
          "the customer was happy with the result of our work",
          "I keep calm and focus on the next task",
          "we improved the process and documented everything"]


async def test_top_performers_phrases_are_suggested(client: Any, hr: Api, store: Any) -> None:
    creator = user_id(store, "hr@example.com")
    job_id, dims, tpl = await new_job(hr)
    interviews = await invite_many(hr, tpl, [f"Live Hire {i}" for i in range(40)])
    # Hires 0-3 are the top performers (top 10% of 40); they say "root cause" when asked about a
    # problem. Hire 4 says "synergy" over and over but is one person; two of the rest say "root cause" once.
    ratings = [95.0, 93.0, 92.0, 91.0] + [50.0 + i for i in range(36)]

    def work(db: Any) -> None:
        for i, iid in enumerate(interviews):
            itv = db.get(Interview, iid)
            itv.state, itv.consent, itv.completed_at = "completed", True, NOW - timedelta(days=400)
            db.add(itv)
            for d in dims:
                db.add(Score(interview_id=iid, dimension_id=d, question_index=None, score=60.0 + i % 7, evidence=[]))
            db.add(Decision(interview_id=iid, user_id=creator, decision="hire"))
            emp = Employee(candidate_id=itv.candidate_id, job_id=job_id, interview_id=iid,
                           hired_at=NOW - timedelta(days=390))
            db.add(emp)
            db.flush()
            db.add(PerformanceReview(employee_id=emp.id, period_end=NOW - timedelta(days=200), rating=ratings[i]))
            if i < 4:
                db.add(segment(iid, 0, "first we looked for the root cause of the failure"))
                db.add(segment(iid, 0, "then the Root Cause, analysis showed the supplier problem"))
                db.add(segment(iid, 1, FILLER[i % 5] + " and find the root cause"))
            elif i == 4:
                db.add(segment(iid, 0, "synergy synergy synergy " + FILLER[0]))
                db.add(segment(iid, 1, "synergy is key " + FILLER[1]))
            else:
                db.add(segment(iid, 0, FILLER[i % 5] + (" and the root cause" if i in (10, 20) else "")))
                db.add(segment(iid, 1, FILLER[(i + 2) % 5]))
    store.run_sync(work)

    _, p = await hr.call("GET", f"/api/jobs/{job_id}/phrases", expect=200)
    assert p["enough"] is True and p["n_top"] == 4 and p["n_rest"] == 36 and p["language"] == "en"
    found = {s["phrase"]: s for s in p["suggestions"]}
    assert "root cause" in found, p["suggestions"]
    rc = found["root cause"]
    assert rc["count_top"] == 8 and rc["count_rest"] == 2 and rc["z"] >= 1.96 and rc["people_top"] == 4
    assert rc["rule"] == {"signal": "mentions:root cause", "op": ">=", "value": 1, "points": 10}
    # Said in answers to question 1 (Analysis) and 2 (Bearing, Commitment); "root cause" is
    # already Analysis's keyword, so it is suggested for the others.
    assert {d["id"] for d in rc["dimensions"]} == {dims[1], dims[2]}
    assert p["suggestions"][0]["phrase"] in ("root cause", "root", "cause")
    # Not suggested: stop words, one talkative person's word, the words everybody says.
    for phrase in ("the", "and", "synergy", "we", "project"):
        assert phrase not in found
    # "root" and "cause" only ever come together: the phrase alone is offered.
    assert "root" not in found and "cause" not in found

    # The rule matches what the scoring counts: the phrase as mentions: sees it.
    from server.question_signals import Segment, Word, language_signals

    seg = Segment("We found the ROOT cause.", 0.0, 2.0, tuple(
        Word(w, i * 0.4, i * 0.4 + 0.3, 1.0) for i, w in enumerate("We found the ROOT cause.".split())))
    signals, _ = language_signals([seg], "What happened?", (), 2.0, phrases=("root cause",))
    assert signals["mentions:root cause"] == 1.0

    # The page lists it.
    from tests.test_report_page import page_login

    await page_login(client)
    page = await (await client.get(f"/jobs/{job_id}/validity")).text()
    assert 'id="phrase-table"' in page and "mentions:root cause" in page


async def test_kpis_per_month_and_quarter(client: Any, hr: Api, store: Any) -> None:
    creator = user_id(store, "hr@example.com")
    job_id, dims, tpl = await new_job(hr)
    iids = await invite_many(hr, tpl, ["Kpi One", "Kpi Two", "Kpi Three", "Kpi Four"])
    t = lambda m, d: datetime(2026, m, d, 12, tzinfo=timezone.utc)  # noqa: E731
    plan = [  # invited, completed, (decision, decided)
        (t(1, 10), t(1, 12), ("hire", t(1, 15))),
        (t(1, 20), t(2, 1), ("not_recommended", t(2, 10))),
        (t(2, 5), t(2, 6), ("talent_pool", t(2, 8))),
        (t(4, 1), None, None),
    ]

    def work(db: Any) -> None:
        for iid, (invited, completed, decision) in zip(iids, plan, strict=True):
            itv = db.get(Interview, iid)
            inv = db.get(Invitation, itv.invitation_id)
            inv.created_at = invited
            db.add(inv)
            if completed is not None:
                itv.state, itv.completed_at = "completed", completed
                db.add(itv)
            if decision is not None:
                db.add(Decision(interview_id=iid, user_id=creator, decision=decision[0], created_at=decision[1]))
    store.run_sync(work)

    _, k = await hr.call("GET", f"/api/jobs/{job_id}/kpis", expect=200)
    assert k["period"] == "month" and [p["period"] for p in k["periods"]] == ["2026-01", "2026-02", "2026-04"]
    jan, feb, apr = k["periods"]
    assert (jan["invitations_sent"], jan["completed_of_sent"], jan["completion_rate"]) == (2, 2, 1.0)
    assert jan["interviews_completed"] == 1 and jan["decisions"]["hire"] == 1
    assert jan["days_to_decision"] == {"n": 1, "median": 5.0, "mean": 5.0}
    assert feb["invitations_sent"] == 1 and feb["interviews_completed"] == 2
    assert feb["days_to_decision"] == {"n": 2, "median": 12.0, "mean": 12.0}
    assert feb["decisions"] == {"hire": 0, "second_interview": 0, "talent_pool": 1, "not_recommended": 1}
    assert (apr["invitations_sent"], apr["completed_of_sent"], apr["completion_rate"]) == (1, 0, 0.0)
    assert apr["days_to_decision"]["median"] is None
    _, q = await hr.call("GET", f"/api/jobs/{job_id}/kpis?period=quarter", expect=200)
    assert [p["period"] for p in q["periods"]] == ["2026-Q1", "2026-Q2"]
    q1 = q["periods"][0]
    assert (q1["invitations_sent"], q1["interviews_completed"], q1["completion_rate"]) == (3, 3, 1.0)
    assert q1["days_to_decision"] == {"n": 3, "median": 5.0, "mean": round(29 / 3, 2)}
    assert q["total"]["invitations_sent"] == 4 and q["total"]["completion_rate"] == 0.75

    from tests.test_report_page import page_login

    await page_login(client)
    page = await (await client.get(f"/jobs/{job_id}/validity?period=quarter")).text()
    assert "2026-Q1" in page and "75%" in page and 'id="kpi-table"' in page
    # Nobody hired yet: the analysis says so instead of failing.
    _, v = await hr.call("GET", f"/api/jobs/{job_id}/validity", expect=200)
    assert v["n"] == 0 and v["not_enough_data"] is True and v["top_performers"]["n_top"] == 0


@pytest.fixture(autouse=True)
def _quiet_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """No scheduled refresh inside the test app (the tests call refresh_all themselves)."""
    monkeypatch.setenv("CANDOR_VALIDITY_REFRESH_DAYS", "0")


def test_phrases_are_normalised_as_the_scoring_matches_them() -> None:
    from server.phrases import answer_terms, log_odds

    assert answer_terms([["The", "ROOT", "cause,", "um", "and", "2"]], "en") == {"root", "cause", "root cause"}
    # No phrase across a stop word; Korean particles go (phrases match inside words there).
    assert answer_terms([["근본", "원인을", "찾았습니다", "그리고"]], "ko") == {
        "근본", "원인", "찾았", "근본 원인", "원인 찾았"}
    assert answer_terms([["我们", "找到", "了", "根本", "原因"]], "zh-CN") == {"找到", "根本", "原因", "根本原因"}
    # The statistic: as often in both groups -> z near 0; more in the top -> positive; the same
    # ratio on tiny counts -> a smaller z (the prior shrinks it).
    from collections import Counter

    base = Counter({"plan": 50, "team": 50})
    scores = log_odds(Counter({**base, "same": 10, "more": 30, "rare": 3}), Counter({**base, "same": 10, "more": 5,
                                                                                      "rare": 0}))
    assert abs(scores["same"][1]) < 0.5 and scores["more"][1] > 2 and 0 < scores["rare"][1] < scores["more"][1]
