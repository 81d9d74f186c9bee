"""The employee archive through the API: a hire made after the review gate makes the employee,
whose recruitment record is the interview as it was (later job edits do not change it) and
whose key clips play; performance, training, outcomes and the departure added one at a time;
404 for unknown and invisible employees, 422 with the reason for bad input; a decision changed
away from hire; erasure of the candidate takes the employee rows with it."""
from __future__ import annotations

from typing import Any

from sqlmodel import select

from conftest import Api, login
from server.tables import (
    AuditLog, Candidate, Employee, Interview, OutcomeRecord, PerformanceReview, RecruitmentRecord, TrainingRecord,
)
from tests.test_report_page import record
from tests.test_reports import completed_interview


async def reviewed(client: Any, hr: Api, settings: Any) -> int:
    """A completed, analysed interview with a recording, every answer opened and a note: ready
    for a decision."""
    iid = await completed_interview(client, hr, eye_contact_q1=False)
    record(settings.data_dir, iid)
    for q in (0, 1):
        resp = await client.get(f"/api/interviews/{iid}/questions/{q}/attempts/0/media", headers=hr.headers)
        assert resp.status == 200
        await resp.read()
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "Concrete on schedules."}, expect=201)
    return iid


async def test_a_hire_makes_the_employee_with_the_frozen_recruitment_record(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await reviewed(client, hr, settings)
    decide = f"/api/interviews/{iid}/decision"
    status, body = await hr.call("POST", decide, json={"decision": "hire", "start_date": "next monday"})
    assert status == 422 and "start_date" in body["error"] and "YYYY-MM-DD" in body["error"], body
    assert store.run_sync(lambda db: db.exec(select(Employee)).all()) == []
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    await hr.call("POST", decide, json={"decision": "hire", "note": "Offer level 2", "start_date": "2027-01-04"},
                  expect=200)
    job_id = report["job"]["id"]

    _, listed = await hr.call("GET", f"/api/employees?job_id={job_id}", expect=200)
    [summary] = listed["employees"]
    assert (summary["name"], summary["email"], summary["job_title"]) == ("Ada", "ada@example.com", "Site engineer")
    assert summary["start_date"].startswith("2027-01-04") and summary["source"] == "interview"
    assert summary["left_at"] is None and summary["mean_rating"] is None and summary["ratings"] == 0
    eid = summary["id"]

    _, detail = await hr.call("GET", f"/api/employees/{eid}", expect=200)
    rec = detail["recruitment_record"]
    assert rec["source"] == "interview" and rec["interview_id"] == iid
    assert rec["job"] == {"id": job_id, "title": "Site engineer", "version": 1}
    frozen = rec["report"]
    assert frozen["overall"]["score"] == report["overall"]["score"] is not None
    assert [(d["name"], d["score"]) for d in frozen["dimensions"]] == \
        [(d["name"], d["score"]) for d in report["dimensions"]]
    assert frozen["recommendation"] == report["recommendation"]
    assert [c["id"] for c in frozen["clips"]] == [c["id"] for c in report["clips"]] and frozen["clips"]
    assert [(n["author"], n["text"]) for n in rec["notes"]] == [("hr@example.com", "Concrete on schedules.")]
    assert rec["decision"]["decision"] == "hire" and rec["decision"]["note"] == "Offer level 2"
    assert rec["decision"]["by"] == "hr@example.com"

    # The record's clips play through the employee's route (the frozen time range): real WebM.
    clip = frozen["clips"][0]
    assert clip["media_url"].endswith(f"/api/employees/{eid}/clips/{clip['id']}/media")
    assert clip["interview_media_url"].endswith(f"/api/interviews/{iid}/clips/{clip['id']}/media")
    resp = await client.get(f"/api/employees/{eid}/clips/{clip['id']}/media", headers=hr.headers)
    assert resp.status == 200 and (await resp.read())[:4] == b"\x1a\x45\xdf\xa3"
    assert (await client.get(f"/api/employees/{eid}/clips/nope/media", headers=hr.headers)).status == 404

    # A later edit of the job (title, weights) changes nothing in the record.
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    dims = [{"id": d["id"], "name": d["name"] + " (new)", "weight": 5.0} for d in job["dimensions"]]
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"title": "Lead engineer", "dimensions": dims}, expect=200)
    _, again = await hr.call("GET", f"/api/employees/{eid}", expect=200)
    assert again["job_title"] == "Lead engineer"  # the employee's job today
    assert again["recruitment_record"]["job"]["title"] == "Site engineer"
    assert again["recruitment_record"]["report"]["dimensions"] == frozen["dimensions"]

    # The candidate is already an employee: the archive is one per person.
    assert store.run_sync(lambda db: db.get(Candidate, summary["candidate_id"]).status) == "hired"
    actions = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog)).all()])
    assert "employee.hire" in actions and "employee.clip_view" in actions


async def test_records_added_by_api_with_validation_and_visibility(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await reviewed(client, hr, settings)
    await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "hire"}, expect=200)
    _, listed = await hr.call("GET", "/api/employees", expect=200)
    [summary] = listed["employees"]
    eid = summary["id"]
    base = f"/api/employees/{eid}"
    _, created = await hr.call("POST", f"{base}/performance", expect=201, json={
        "period_end": "2099-06-30", "rating": 80, "competencies": {"Teamwork": 70}})
    assert created["updated"] is False
    _, fixed = await hr.call("POST", f"{base}/performance", json={"period_end": "2099-06-30", "rating": 84},
                             expect=201)
    assert fixed == {"id": created["id"], "updated": True}  # the same period corrects it
    await hr.call("POST", f"{base}/performance", json={"period_end": "2099-12-31", "rating": 90}, expect=201)
    await hr.call("POST", f"{base}/training", json={"course": "Safety 101", "completed_at": "2099-02-01",
                                                   "result": 95}, expect=201)
    await hr.call("POST", f"{base}/outcomes", json={"metric": "safety_incidents", "period_end": "2099-03-31",
                                                   "value": 2}, expect=201)
    # Bad input: 422 naming what is wrong.
    for path, body, words in (
            ("performance", {"period_end": "2099-06-30", "rating": 101}, "rating"),
            ("performance", {"period_end": "30/06/2099", "rating": 50}, "YYYY-MM-DD"),
            ("performance", {"period_end": "2099-06-30", "rating": 50, "competencies": {"x": -1}}, "outside 0-100"),
            ("training", {"course": "A", "completed_at": "yesterday"}, "completed_at"),
            ("outcomes", {"metric": " ", "period_end": "2099-01-01", "value": 1}, "metric"),
            ("departure", {"left_at": "1999-01-01", "voluntary": True}, "before the hire")):
        status, answer = await hr.call("POST", f"{base}/{path}", json=body)
        assert status == 422 and words in answer["error"], (path, answer)
    await hr.call("POST", f"{base}/departure", json={"left_at": "2100-01-15", "voluntary": False}, expect=200)

    _, detail = await hr.call("GET", base, expect=200)
    assert [(p["period_end"][:10], p["rating"]) for p in detail["performance"]] == \
        [("2099-06-30", 84.0), ("2099-12-31", 90.0)]
    assert detail["mean_rating"] == 87.0 and detail["ratings"] == 2
    assert [(t["course"], t["result"]) for t in detail["training"]] == [("Safety 101", 95.0)]
    assert [(o["metric"], o["value"]) for o in detail["outcomes"]] == [("safety_incidents", 2.0)]
    assert detail["left_at"].startswith("2100-01-15") and detail["left_voluntary"] is False

    # Unknown and invisible employees are the same 404; so is another job's list.
    await hr.call("GET", "/api/employees/999999", expect=404)
    other = await login(client, store, "other@example.com")
    await other.call("GET", base, expect=404)
    await other.call("POST", f"{base}/performance", json={"period_end": "2099-06-30", "rating": 1}, expect=404)
    _, theirs = await other.call("GET", "/api/employees", expect=200)
    assert theirs == {"employees": []}
    await other.call("GET", f"/api/employees?job_id={summary['job_id']}", expect=404)
    await other.call("GET", f"/api/employees/{eid}/clips/x/media", expect=404)

    # A decision changed away from hire keeps an employee with records (the person worked there).
    change = f"/api/interviews/{iid}/decision/change"
    await hr.call("POST", change, json={"decision": "talent_pool", "reason": "Offer declined"}, expect=200)
    assert store.run_sync(lambda db: db.get(Employee, eid)) is not None

    # Erasing the candidate removes the employee and everything recorded about them.
    admin = await login(client, store, "admin@example.com", "admin")
    await admin.call("DELETE", f"/api/candidates/{summary['candidate_id']}", expect=200)
    for table in (Employee, RecruitmentRecord, PerformanceReview, TrainingRecord, OutcomeRecord):
        assert store.run_sync(lambda db, t=table: db.exec(select(t)).all()) == [], table
    await hr.call("GET", base, expect=404)


async def test_a_hire_reversed_before_anything_was_recorded_removes_the_employee(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await reviewed(client, hr, settings)
    await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "talent_pool"}, expect=200)
    assert store.run_sync(lambda db: db.exec(select(Employee)).all()) == []
    change = f"/api/interviews/{iid}/decision/change"
    status, body = await hr.call("POST", change, json={"decision": "hire", "reason": "Yes", "start_date": "13/01"})
    assert status == 422 and "start_date" in body["error"]
    await hr.call("POST", change, json={"decision": "hire", "reason": "References came back.",
                                        "start_date": "2027-02-01T09:00:00+09:00"}, expect=200)
    [employee] = store.run_sync(lambda db: db.exec(select(Employee)).all())
    assert employee.interview_id == iid and employee.start_date.isoformat() == "2027-02-01T00:00:00+00:00"
    rec = store.run_sync(lambda db: db.get(RecruitmentRecord, employee.id).data)
    assert rec["decision"]["note"] == "References came back."
    await hr.call("POST", change, json={"decision": "not_recommended", "reason": "Withdrawn"}, expect=200)
    assert store.run_sync(lambda db: (db.exec(select(Employee)).all(), db.exec(select(RecruitmentRecord)).all())) \
        == ([], [])
    cid = store.run_sync(lambda db: db.get(Interview, iid).candidate_id)
    assert store.run_sync(lambda db: db.get(Candidate, cid).status) == "not_recommended"


async def test_the_pages_list_show_and_add(client: Any, hr: Api, store: Any, settings: Any) -> None:
    """/employees, /employees/{id} with the record and playable clip elements, its two forms, and
    /imports with a file that has bad rows (each listed, nothing imported) and then a good one."""
    import aiohttp

    from tests.test_report_page import page_login, text_of

    iid = await reviewed(client, hr, settings)
    await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": "hire", "note": "Offer",
                                                                  "start_date": "2027-01-04"}, expect=200)
    _, listed = await hr.call("GET", "/api/employees", expect=200)
    eid = listed["employees"][0]["id"]
    csrf = await page_login(client)
    page = text_of(await (await client.get("/employees")).text())
    assert "Ada Site engineer" in page and "2027-01-04" in page
    resp = await client.get(f"/employees/{eid}")
    raw = await resp.text()
    assert resp.status == 200, raw
    page = text_of(raw)
    assert "Recruitment record" in page and "Concrete on schedules." in page and "Hire · hr@example.com" in page
    assert f'href="/interviews/{iid}/report"' in raw
    assert raw.count(f'src="/api/employees/{eid}/clips/') >= 1 and "<video controls" in raw
    assert (await client.get("/employees/99999")).status == 404

    # The forms: CSRF required; bad input shown; good input saved.
    form = f"/employees/{eid}/performance"
    assert (await client.post(form, data={"period_end": "2099-06-30", "rating": "80"})).status == 403
    resp = await client.post(form, data={"period_end": "2099-06-30", "rating": "180", "csrf_token": csrf})
    assert resp.status == 422 and "Rating 180 is outside 0-100" in text_of(await resp.text())
    resp = await client.post(form, data={"period_end": "2099-06-30", "rating": "80", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    resp = await client.post(f"/employees/{eid}/departure", data={"left_at": "2100-02-01", "csrf_token": csrf})
    assert resp.status == 422 and "Say whether the employee chose to leave" in text_of(await resp.text())
    await client.post(f"/employees/{eid}/departure", data={"left_at": "2100-02-01", "voluntary": "yes",
                                                          "csrf_token": csrf})
    page = text_of(await (await client.get(f"/employees/{eid}")).text())
    assert "2099-06-30 80" in page and "2100-02-01 (by choice)" in page

    # Imports: bad rows listed, nothing imported; then the corrected file.
    page = text_of(await (await client.get("/imports")).text())
    assert "Past interviews" in page and "Columns: email, period_end, rating" in page
    assert "Self-identification" not in page  # admins only

    def upload(text: str) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf_token", csrf)
        data.add_field("file", text.encode(), filename="perf.csv", content_type="text/csv")
        return data

    bad = "email,period_end,rating\nada@example.com,2100-03-31,101\nzed@example.com,2100-03-31,50\n"
    resp = await client.post("/imports/performance", data=upload(bad))
    page = text_of(await resp.text())
    assert resp.status == 422 and "Nothing was imported" in page
    assert "Row 2: rating 101 is outside 0-100" in page and "Row 3: no employee with email 'zed@example.com'" in page
    assert len(store.run_sync(lambda db: db.exec(select(PerformanceReview)).all())) == 1
    resp = await client.post("/imports/performance", data=upload(bad.replace(",101", ",70").replace(
        "zed@", "ada@").replace("2100-03-31,50", "2100-06-30,50")), allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/imports?kind=performance&imported=2#performance"
    assert "2 rows imported." in text_of(await (await client.get(resp.headers["Location"])).text())
    assert len(store.run_sync(lambda db: db.exec(select(PerformanceReview)).all())) == 3


async def test_the_report_page_hires_with_a_start_date(client: Any, hr: Api, store: Any, settings: Any) -> None:
    from tests.test_report_page import page_login, text_of

    iid = await reviewed(client, hr, settings)
    csrf = await page_login(client)
    decide = {"decision": "hire", "note": "", "csrf_token": csrf}
    resp = await client.post(f"/interviews/{iid}/decision", data={**decide, "start_date": "2027-13-01"})
    assert resp.status == 422 and "Start_date '2027-13-01' is not a date" in text_of(await resp.text())
    assert store.run_sync(lambda db: db.exec(select(Employee)).all()) == []
    resp = await client.post(f"/interviews/{iid}/decision", data={**decide, "start_date": "2027-03-02"},
                             allow_redirects=False)
    assert resp.status == 303
    [employee] = store.run_sync(lambda db: db.exec(select(Employee)).all())
    assert employee.start_date.date().isoformat() == "2027-03-02"
