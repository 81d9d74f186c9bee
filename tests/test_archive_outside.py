"""The employee archive's loop as another system drives it, through the public API only (DESIGN.md
"Employees, imports, validity"): past interviews, performance, departures and self-identification
come in as CSV; the validity analysis tells a predictive dimension from noise and from one that
predicts early leaving, with intervals covering the truth; at n = 15 it says "not enough data";
a recalibration that would drop a group below four-fifths is refused until HR overrides it."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import numpy as np

from conftest import Api

CSV = {"Content-Type": "text/csv"}
DIMS = ("Problem solving", "Dress", "Commitment")  # predicts performance | noise | predicts staying
TRUE_R = 0.5


async def post_csv(api: Api, kind: str, rows: list[dict[str, Any]]) -> tuple[int, Any]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    resp = await api.client.post(f"/api/imports/{kind}", data=out.getvalue().encode(),
                                 headers={**api.headers, **CSV})
    return resp.status, await resp.json()


def company(n: int, seed: int, biased: bool = False) -> dict[str, list[dict[str, Any]]]:
    """n hires (and as many not hired) of one job. Performance = TRUE_R * z(problem solving) +
    noise (so corr = TRUE_R); low commitment -> leaves within 3 months; dress is noise. With
    `biased`, group F scores 8 lower on problem solving and 8 higher on dress (for the same
    performance): today's equal weights cancel the two out, weights fitted to performance do not."""
    rng = np.random.default_rng(seed)
    history, performance, departures, demographics = [], [], [], []
    start = date(2022, 1, 3)
    for i in range(2 * n):
        hired = i < n
        sex = "F" if i % 2 else "M"
        z = rng.standard_normal(3)
        shift = 8 if biased and sex == "F" else 0
        skill = 60 + 12 * z[0] - shift
        scores = {DIMS[0]: skill, DIMS[1]: 60 + 12 * z[1] + shift, DIMS[2]: 60 + 12 * z[2]}
        interviewed = start + timedelta(days=i % 300)
        email = f"s{seed}p{i}@example.com"
        history.append({"email": email, "name": f"Person {i}", "job_id": "{job}",
                        "interviewed_at": interviewed.isoformat(),
                        "decision": "hire" if hired else "not_recommended",
                        "hired_at": (interviewed + timedelta(days=20)).isoformat() if hired else "",
                        **{k: f"{min(100.0, max(0.0, v)):.1f}" for k, v in scores.items()}})
        demographics.append({"email": email, "sex": sex, "race_ethnicity": ""})
        if not hired:
            continue
        hired_on = interviewed + timedelta(days=20)
        # Performance follows the ability behind the score (z): it correlates TRUE_R with it.
        rating = 65 + 10 * (TRUE_R * z[0] + np.sqrt(1 - TRUE_R ** 2) * rng.standard_normal())
        for quarter in (1, 2):
            performance.append({"email": email, "period_end": (hired_on + timedelta(days=91 * quarter)).isoformat(),
                                "rating": f"{min(100.0, max(0.0, rating + rng.normal(0, 1))):.1f}"})
        if scores[DIMS[2]] < 52:
            departures.append({"email": email, "left_at": (hired_on + timedelta(days=80)).isoformat(),
                               "voluntary": "true"})
    return {"history": history, "performance": performance, "departures": departures,
            "demographics": demographics}


async def make_job(api: Api, title: str) -> tuple[int, dict[str, int]]:
    _, job = await api.call("POST", "/api/jobs", json={"title": title, "language": "en", "dimensions": [
        {"name": d, "keywords": ["word"]} for d in DIMS]}, expect=201)
    return job["id"], {d["name"]: d["id"] for d in job["dimensions"]}


async def load(api: Api, job_id: int, data: dict[str, list[dict[str, Any]]]) -> None:
    for row in data["history"]:
        row["job_id"] = job_id
    for kind in ("history", "performance", "departures", "demographics"):
        if data[kind]:
            status, body = await post_csv(api, kind, data[kind])
            assert (status, body) == (200, {"imported": len(data[kind])}), (kind, body)


async def test_validity_tells_prediction_from_noise_and_early_leaving(admin: Api) -> None:
    job_id, dim_ids = await make_job(admin, "Analyst")
    await load(admin, job_id, company(300, seed=7))
    _, v = await admin.call("GET", f"/api/jobs/{job_id}/validity", expect=200)
    assert v["n"] == 300
    by = {d["name"]: d for d in v["dimensions"]}
    assert set(by) == set(DIMS) and by[DIMS[0]]["id"] == dim_ids[DIMS[0]]
    skill, dress, stay = by[DIMS[0]], by[DIMS[1]], by[DIMS[2]]
    # Scores are clipped to 0-100 and ratings a little noisy: the truth is a shade under TRUE_R.
    assert skill["predictive"] is True and skill["ci"][0] <= TRUE_R * 0.98 <= skill["ci"][1], skill
    assert skill["ci"][0] > 0.3 and skill["n"] == 300
    assert dress["predictive"] is False and dress["ci"][0] < 0 < dress["ci"][1], dress
    assert stay["predictive"] is False, stay  # commitment says who leaves, not how well they work
    leavers = {d["name"]: d for d in v["early_leavers"]["dimensions"]}
    assert v["early_leavers"]["enough"] is True
    assert leavers[DIMS[2]]["predictive"] is True and leavers[DIMS[2]]["difference"] < -10, leavers[DIMS[2]]
    assert leavers[DIMS[1]]["predictive"] is False
    assert v["overall"]["n"] == 300 and v["overall"]["predictive"] is True

    # The same company with 15 hires: nothing can be said yet.
    small_id, _ = await make_job(admin, "Analyst (small)")
    await load(admin, small_id, company(15, seed=8) | {"demographics": []})
    _, small = await admin.call("GET", f"/api/jobs/{small_id}/validity", expect=200)
    assert small["n"] == 15
    assert small["overall"]["predictive"] is None
    assert all(d["predictive"] is None for d in small["dimensions"]), small["dimensions"]
    status, refused = await admin.call("POST", f"/api/jobs/{small_id}/recalibrations", json={})
    assert status == 422 and "not enough data" in refused["error"]


async def test_a_recalibration_that_drops_a_group_below_four_fifths_is_refused(admin: Api) -> None:
    job_id, dim_ids = await make_job(admin, "Technician")
    await load(admin, job_id, company(300, seed=11, biased=True))
    status, rec = await admin.call("POST", f"/api/jobs/{job_id}/recalibrations", json={})
    assert status == 201, rec
    skill = str(dim_ids[DIMS[0]])
    assert rec["proposed"][skill] > rec["current"][skill]  # the predictive dimension counts more
    assert rec["impact_ratios"]["current"]["sex"]["F"] >= 0.8
    assert rec["impact_ratios"]["proposed"]["sex"]["F"] < 0.8
    assert rec["allowed"] is False and "F" in rec["reason"], rec["reason"]
    status, body = await admin.call("POST", f"/api/recalibrations/{rec['id']}/apply", json={})
    assert status == 409, body
    _, job = await admin.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job.get("version", 1) == 1
    _, applied = await admin.call("POST", f"/api/recalibrations/{rec['id']}/apply",
                                  json={"override_reason": "Validated with the works council on 2026-11-30"},
                                  expect=200)
    _, job = await admin.call("GET", f"/api/jobs/{job_id}", expect=200)
    weights = {d["id"]: d["weight"] for d in job["dimensions"]}
    assert applied["version"] == 2 and weights[dim_ids[DIMS[0]]] > weights[dim_ids[DIMS[1]]]
    _, back = await admin.call("POST", f"/api/recalibrations/{rec['id']}/rollback", json={}, expect=200)
    _, job = await admin.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert back["version"] == 3 and len({d["weight"] for d in job["dimensions"]}) == 1


async def test_a_job_family_pools_its_jobs_where_each_alone_has_too_few(admin: Api) -> None:
    jobs = []
    for seed, title in ((21, "Backend engineer"), (22, "Frontend engineer")):
        job_id, _ = await make_job(admin, title)
        await load(admin, job_id, company(25, seed=seed) | {"demographics": []})
        _, set_to = await admin.call("PUT", f"/api/jobs/{job_id}/family", json={"family": " Engineering "},
                                     expect=200)
        assert set_to == {"id": job_id, "family": "Engineering"}
        _, alone = await admin.call("GET", f"/api/jobs/{job_id}/validity", expect=200)
        assert alone["n"] == 25 and alone["not_enough_data"] is True
        jobs.append(job_id)
    other, _ = await make_job(admin, "Cashier")
    await admin.call("PUT", f"/api/jobs/{other}/family", json={"family": "retail"}, expect=200)
    _, listed = await admin.call("GET", "/api/job-families", expect=200)
    assert listed["families"] == [{"family": "Engineering", "jobs": 2}, {"family": "retail", "jobs": 1}]
    _, pooled = await admin.call("GET", "/api/job-families/engineering/validity", expect=200)
    assert pooled["job_ids"] == jobs and pooled["n"] == 50 and pooled["not_enough_data"] is False
    by = {d["name"]: d for d in pooled["dimensions"]}
    assert set(by) == set(DIMS) and all(d["id"] is None for d in pooled["dimensions"])
    assert by[DIMS[0]]["predictive"] is True and by[DIMS[0]]["ci"][0] <= TRUE_R <= by[DIMS[0]]["ci"][1]
    assert by[DIMS[1]]["predictive"] is False
    # The validity page shows the family's pooled analysis and sets the family with its form.
    from tests.test_report_page import page_login

    csrf = await page_login(admin.client, "admin@example.com")
    page = await (await admin.client.get(f"/jobs/{jobs[0]}/validity")).text()
    assert 'id="family-table"' in page and 'value="Engineering"' in page and "50" in page
    resp = await admin.client.post(f"/jobs/{other}/family", data={"csrf_token": csrf, "family": "Engineering"},
                                   allow_redirects=False)
    assert resp.status == 303
    _, pooled3 = await admin.call("GET", "/api/job-families/ENGINEERING/validity", expect=200)
    assert pooled3["job_ids"] == [*jobs, other]
    resp = await admin.client.post(f"/jobs/{other}/family", data={"family": "retail"}, allow_redirects=False)
    assert resp.status == 403  # no CSRF token
    status, body = await admin.call("GET", "/api/job-families/nursing/validity")
    assert status == 404 and "nursing" in body["error"]
    status, body = await admin.call("PUT", f"/api/jobs/{other}/family", json={"family": "x" * 41})
    assert status == 422
