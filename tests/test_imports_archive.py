"""Imports for the employee archive (`POST /api/imports/{kind}`): history (past interviews,
with the candidates, past interviews and employees they make), performance, departures,
training and outcomes. A good file imports; a file with bad rows imports nothing and names every
bad row; a corrected file imported again corrects what is stored; 5,000 rows stay quick."""
from __future__ import annotations

import io
import time
from typing import Any

import pytest
from openpyxl import Workbook
from sqlmodel import select

from conftest import Api, login, make_job_and_template
from server.tables import (
    Candidate, Employee, OutcomeRecord, PastInterview, PerformanceReview, RecruitmentRecord, TrainingRecord,
)

CSV = {"Content-Type": "text/csv"}


async def post(api: Api, kind: str, text: str) -> tuple[int, Any]:
    resp = await api.client.post(f"/api/imports/{kind}", data=text.encode(), headers={**api.headers, **CSV})
    return resp.status, await resp.json()


def counts(store: Any) -> dict[str, int]:
    tables = (Candidate, PastInterview, Employee, RecruitmentRecord, PerformanceReview, TrainingRecord, OutcomeRecord)
    return store.run_sync(lambda db: {t.__name__: len(db.exec(select(t)).all()) for t in tables})


HISTORY = ("email,name,job_id,interviewed_at,decision,hired_at,Project management,Safety,notes\n"
           "ann@example.com,Ann,{job},2023-01-10,hire,2023-02-01,80,60,first\n"
           "bob@example.com,Bob,{job},2023-01-11,not_recommended,,40,,\n"
           "Cy@Example.com,Cy,{job},2023-01-12T10:00:00Z,hire,2023-03-01,90,70,\n")


async def history_job(hr: Api) -> tuple[int, list[int]]:
    """The test job with weights 3 (Project management) and 1 (Safety)."""
    job_id, dims, _ = await make_job_and_template(hr)
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    edit = [{"id": d["id"], "name": d["name"], "weight": w} for d, w in zip(job["dimensions"], (3.0, 1.0), strict=True)]
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": edit}, expect=200)
    return job_id, dims


async def test_history_makes_candidates_past_interviews_and_employees(client: Any, hr: Api, store: Any) -> None:
    job_id, dims = await history_job(hr)
    store.run_sync(lambda db: db.add(Candidate(name="Cy Old", email="cy@example.com", created_by=1)))
    before = counts(store)
    status, body = await post(hr, "history", HISTORY.format(job=job_id))
    assert (status, body) == (200, {"imported": 3}), body
    after = counts(store)
    assert after["Candidate"] - before["Candidate"] == 2  # Cy existed (matched in any case)
    assert after["PastInterview"] == 3 and after["Employee"] == 2 and after["RecruitmentRecord"] == 2
    past = store.run_sync(lambda db: {c.email: (p.overall, p.scores, p.decision, c.status) for p, c in db.exec(
        select(PastInterview, Candidate).where(PastInterview.candidate_id == Candidate.id)).all()})
    # The overall is the weighted mean under the job's current weights (3 and 1).
    assert past["ann@example.com"][0] == pytest.approx((3 * 80 + 60) / 4, abs=0.05)
    assert past["bob@example.com"][:3] == (40.0, {str(dims[0]): 40.0, str(dims[1]): None}, "not_recommended")
    assert past["bob@example.com"][3] == "not_recommended" and past["cy@example.com"][3] == "hired"
    _, listed = await hr.call("GET", f"/api/employees?job_id={job_id}", expect=200)
    by_email = {e["email"]: e for e in listed["employees"]}
    assert set(by_email) == {"ann@example.com", "cy@example.com"}
    assert by_email["ann@example.com"]["source"] == "history"
    assert by_email["ann@example.com"]["hired_at"].startswith("2023-02-01")
    _, ann = await hr.call("GET", f"/api/employees/{by_email['ann@example.com']['id']}", expect=200)
    rec = ann["recruitment_record"]
    assert rec["source"] == "history" and rec["decision"]["decision"] == "hire"
    assert [(d["name"], d["score"]) for d in rec["dimensions"]] == [("Project management", 80.0), ("Safety", 60.0)]
    assert rec["overall_score"] == pytest.approx(75.0)

    # The same file again corrects (no duplicates); a changed score is taken.
    status, body = await post(hr, "history", HISTORY.format(job=job_id).replace(",80,60,", ",100,60,"))
    assert status == 200, body
    assert counts(store) == after
    assert store.run_sync(lambda db: db.exec(select(PastInterview).where(
        PastInterview.overall == 90.0)).first()) is not None

    # A job this HR user cannot see is a row error, like an unknown one.
    other = await login(client, store, "other@example.com")
    status, body = await post(other, "history", HISTORY.format(job=job_id))
    assert status == 422 and [r["row"] for r in body["rows"]] == [2, 3, 4]
    assert all(f"job {job_id} not found" in r["error"] for r in body["rows"])


async def test_history_with_bad_rows_imports_nothing_and_names_each(client: Any, hr: Api, store: Any) -> None:
    job_id, _ = await history_job(hr)
    await post(hr, "history", HISTORY.format(job=job_id))
    before = counts(store)
    bad = ("email,name,job_id,interviewed_at,decision,hired_at,Project management,Safety\n"
           "dan@example.com,Dan,{job},2023-01-10,hire,2023-02-01,80,60\n"  # good
           "not-an-email,Eve,{job},2023-01-10,talent_pool,,50,50\n"
           "fay@example.com,Fay,999999,2023-01-10,talent_pool,,50,50\n"
           "gus@example.com,Gus,{job},2023-13-45,talent_pool,,50,50\n"
           "hal@example.com,Hal,{job},2023-01-10,hire,,50,50\n"
           "ivy@example.com,Ivy,{job},2023-01-10,maybe,,50,150\n"
           "jon@example.com,Jon,{job},2023-01-10,talent_pool,,,\n"
           "ann@example.com,Ann,{job},2024-05-05,hire,2024-06-01,70,70\n"
           "dan@example.com,Dan,{job},2023-01-10,talent_pool,,80,60\n").format(job=job_id)
    status, body = await post(hr, "history", bad)
    assert status == 422, body
    rows = {r["row"]: r["error"] for r in body["rows"]}
    assert sorted(rows) == [3, 4, 5, 6, 7, 8, 9, 10], rows
    assert "email" in rows[3] and "job 999999 not found" in rows[4] and "interviewed_at" in rows[5]
    assert "a hire needs hired_at" in rows[6]
    assert "decision 'maybe'" in " ".join(e["error"] for e in body["rows"] if e["row"] == 7)
    assert "Safety 150 is outside 0-100" in " ".join(e["error"] for e in body["rows"] if e["row"] == 7)
    assert "no score for any dimension" in rows[8] and "Project management, Safety" in rows[8]
    assert "already is an employee" in rows[9] and "row 2" in rows[10]
    assert "nothing imported" in body["error"]
    assert counts(store) == before


async def test_performance_departures_training_outcomes(client: Any, hr: Api, store: Any) -> None:
    job_id, _ = await history_job(hr)
    await post(hr, "history", HISTORY.format(job=job_id))
    good = ("email,period_end,rating,competency:Teamwork,competency:Safety,extra\n"
            "ann@example.com,2023-06-30,80,70,,x\n"
            "ANN@example.com,2023-12-31,90,,85,\n"
            "cy@example.com,2023-12-31,60,,,\n")
    assert await post(hr, "performance", good) == (200, {"imported": 3})
    reviews = store.run_sync(lambda db: sorted((r.rating, r.competencies, r.source)
                                               for r in db.exec(select(PerformanceReview)).all()))
    assert reviews == [(60.0, {}, "import"), (80.0, {"Teamwork": 70.0}, "import"),
                       (90.0, {"Safety": 85.0}, "import")]
    # A corrected file: the stored period is updated, not doubled.
    assert await post(hr, "performance", good.replace(",80,70,", ",82,70,")) == (200, {"imported": 3})
    assert store.run_sync(lambda db: sorted(r.rating for r in db.exec(select(PerformanceReview)).all())) == \
        [60.0, 82.0, 90.0]

    bad = ("email,period_end,rating,competency:Teamwork\n"
           "ann@example.com,2024-06-30,101,\n"
           "bob@example.com,2024-06-30,50,\n"  # interviewed, not hired: not an employee
           "nobody@example.com,2024-06-30,50,\n"
           "cy@example.com,June,50,\n"
           "cy@example.com,2024-06-30,50,abc\n"
           "cy@example.com,2024-06-30,50,\n"
           "ann@example.com,2024-09-30,70,\n")
    status, body = await post(hr, "performance", bad)
    assert status == 422
    rows = {r["row"]: r["error"] for r in body["rows"]}
    assert sorted(rows) == [2, 3, 4, 5, 6, 7]
    assert "rating 101 is outside 0-100" in rows[2] and "no employee with email 'bob@example.com'" in rows[3]
    assert "nobody@example.com" in rows[4] and "period_end 'June'" in rows[5]
    assert "competency:Teamwork 'abc'" in rows[6] and "as row 6" in rows[7]
    assert len(store.run_sync(lambda db: db.exec(select(PerformanceReview)).all())) == 3

    assert await post(hr, "departures", "email,left_at,voluntary\nann@example.com,2023-07-15,yes\n"
                                        "cy@example.com,2024-01-31,0\n") == (200, {"imported": 2})
    left = store.run_sync(lambda db: {e.candidate_id: (e.left_at.date().isoformat(), e.left_voluntary)
                                      for e in db.exec(select(Employee)).all()})
    assert sorted(left.values()) == [("2023-07-15", True), ("2024-01-31", False)]
    status, body = await post(hr, "departures", "email,left_at,voluntary\nann@example.com,2023-07-15,maybe\n"
                                                "cy@example.com,2020-01-01,no\nann@example.com,2023-08-01,no\n")
    assert status == 422 and [r["row"] for r in body["rows"]] == [2, 3, 4]
    assert "voluntary 'maybe'" in body["rows"][0]["error"] and "before the hire" in body["rows"][1]["error"]

    assert await post(hr, "training", "email,course,completed_at,result\nann@example.com,Safety 101,2023-03-01,90\n"
                                      "cy@example.com,Safety 101,2023-04-01,\n") == (200, {"imported": 2})
    status, body = await post(hr, "training", "email,course,completed_at\nann@example.com,,2023-03-01\n"
                                              "ann@example.com,First aid,someday\n")
    assert status == 422 and [r["row"] for r in body["rows"]] == [2, 3]
    assert await post(hr, "outcomes", "email,metric,period_end,value\nann@example.com,safety_incidents,2023-06-30,2\n"
                                      "cy@example.com,safety_incidents,2023-06-30,0\n") == (200, {"imported": 2})
    status, body = await post(hr, "outcomes", "email,metric,period_end,value\nann@example.com,safety_incidents,"
                                              "2023-06-30,many\nann@example.com,,2023-06-30,1\n")
    assert status == 422 and [r["row"] for r in body["rows"]] == [2, 3] and "value 'many'" in body["rows"][0]["error"]
    assert counts(store)["TrainingRecord"] == 2 and counts(store)["OutcomeRecord"] == 2

    # The header must hold the required columns; an unknown kind is 404; demographics is admin-only.
    status, body = await post(hr, "performance", "email,rating\nann@example.com,5\n")
    assert status == 422 and "the header lacks period_end" in body["error"]
    status, body = await post(hr, "salaries", "email\nx\n")
    assert status == 404 and "history" in body["error"] and "LATER" not in body["error"]
    assert (await post(hr, "demographics", "email,sex,race_ethnicity\nann@example.com,f,x\n"))[0] == 403
    # An HR user who cannot see the job sees no employee there.
    other = await login(client, store, "other@example.com")
    status, body = await post(other, "outcomes", "email,metric,period_end,value\nann@example.com,m,2023-06-30,1\n")
    assert status == 422 and "no employee with email" in body["rows"][0]["error"]


async def test_xlsx_and_5000_performance_rows(client: Any, hr: Api, store: Any) -> None:
    job_id, _ = await history_job(hr)
    people = 500
    lines = ["email,name,job_id,interviewed_at,decision,hired_at,Project management,Safety"]
    lines += [f"p{i}@example.com,P {i},{job_id},2022-01-01,hire,2022-02-01,{i % 101},{(3 * i) % 101}"
              for i in range(people)]
    started = time.monotonic()
    status, body = await post(hr, "history", "\n".join(lines) + "\n")
    assert (status, body) == (200, {"imported": people}), body
    history_s = time.monotonic() - started

    # XLSX: the first sheet, dates as cells.
    from datetime import datetime
    book = Workbook()
    sheet = book.active
    sheet.append(["email", "period_end", "rating"])
    sheet.append(["p1@example.com", datetime(2022, 6, 30), 77])
    data = io.BytesIO()
    book.save(data)
    resp = await client.post("/api/imports/performance", data=data.getvalue(), headers={
        **hr.headers, "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert resp.status == 200, await resp.text()

    rows = ["email,period_end,rating"] + [f"p{i % people}@example.com,{2023 + i // (people * 4)}-"
                                          f"{(3 * (i // people % 4) + 3):02d}-28,{i % 100}" for i in range(5000)]
    started = time.monotonic()
    status, body = await post(hr, "performance", "\n".join(rows) + "\n")
    elapsed = time.monotonic() - started
    assert (status, body) == (200, {"imported": 5000}), body
    assert counts(store)["PerformanceReview"] == 5001
    assert elapsed < 20 and history_s < 20, (elapsed, history_s)
    # The same 5,000 with one bad row: nothing, and only that row named.
    rows[4000] = "p1@example.com,2030-01-01,-5"
    started = time.monotonic()
    status, body = await post(hr, "performance", "\n".join(rows) + "\n")
    assert status == 422 and [r["row"] for r in body["rows"]] == [4001]
    assert time.monotonic() - started < 20


async def test_erasing_an_imported_hire_takes_everything_about_them(client: Any, hr: Api, store: Any) -> None:
    job_id, _ = await history_job(hr)
    await post(hr, "history", HISTORY.format(job=job_id))
    await post(hr, "performance", "email,period_end,rating\nann@example.com,2023-06-30,80\n"
                                  "cy@example.com,2023-06-30,70\n")
    await post(hr, "training", "email,course,completed_at\nann@example.com,Safety,2023-03-01\n")
    await post(hr, "outcomes", "email,metric,period_end,value\nann@example.com,incidents,2023-06-30,1\n")
    before = counts(store)
    ann = store.run_sync(lambda db: db.exec(select(Candidate).where(Candidate.email == "ann@example.com")).one().id)
    admin = await login(client, store, "admin@example.com", "admin")
    await admin.call("DELETE", f"/api/candidates/{ann}", expect=200)
    after = counts(store)
    assert {k: before[k] - after[k] for k in before} == {
        "Candidate": 1, "PastInterview": 1, "Employee": 1, "RecruitmentRecord": 1, "PerformanceReview": 1,
        "TrainingRecord": 1, "OutcomeRecord": 1}
