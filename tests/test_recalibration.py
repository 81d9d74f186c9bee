"""Recalibration (issue 15): weights fitted to performance after hire move toward the dimension
that predicts and away from noise; a proposal that drops a group's impact ratio below 0.8 is
refused until HR overrides with a reason; applying saves a job version under which new interviews
are scored, rolling back another with the old weights; shadow mode adds the overall under the
proposed weights to reports; too few rated hires is "not enough data". Generated people as
database rows (imported past interviews, employees, reviews, self-identification), the real API."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from sqlmodel import select

from conftest import Api
from server.recalibration import MIN_HIRES, nnls
from server.store import stored_id
from server.tables import (
    AuditLog, Candidate, Employee, Interview, PastInterview, PerformanceReview, QuestionSignals, Recalibration,
    SelfIdentification, User, utcnow,
)
from tests.test_report_page import page_login
from tests.test_versions import DEADLINE

DIMS = [{"name": "Problem analysis", "keywords": ["root cause", "hypothesis"]},
        {"name": "Dress and appearance", "keywords": ["suit"]}]


async def new_job(hr: Api) -> tuple[int, list[int], int]:
    _, job = await hr.call("POST", "/api/jobs", json={"title": "Analyst", "language": "en", "dimensions": DIMS},
                           expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "Standard", "questions": [
        {"text": "How do you find a root cause?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
        {"text": "How do you dress for a client?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]}, expect=201)
    return job["id"], dims, tpl["id"]


def fill(store: Any, job_id: int, dims: list[int], *, hires: int = 300, others: int = 300, biased: bool = False,
         seed: int = 7) -> None:
    """Past interviews of the job: `hires` hired with performance reviews, `others` not hired,
    everyone self-identified (sex F/M alternating, race/ethnicity P/Q, and 3 people "Z" who
    scored lowest: a small sample). Dimension A predicts the rating, B is noise. `biased`: A is
    8 points lower for F, B 8 points higher, so equal weights select both sexes alike and weights
    leaning on A do not."""
    rng = np.random.default_rng(seed)
    a_dim, b_dim = dims

    def work(db: Any) -> None:
        user = db.exec(select(User).where(User.email == "hr@example.com")).one()
        now = utcnow()
        for i in range(hires + others + 3):
            sex = "F" if i % 2 else "M"
            shift = (-8.0 if sex == "F" else 0.0) if biased else 0.0
            a, b = rng.normal(60 + shift, 12), rng.normal(60 - shift, 12)
            race = "P" if rng.random() < 0.5 else "Q"
            small = i >= hires + others
            if small:
                a, b, race = 10.0, 10.0, "Z"
            a, b = float(np.clip(a, 0, 100)), float(np.clip(b, 0, 100))
            hired = i < hires
            cand = Candidate(name=f"P{i}", email=f"p{job_id}-{i}@example.com", created_by=user.id,
                             status="hired" if hired else "not_recommended")
            db.add(cand)
            db.flush()
            past = PastInterview(candidate_id=stored_id(cand), job_id=job_id, interviewed_at=now - timedelta(days=500),
                                 decision="hire" if hired else "not_recommended",
                                 scores={str(a_dim): a, str(b_dim): b}, overall=(a + b) / 2, imported_by=user.id)
            db.add(past)
            db.add(SelfIdentification(candidate_id=stored_id(cand), sex=sex, race_ethnicity=race, source="import"))
            db.flush()
            if hired:
                employee = Employee(candidate_id=stored_id(cand), job_id=job_id, past_interview_id=stored_id(past),
                                    hired_at=now - timedelta(days=400), source="history")
                db.add(employee)
                db.flush()
                rating = float(np.clip(50 + 0.8 * (a - 60) + rng.normal(0, 8), 0, 100))
                db.add(PerformanceReview(employee_id=stored_id(employee), period_end=now - timedelta(days=30),
                                         rating=rating))

    store.run_sync(work)


def complete(store: Any, iid: int) -> None:
    """A completed interview from stored signals (no live session): question 1 hears both of
    A's keywords (60 points), question 2 none of B's and half coherence (10 points)."""
    def work(db: Any) -> None:
        interview = db.get(Interview, iid)
        interview.state, interview.consent, interview.question_index = "completed", True, 1
        interview.started_at = interview.completed_at = utcnow()
        db.add(interview)
        db.add(QuestionSignals(interview_id=iid, question_index=0, signals={
            "word_count": 40.0, "coherence": 1.0, "keyword_hits:root cause": 1.0, "keyword_hits:hypothesis": 1.0}))
        db.add(QuestionSignals(interview_id=iid, question_index=1, signals={"word_count": 40.0, "coherence": 0.5}))

    store.run_sync(work)


async def interview_under_newest_version(hr: Api, store: Any, tpl: int, name: str) -> dict[str, Any]:
    _, cand = await hr.call("POST", "/api/candidates", json={"name": name, "email": f"{name}@example.com"},
                            expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": [cand["id"]], "deadline": DEADLINE}, expect=201)
    iid = int(inv["invitations"][0]["interview_id"])
    complete(store, iid)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    return dict(report)


def weighted(report: dict[str, Any], weights: dict[str, float]) -> float:
    scores = {str(d["id"]): d["score"] for d in report["dimensions"]}
    return round(sum(weights[k] * s for k, s in scores.items()) / sum(weights[k] for k in scores), 1)


def audits(store: Any, action: str) -> list[AuditLog]:
    return store.run_sync(lambda db: list(db.exec(select(AuditLog).where(AuditLog.action == action))))


def test_nnls_meets_its_optimality_conditions() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.normal(size=(60, 5))
        b = a @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(size=60)
        x = nnls(a, b)
        gradient = a.T @ (b - a @ x)
        assert (x >= 0).all()
        assert np.allclose(gradient[x > 0], 0, atol=1e-8)  # free coordinates: least squares
        assert (gradient[x == 0] <= 1e-8).all()  # bound ones: moving off zero would not help
        assert x[1] == 0 and x[4] > 2  # the negative truth is held at zero


async def test_the_predictive_dimension_gains_weight_and_the_noise_loses_it(client: Any, hr: Api, store: Any) -> None:
    job_id, (a, b), _ = await new_job(hr)
    fill(store, job_id, [a, b])
    _, rec = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    assert rec["state"] == "proposed" and rec["n"] == 300 and rec["base_version"] == 1
    assert rec["current"] == {str(a): 1.0, str(b): 1.0}
    assert rec["proposed"][str(a)] > 1.4 and rec["proposed"][str(b)] < 0.6
    assert abs(sum(rec["proposed"].values()) - 2.0) < 1e-3  # summing like today's
    # The fit gives the noise nothing: proposed for removal, kept at the floor (1% of the total),
    # since a job version cannot hold a weight of 0.
    assert rec["removal"] == [b] and rec["proposed"][str(b)] == 0.02
    validity = rec["validity"]
    lo, hi = validity["proposed"]["ci"]
    assert lo < validity["proposed"]["r"] < hi and validity["proposed"]["n"] == 300
    assert validity["proposed"]["r"] > validity["current"]["r"]
    gain = validity["gain"]
    assert gain["value"] >= 0 and gain["ci"][0] > 0 and gain["ci"][0] <= gain["value"] <= gain["ci"][1]
    # Nobody's group moved enough: allowed; the small sample (Z, 3 people, none selected) does not count.
    assert rec["allowed"] is True, rec["reason"]
    assert rec["impact_ratios"]["proposed"]["race_ethnicity"]["Z"] == 0.0
    assert "small samples" in rec["reason"] and "race_ethnicity: Z" in rec["reason"]
    assert set(rec["impact_ratios"]["current"]["sex"]) == {"F", "M"}

    _, listed = await hr.call("GET", f"/api/jobs/{job_id}/recalibrations", expect=200)
    assert [r["id"] for r in listed["recalibrations"]] == [rec["id"]]
    _, one = await hr.call("GET", f"/api/recalibrations/{rec['id']}", expect=200)
    assert one["proposed"] == rec["proposed"] and one["validity"] == rec["validity"]
    [row] = audits(store, "recalibration.propose")
    assert row.target_id == rec["id"] and row.detail["allowed"] is True and row.detail["n"] == 300
    assert (await hr.call("GET", "/api/recalibrations/999"))[0] == 404
    assert (await hr.call("POST", "/api/jobs/999/recalibrations"))[0] == 404


async def test_a_proposal_that_drops_a_group_below_four_fifths_is_refused_until_overridden(
        client: Any, hr: Api, store: Any) -> None:
    job_id, (a, b), _ = await new_job(hr)
    fill(store, job_id, [a, b], biased=True)
    _, rec = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    assert rec["proposed"][str(a)] > rec["proposed"][str(b)]
    ratios = rec["impact_ratios"]
    assert ratios["current"]["sex"]["F"] >= 0.8  # equal weights: both sexes alike
    assert ratios["proposed"]["sex"]["F"] < 0.8
    assert rec["allowed"] is False
    assert f"sex: F {ratios['proposed']['sex']['F']:.2f} < 0.8 under the proposed weights" in rec["reason"]

    status, body = await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply")
    assert status == 409 and "sex: F" in body["error"]
    assert (await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply", json={"override_reason": "  "}))[0] == 409
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["version"] == 1

    why = "The analyst role is re-scoped; the panel reviewed the effect and accepts it."
    _, applied = await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply", json={"override_reason": why},
                               expect=200)
    assert applied["version"] == 2
    _, one = await hr.call("GET", f"/api/recalibrations/{rec['id']}", expect=200)
    assert one["state"] == "applied" and one["override_reason"] == why and one["applied_version"] == 2
    [row] = audits(store, "recalibration.apply")
    assert row.detail["overridden"] is True and row.detail["allowed"] is False and row.detail["version"] == 2
    assert row.detail["override_reason_sha256"] is not None and why not in str(row.detail)
    # Applied once: not again.
    assert (await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply", json={"override_reason": why}))[0] == 409


async def test_apply_and_roll_back_score_new_interviews_under_each(client: Any, hr: Api, store: Any) -> None:
    job_id, (a, b), tpl = await new_job(hr)
    fill(store, job_id, [a, b])
    before = await interview_under_newest_version(hr, store, tpl, "before")
    assert before["job"]["version"] == 1 and before["overall"]["score"] == weighted(before, {str(a): 1, str(b): 1})
    _, rec = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    proposed = rec["proposed"]

    _, applied = await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply", expect=200)
    assert applied["version"] == 2
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert {str(d["id"]): d["weight"] for d in job["dimensions"]} == proposed
    _, history = await hr.call("GET", f"/api/jobs/{job_id}/versions", expect=200)
    assert history["versions"][0]["note"] == f"recalibration {rec['id']}"
    assert any("weight changed" in c for c in history["versions"][0]["changes"])
    after = await interview_under_newest_version(hr, store, tpl, "after")
    assert after["job"]["version"] == 2
    assert after["overall"]["score"] == weighted(after, proposed) != before["overall"]["score"]
    # The interview from before keeps its version's weights.
    _, again = await hr.call("GET", f"/api/interviews/{before['interview_id']}/report", expect=200)
    assert again["overall"]["score"] == before["overall"]["score"]
    assert [r.detail["version"] for r in audits(store, "job.edit")] == [2]

    _, rolled = await hr.call("POST", f"/api/recalibrations/{rec['id']}/rollback", expect=200)
    assert rolled["version"] == 3
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert {str(d["id"]): d["weight"] for d in job["dimensions"]} == {str(a): 1.0, str(b): 1.0}
    latest = await interview_under_newest_version(hr, store, tpl, "latest")
    assert latest["job"]["version"] == 3 and latest["overall"]["score"] == before["overall"]["score"]
    _, one = await hr.call("GET", f"/api/recalibrations/{rec['id']}", expect=200)
    assert one["state"] == "rolled_back" and one["rollback_version"] == 3
    [row] = audits(store, "recalibration.rollback")
    assert row.detail["version"] == 3
    assert (await hr.call("POST", f"/api/recalibrations/{rec['id']}/rollback"))[0] == 409

    # A proposal made before another edit of the job is stale: 409, nothing saved.
    _, stale = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"title": "Analyst (2027)"}, expect=200)
    status, body = await hr.call("POST", f"/api/recalibrations/{stale['id']}/apply")
    assert status == 409 and "changed since" in body["error"]


async def test_shadow_mode_adds_the_overall_under_the_proposed_weights(client: Any, hr: Api, store: Any) -> None:
    job_id, (a, b), tpl = await new_job(hr)
    fill(store, job_id, [a, b])
    _, rec = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    plain = await interview_under_newest_version(hr, store, tpl, "plain")
    assert "shadow" not in plain

    _, on = await hr.call("POST", f"/api/recalibrations/{rec['id']}/shadow", json={"on": True}, expect=200)
    assert on["state"] == "shadow"
    report = await interview_under_newest_version(hr, store, tpl, "shadowed")
    assert report["shadow"] == {"recalibration_id": rec["id"], "overall": weighted(report, rec["proposed"])}
    assert report["overall"]["score"] == weighted(report, rec["current"]) != report["shadow"]["overall"]
    # The report page says it too, next to the overall.
    from tests.test_report_page import page_login
    await page_login(hr.client)
    page = await (await hr.client.get(f"/interviews/{report['interview_id']}/report")).text()
    assert 'id="shadow-overall"' in page and f'href="/recalibrations/{rec["id"]}"' in page
    assert f"In shadow mode: {report['shadow']['overall']:.0f} under the proposed weights" in page
    # Only one shadow per job.
    _, other = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations", expect=201)
    assert (await hr.call("POST", f"/api/recalibrations/{other['id']}/shadow", json={"on": True}))[0] == 409

    _, off = await hr.call("POST", f"/api/recalibrations/{rec['id']}/shadow", json={"on": False}, expect=200)
    assert off["state"] == "proposed"
    _, report = await hr.call("GET", f"/api/interviews/{report['interview_id']}/report", expect=200)
    assert "shadow" not in report
    assert [r.detail["on"] for r in audits(store, "recalibration.shadow")] == [True, False]
    # Applying from shadow ends it.
    await hr.call("POST", f"/api/recalibrations/{rec['id']}/shadow", json={"on": True}, expect=200)
    await hr.call("POST", f"/api/recalibrations/{rec['id']}/apply", expect=200)
    rows = store.run_sync(lambda db: list(db.exec(select(Recalibration).where(Recalibration.state == "shadow"))))
    assert rows == []


async def test_fewer_than_30_rated_hires_is_not_enough_data(client: Any, hr: Api, store: Any) -> None:
    job_id, dims, _ = await new_job(hr)
    fill(store, job_id, dims, hires=MIN_HIRES - 1, others=40)
    status, body = await hr.call("POST", f"/api/jobs/{job_id}/recalibrations")
    assert status == 422
    assert body["error"] == "not enough data: 29 hires with ratings, 30 needed"
    assert store.run_sync(lambda db: db.exec(select(Recalibration)).all()) == []


async def test_the_pages_propose_show_refuse_apply_and_roll_back(client: Any, hr: Api, store: Any) -> None:
    job_id, (a, b), _ = await new_job(hr)
    fill(store, job_id, [a, b], biased=True)
    csrf = await page_login(client)
    page = await (await client.get(f"/jobs/{job_id}/recalibrations")).text()
    assert "Propose new weights" in page and 'id="none"' in page
    resp = await client.post(f"/jobs/{job_id}/recalibrations", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    detail = resp.headers["Location"]
    rid = int(detail.rsplit("/", 1)[1])
    assert (await client.post(f"/jobs/{job_id}/recalibrations", data={}, allow_redirects=False)).status == 403

    page = await (await client.get(detail)).text()
    assert "Refused by the fairness check" in page and 'class="failing"' in page
    assert "Sex / gender: F at" in page and 'name="override_reason"' in page and "required" in page
    assert 'id="weights-table"' in page and 'id="validity-gain"' in page and "no predictive value" in page
    assert 'class="flagged"' in page and ">0.8</text>" in page  # the failing row and the 0.8 line

    # Apply without a reason: the page again, with the refusal; with one: a new version.
    resp = await client.post(f"/recalibrations/{rid}/apply", data={"csrf_token": csrf, "override_reason": ""},
                             allow_redirects=False)
    assert resp.status == 409 and "refused by the fairness check" in (await resp.text()).lower()
    resp = await client.post(f"/recalibrations/{rid}/apply", allow_redirects=False,
                             data={"csrf_token": csrf, "override_reason": "Reviewed by the panel."})
    assert resp.status == 303
    page = await (await client.get(detail)).text()
    assert "Applied as job version 2." in page and "Reviewed by the panel." in page and 'id="rollback-form"' in page
    resp = await client.post(f"/recalibrations/{rid}/rollback", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get(detail)).text()
    assert "Rolled back in job version 3." in page

    # In Chinese.
    page = await (await client.get(detail, headers={"Accept-Language": "zh-CN"})).text()
    assert "未通过公平性检查" in page and "已在岗位第 3 版中回滚。" in page
    listing = await (await client.get(f"/jobs/{job_id}/recalibrations", headers={"Accept-Language": "zh-CN"})).text()
    assert "提出新权重" in listing and f'href="/recalibrations/{rid}"' in listing
