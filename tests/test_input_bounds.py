"""Input that used to end as a 500: ids beyond what the database holds, NaN/Infinity in rule
values, deadlines that overflow on time-zone conversion, non-ASCII digits in form ids. Each is
now refused with the status of its kind (400 malformed, 404 unknown id, 422 invalid)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import func, select

from conftest import JOB, PASSWORD, Api, login, make_job_and_template
from server import auth
from server.tables import Interview, Job, ScoringRule
from server.web import dumps

TOO_BIG = 2**63  # one past the largest id SQLite/PostgreSQL can hold
HUGE = 10**30


def future(days: float = 7) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def count(store: Any, table: Any) -> int:
    return store.run_sync(lambda db: db.exec(select(func.count()).select_from(table)).one())


# --- path ids --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/jobs/{}", "/api/templates/{}", "/api/candidates/{}", "/api/interviews/{}",
    "/api/interviews/{}/report",
])
@pytest.mark.parametrize("raw", [str(TOO_BIG), str(HUGE), "0", "-1", str(-TOO_BIG)])
async def test_out_of_range_path_ids_are_404(hr: Api, path: str, raw: str) -> None:
    status, body = await hr.call("GET", path.format(raw))
    assert status == 404, (path, raw, body)
    assert "not found" in body["error"]


async def test_path_ids_are_ascii_digits(hr: Api) -> None:
    job_id, _, _ = await make_job_and_template(hr)
    assert job_id == 1
    # Arabic-Indic 1 and superscript 2 (int() takes the first, chokes on the second), ...
    for raw in ("\u0661", "\u00b2", "1_0", " 1", "1.0", "0x1", "+1", "1" * 5000):
        status, body = await hr.call("GET", f"/api/jobs/{raw}")
        assert status == (404 if raw.startswith("11") else 400), (raw, status)
    await hr.call("GET", f"/api/jobs/{job_id}", expect=200)


# --- query ids -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/interviews", "/api/templates"])
async def test_query_ids_in_range(hr: Api, path: str) -> None:
    for raw in (str(TOO_BIG), str(HUGE), "0", "-5"):
        status, body = await hr.call("GET", f"{path}?job_id={raw}")
        assert status == 422, (raw, body)
        assert "job_id" in body["error"]
    status, body = await hr.call("GET", f"{path}?job_id=\u0661")
    assert status == 400, body
    await hr.call("GET", f"{path}?job_id=7", expect=200)


# --- JSON body ids ---------------------------------------------------------------------------

async def test_body_ids_in_range(hr: Api, store: Any) -> None:
    job_id, dims, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"},
                         expect=201)
    question = {"text": "Why?", "time_limit_s": 60, "dimensions": [{"dimension_id": dims[0], "weight": 1}]}
    for bad in (TOO_BIG, HUGE, 0, -1):
        status, body = await hr.call("POST", "/api/templates", json={
            "job_id": bad, "name": "T", "questions": [question]})
        assert status == 422 and "job_id" in body["error"], (bad, body)
        status, body = await hr.call("POST", "/api/templates", json={
            "job_id": job_id, "name": "T",
            "questions": [{**question, "dimensions": [{"dimension_id": bad, "weight": 1}]}]})
        assert status == 422 and "dimension_id" in body["error"], (bad, body)
        status, body = await hr.call("POST", "/api/invitations", json={
            "template_id": bad, "candidate_ids": [c["id"]], "deadline": future()})
        assert status == 422 and "template_id" in body["error"], (bad, body)
        status, body = await hr.call("POST", "/api/invitations", json={
            "template_id": tpl_id, "candidate_ids": [c["id"], bad], "deadline": future()})
        assert status == 422 and "candidate_ids" in body["error"], (bad, body)
    assert count(store, Interview) == 0


# --- finite numbers --------------------------------------------------------------------------

def job_with_rule_value(value: str) -> bytes:
    text = json.dumps(JOB).replace('"value": 0.6', f'"value": {value}')
    assert value in text
    return text.encode()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_rule_values_must_be_finite(hr: Api, store: Any, value: str) -> None:
    resp = await hr.client.post("/api/jobs", data=job_with_rule_value(value),
                                headers={**hr.headers, "Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 422, body
    assert "value" in body["error"]
    assert count(store, Job) == 0 and count(store, ScoringRule) == 0


@pytest.mark.parametrize("field, value", [("weight", "NaN"), ("weight", "Infinity")])
async def test_weights_must_be_finite(hr: Api, field: str, value: str) -> None:
    job_id, dims, _ = await make_job_and_template(hr)
    text = json.dumps({"job_id": job_id, "name": "T", "questions": [
        {"text": "Why?", "time_limit_s": 60, "dimensions": [{"dimension_id": dims[0], field: 12345}]}]})
    resp = await hr.client.post("/api/templates", data=text.replace("12345", value),
                                headers={**hr.headers, "Content-Type": "application/json"})
    assert resp.status == 422, await resp.text()


def test_json_out_refuses_nan_and_infinity() -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            dumps({"value": bad})
    assert dumps({"value": 1.5}) == '{"value": 1.5}'


async def test_a_stored_infinity_is_a_clean_500_not_invalid_json(hr: Api, store: Any) -> None:
    """Should a non-finite number reach the database anyway, no non-standard JSON goes out."""
    job_id, _, _ = await make_job_and_template(hr)

    def poison(db: Any) -> None:
        rule = db.exec(select(ScoringRule)).first()
        rule.value = float("inf")
        db.add(rule)

    store.run_sync(poison)
    resp = await hr.client.get(f"/api/jobs/{job_id}", headers=hr.headers)
    text = await resp.text()
    assert "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# --- deadlines -------------------------------------------------------------------------------

@pytest.mark.parametrize("deadline, fragment", [
    ("9999-12-31T23:59:59-14:00", "deadline"),
    ("0001-01-01T00:00:00+14:00", "deadline"),
    ("9999-12-31T23:59:59", "deadline"),
    ("3000-01-01T00:00:00Z", "year 3000"),
    ("a minute ago", "future"),  # (made in the test: a test id must not change between collections)
])
async def test_deadlines_in_a_sane_range(hr: Api, store: Any, deadline: str, fragment: str) -> None:
    if deadline == "a minute ago":
        deadline = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"},
                         expect=201)
    status, body = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]], "deadline": deadline})
    assert status == 422, body
    assert fragment in body["error"], body
    assert count(store, Interview) == 0
    # Far ahead is fine (clients write 2099 for "no real deadline").
    await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]], "deadline": "2099-12-31T18:00:00Z"}, expect=201)


# --- HR pages (forms) ------------------------------------------------------------------------

async def page_login(client: Any, store: Any) -> str:
    store.run_sync(lambda db: auth.create_user(db, "page@example.com", PASSWORD, "hr"))
    resp = await client.post("/login", data={"email": "page@example.com", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/candidates")).text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def test_page_forms_with_odd_ids_and_deadlines(client: Any, store: Any, hr: Api) -> None:
    csrf = await page_login(client, store)
    # The page user makes the job, so that it may see the template.
    page_api = await login(client, store, "api-twin@example.com")
    del page_api
    resp = await client.post("/jobs/new", data={
        "csrf_token": csrf, "title": "Welder", "language": "en", "rows": "1",
        "dim_name_0": "Safety", "dim_keywords_0": "procedure", "dim_rules_0": "", "action": "create"},
        allow_redirects=False)
    assert resp.status == 303, await resp.text()
    job_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = await (await client.get(f"/jobs/{job_id}/templates/new")).text()
    dim = re.findall(r'name="q_dim_0_(\d+)"', page)[0]
    resp = await client.post(f"/jobs/{job_id}/templates/new", data={
        "csrf_token": csrf, "rows": "1", "name": "R1", "q_text_0": "Why?", "q_time_0": "60",
        f"q_dim_0_{dim}": "on", f"q_weight_0_{dim}": "1"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    template = resp.headers["Location"]
    resp = await client.post("/candidates", data={"csrf_token": csrf, "name": "Ada",
                                                  "email": "ada@example.com"}, allow_redirects=False)
    ada = resp.headers["Location"].split("added=", 1)[1]

    for raw in ("\u00b2", "\u0661", "1\u00b2"):
        resp = await client.post(template, data=[
            ("csrf_token", csrf), ("candidate_id", raw), ("deadline", future())], allow_redirects=False)
        assert resp.status in (400, 422), (raw, resp.status)
        assert "Something went wrong" not in await resp.text()
    for deadline in ("9999-12-31T23:59:59-14:00", "9999-12-31T23:59"):
        resp = await client.post(template, data=[
            ("csrf_token", csrf), ("candidate_id", ada), ("deadline", deadline)], allow_redirects=False)
        assert resp.status == 422, (deadline, resp.status)
        assert "Deadline" in await resp.text()
    for path in (f"/jobs/{TOO_BIG}", f"/templates/{HUGE}", f"/candidates/{TOO_BIG}",
                 f"/interviews/{TOO_BIG}/report", f"/invitations?interviews={TOO_BIG}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (400, 404), (path, resp.status)
    assert count(store, Interview) == 0
