"""The HR JSON API: happy paths, roles, and every kind of bad input the issue names."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import func, select

from conftest import JOB, Api, login, make_job_and_template
from server.auth import token_digest
from server.tables import Interview, Invitation, Job, Question, Template


def future(days: float = 7) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


async def test_login_wrong_password_and_unknown_user(client: Any, hr: Api) -> None:
    for body in ({"email": "hr@example.com", "password": "wrong password!!"},
                 {"email": "nobody@example.com", "password": "whatever12345"}):
        resp = await client.post("/api/login", json=body)
        assert resp.status == 401
        assert "wrong email or password" in (await resp.json())["error"]


async def test_auth_checked_before_body(client: Any) -> None:
    resp = await client.post("/api/jobs", data=b"{not json")
    assert resp.status == 401
    assert "error" in await resp.json()
    resp = await client.get("/api/jobs", headers={"Authorization": "Bearer forged"})
    assert resp.status == 401


async def test_admin_only_route_refuses_hr(hr: Api, admin: Api) -> None:
    status, body = await hr.call("POST", "/api/users", json={"email": "x@example.com", "password": "p" * 12})
    assert status == 403 and "admin" in body["error"]
    await admin.call("POST", "/api/users", json={"email": "x@example.com", "password": "p" * 12}, expect=201)
    status, body = await admin.call("POST", "/api/users", json={"email": "X@example.com", "password": "p" * 12})
    assert status == 409
    status, body = await admin.call("POST", "/api/users", json={"email": "y@example.com", "password": "short"})
    assert status == 422


async def test_logout_revokes_token(hr: Api) -> None:
    await hr.call("POST", "/api/logout", expect=200)
    status, _ = await hr.call("GET", "/api/me")
    assert status == 401


async def test_job_template_candidate_invitation_flow(hr: Api, store: Any) -> None:
    job_id, dims, tpl_id = await make_job_and_template(hr)
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["language"] == "ko"  # the default model's language
    assert job["dimensions"][0]["rules"][0] == {"signal": "keyword_hits:schedule", "op": ">=", "value": 1.0,
                                                "points": 10.0, "scope": "answer"}
    assert job["dimensions"][0]["weight"] == 1.0  # equal by default
    _, tpl = await hr.call("GET", f"/api/templates/{tpl_id}", expect=200)
    assert [q["index"] for q in tpl["questions"]] == [0, 1]
    assert tpl["questions"][0]["dimensions"][0]["weight"] == 2

    _, a = await hr.call("POST", "/api/candidates", json={
        "name": "Ada", "email": "ada@example.com",
        "resume_text": "Led a LARGE PROJECT of 40 people."}, expect=201)
    _, b = await hr.call("POST", "/api/candidates", json={"name": "Bo", "email": "bo@example.com"}, expect=201)
    _, found = await hr.call("GET", "/api/candidates?q=large+project", expect=200)
    assert [c["id"] for c in found["candidates"]] == [a["id"]]
    _, found = await hr.call("GET", "/api/candidates?q=bo%40example", expect=200)
    assert [c["id"] for c in found["candidates"]] == [b["id"]]

    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [a["id"], b["id"]], "deadline": future()}, expect=201)
    assert len(inv["invitations"]) == 2
    for item in inv["invitations"]:
        assert item["url"].startswith("http://candor.test/i/")
        token = item["url"].rsplit("/", 1)[1]
        assert len(token) >= 43  # 32 random bytes, url-safe base64: 256 bits

    by_candidate = {i["candidate_id"]: i for i in inv["invitations"]}
    _, ada = await hr.call("GET", f"/api/interviews/{by_candidate[a['id']]['interview_id']}", expect=200)
    _, bo = await hr.call("GET", f"/api/interviews/{by_candidate[b['id']]['interview_id']}", expect=200)
    assert ada["state"] == "invited" and ada["question_index"] == 0 and ada["question_count"] == 2
    # Ada's resume mentions "large project": project management weighs more in her question 0.
    pm = [w for w in ada["weights"] if w["dimension_id"] == dims[0]][0]
    assert pm["base_weight"] == 2 and pm["weight"] == 3 and pm["matched_keywords"] == ["large project"]
    assert all(w["weight"] == w["base_weight"] for w in bo["weights"])
    safety = [w for w in ada["weights"] if w["dimension_id"] == dims[1]]
    assert all(w["weight"] == w["base_weight"] for w in safety)

    # The same candidate cannot hold two open links to one template.
    status, body = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [a["id"]], "deadline": future()})
    assert status == 409 and str(a["id"]) in body["error"]


async def test_hr_sees_only_own_or_granted_jobs(client: Any, store: Any, hr: Api, admin: Api) -> None:
    other = await login(client, store, "other@example.com")
    job_id, _, tpl_id = await make_job_and_template(hr)
    assert (await other.call("GET", f"/api/jobs/{job_id}"))[0] == 404
    assert (await other.call("GET", f"/api/templates/{tpl_id}"))[0] == 404
    _, jobs = await other.call("GET", "/api/jobs", expect=200)
    assert jobs["jobs"] == []
    _, jobs = await admin.call("GET", "/api/jobs", expect=200)
    assert [j["id"] for j in jobs["jobs"]] == [job_id]
    # Another HR user cannot grant themselves access.
    assert (await other.call("POST", f"/api/jobs/{job_id}/access", json={"email": "other@example.com"}))[0] == 404
    await hr.call("POST", f"/api/jobs/{job_id}/access", json={"email": "other@example.com"}, expect=200)
    await other.call("GET", f"/api/jobs/{job_id}", expect=200)
    await other.call("GET", f"/api/templates/{tpl_id}", expect=200)


def count(store: Any, table: Any) -> int:
    return store.run_sync(lambda db: db.exec(select(func.count()).select_from(table)).one())


BAD_JOBS = [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    (b"[1, 2]", 400, ""),
    (b'{"dimensions": [{"name": "A"}]}', 400, "title"),
    (b'{"title": 5, "dimensions": [{"name": "A"}]}', 400, "title"),
    (b'{"title": "T", "dimensions": "A"}', 400, "dimensions"),
    (b'{"title": "T", "dimensions": []}', 422, "dimensions"),
    (b'{"title": "  ", "dimensions": [{"name": "A"}]}', 422, "title"),
    (b'{"title": "T", "dimensions": [{"name": "A"}, {"name": "a"}]}', 422, "unique"),
    (b'{"title": "T", "dimensions": [{"name": "A", "rules": [{"signal": "nonsense", "op": ">=", "value": 1, "points": 1}]}]}', 422, "signal"),
    (b'{"title": "T", "dimensions": [{"name": "A", "rules": [{"signal": "word_count", "op": "~", "value": 1, "points": 1}]}]}', 422, "op"),
    (b'{"title": "T", "surprise": 1, "dimensions": [{"name": "A"}]}', 400, "surprise"),
]


@pytest.mark.parametrize("raw,status,fragment", BAD_JOBS)
async def test_bad_job_bodies(hr: Api, store: Any, raw: bytes, status: int, fragment: str) -> None:
    resp = await hr.client.post("/api/jobs", data=raw, headers={**hr.headers, "Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == status, body
    assert fragment.lower() in body["error"].lower()
    assert count(store, Job) == 0


async def test_bad_templates(hr: Api, store: Any, client: Any) -> None:
    job_id, dims, _ = await make_job_and_template(hr)
    templates_before, questions_before = count(store, Template), count(store, Question)

    def tpl(dimensions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"job_id": job_id, "name": "T", "questions": [
            {"text": "Q1", "time_limit_s": 60, "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
            {"text": "Q2", "time_limit_s": 60, "dimensions": dimensions}], **extra}

    d = lambda i, w=1: {"dimension_id": i, "weight": w}  # noqa: E731
    _, job2 = await hr.call("POST", "/api/jobs", json={**JOB, "title": "Other"}, expect=201)
    foreign = job2["dimensions"][0]["id"]
    cases = [
        (tpl([]), 422, "questions.1.dimensions"),
        (tpl([d(dims[0]), d(dims[1]), d(foreign), d(999)]), 422, "questions.1.dimensions"),
        (tpl([d(dims[0], -1)]), 422, "weight"),
        (tpl([d(dims[0], 0)]), 422, "weight"),
        (tpl([d(dims[0], "heavy")]), 400, "weight"),
        (tpl([d(dims[0]), d(dims[0])]), 422, "twice"),
        (tpl([d(foreign)]), 404, f"dimension {foreign} not found"),  # as if unknown: no probing
        (tpl([d(987654)]), 404, "987654"),
        ({**tpl([d(dims[0])]), "job_id": 987654}, 404, "job 987654"),
        ({**tpl([d(dims[0])]), "job_id": "1"}, 400, "job_id"),
        (tpl([{"dimension_id": dims[0]}]), 400, "weight"),
    ]
    for body, status, fragment in cases:
        got, resp = await hr.call("POST", "/api/templates", json=body)
        assert got == status, (body, resp)
        assert fragment.lower() in resp["error"].lower(), resp
    # Nothing half-written: the first (valid) question of each refused template was not stored.
    assert count(store, Template) == templates_before
    assert count(store, Question) == questions_before


async def test_bad_candidates_and_invitations(hr: Api, store: Any) -> None:
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"}, expect=201)
    status, body = await hr.call("POST", "/api/candidates", json={"name": "Ada 2", "email": "ADA@example.com"})
    assert status == 409 and "ada@example.com" in body["error"]
    status, body = await hr.call("POST", "/api/candidates", json={"name": "X", "email": "not-an-email"})
    assert status == 422 and "email" in body["error"]
    status, body = await hr.call("POST", "/api/candidates", json={"name": "X"})
    assert status == 400 and "email" in body["error"]

    def inv(**kw: Any) -> dict[str, Any]:
        return {"template_id": tpl_id, "candidate_ids": [c["id"]], "deadline": future(), **kw}

    cases = [
        (inv(deadline=(datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()), 422, "future"),
        (inv(deadline="next tuesday"), 400, "deadline"),
        (inv(candidate_ids=[c["id"], 424242]), 404, "424242"),
        (inv(candidate_ids=[]), 422, "candidate_ids"),
        (inv(candidate_ids=[c["id"], c["id"]]), 422, "twice"),
        (inv(template_id=55555), 404, "template 55555"),
    ]
    for body, status, fragment in cases:
        got, resp = await hr.call("POST", "/api/invitations", json=body)
        assert got == status, (body, resp)
        assert fragment in resp["error"], resp
    assert count(store, Invitation) == 0 and count(store, Interview) == 0


async def test_unknown_ids_and_routes(hr: Api) -> None:
    for path in ("/api/jobs/9999", "/api/templates/9999", "/api/candidates/9999", "/api/interviews/9999"):
        status, body = await hr.call("GET", path)
        assert status == 404 and "not found" in body["error"]
    status, body = await hr.call("GET", "/api/jobs/abc")
    assert status == 400
    status, body = await hr.call("GET", "/api/nothing-here")
    assert status == 404 and "error" in body
    status, body = await hr.call("DELETE", "/api/jobs")
    assert status == 405 and "error" in body
    status, body = await hr.call("GET", "/api/interviews?job_id=x")
    assert status == 400


async def test_oversized_body_refused(hr: Api) -> None:
    big = b'{"title": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    resp = await hr.client.post("/api/jobs", data=big, headers={**hr.headers, "Content-Type": "application/json"})
    assert resp.status == 413
    assert "too large" in (await resp.json())["error"]


async def test_invitation_links_open_expire_and_close(hr: Api, client: Any, store: Any) -> None:
    _, _, tpl_id = await make_job_and_template(hr)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Ada Lovelace", "email": "ada@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl_id, "candidate_ids": [c["id"]], "deadline": future()}, expect=201)
    url = inv["invitations"][0]["url"].replace("http://candor.test", "")
    resp = await client.get(url)
    assert resp.status == 200
    page = await resp.text()
    assert "Ada Lovelace" in page and "Site engineer" in page
    assert resp.headers["Referrer-Policy"] == "no-referrer"

    resp = await client.get("/i/" + "A" * 43)
    page = await resp.text()
    assert resp.status == 404 and "This link does not open an interview" in page and "newer link" in page

    token = url.rsplit("/", 1)[1]

    def set_deadline(db: Any, delta: timedelta) -> None:
        row = db.exec(select(Invitation).where(Invitation.token_sha256 == token_digest(token))).one()
        row.deadline = datetime.now(timezone.utc) + delta
        db.add(row)

    store.run_sync(lambda db: set_deadline(db, timedelta(seconds=-1)))
    resp = await client.get(url + "?lang=en")  # the job is Korean (the default language)
    assert resp.status == 410 and "deadline" in await resp.text()
    _, itv = await hr.call("GET", f"/api/interviews/{inv['invitations'][0]['interview_id']}", expect=200)
    assert itv["state"] == "expired"

    # A completed interview's link stops working too, even before the deadline.
    def complete(db: Any) -> None:
        row = db.get(Interview, inv["invitations"][0]["interview_id"])
        row.state = "completed"
        db.add(row)

    store.run_sync(lambda db: set_deadline(db, timedelta(days=1)))
    store.run_sync(complete)
    resp = await client.get(url + "?lang=en")  # the job is Korean (the default language)
    page = await resp.text()
    # Calm words for a finished candidate, not an error (and no way into HR's pages).
    assert resp.status == 410 and "Your interview is complete" in page and "next steps" in page
    # Its only links are the candidate's own: their data, and the optional self-identification.
    links = re.findall(r'href="([^"]+)"', page.split("<body", 1)[1])
    token = url.rsplit("/", 1)[1]
    assert "error-message" not in page and links == [f"/i/{token}/about-you", f"/i/{token}/my-data"]


async def test_openapi_describes_every_route(client: Any) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path is None or "prefix" in info:
            continue
        served.add((route.method, path))
    assert served == documented
    jobs = doc["paths"]["/api/jobs"]["post"]
    schema_name = jobs["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "dimensions" in doc["components"]["schemas"][schema_name]["required"]
    assert {"201", "400", "401", "422"} <= set(jobs["responses"])


async def test_health(client: Any) -> None:
    resp = await client.get("/api/health")
    body = await resp.json()
    assert resp.status == 200 and body["ok"] is True and "models_ready" in body


async def test_job_language_needs_an_installed_speech_model(aiohttp_client: Any, tmp_path: Any) -> None:
    """With models on, a job in a language without a Vosk model is refused with a hint."""
    from server.app import create_app
    from server.settings import Settings
    from server.store import Store

    settings = Settings(data_dir=tmp_path / "data", load_models=True)
    store = Store(settings.db_url)
    client = await aiohttp_client(create_app(settings, store=store))
    api = await login(client, store, "hr@example.com")
    status, body = await api.call("POST", "/api/jobs", json={**JOB, "language": "xx"})
    assert status == 422 and "models add" in body["error"] and "installed: ko" in body["error"]
    status, body = await api.call("POST", "/api/jobs", json={**JOB, "language": "ko"})
    assert status == 201
