"""Jobs and templates edited by versions (issue 13, "Versions, not overwrites"): an edit saves a
new version, interviews keep the version they were invited with and their reports do not change,
dimensions keep their identity across renames, retired and added ones work end to end, archived
jobs and templates refuse invitations, a template copies into another job by dimension name,
every change is audited. Real sessions (transcripts in, scores out), the real store and API."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete
from sqlmodel import select

from analyzers.speech import Word
from conftest import Api, login
from server.session import State
from server.sessions import sessions_key
from server.tables import AuditLog, Interview, Job, JobVersion, Template, TemplateVersion
from tests.test_controls import FakePeer
from tests.test_session import FakeLink

DEADLINE = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
DIMS = [
    {"name": "Planning", "keywords": ["schedule", "budget"],
     "rules": [{"signal": "keyword_hits:schedule", "op": ">=", "value": 1, "points": 10}]},
    {"name": "Safety", "keywords": ["procedure", "helmet"]},
    {"name": "Dress and appearance", "keywords": ["suit", "tie"]},
]
PLAN_ANSWER = "we kept the schedule and the budget every week of the project"
SAFETY_ANSWER = "I follow the procedure and wear a helmet and a suit and tie on site"


async def new_job(hr: Api, dims: list[dict[str, Any]] = DIMS, title: str = "Site engineer") -> tuple[int, list[int]]:
    _, job = await hr.call("POST", "/api/jobs", json={"title": title, "language": "en", "dimensions": dims},
                           expect=201)
    return job["id"], [d["id"] for d in job["dimensions"]]


async def new_template(hr: Api, job_id: int, questions: list[tuple[str, list[int]]], name: str = "Standard") -> int:
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": name, "questions": [
        {"text": text, "time_limit_s": 60, "dimensions": [{"dimension_id": d, "weight": 1} for d in linked]}
        for text, linked in questions]}, expect=201)
    return int(tpl["id"])


async def add_candidate(hr: Api, name: str) -> int:
    _, c = await hr.call("POST", "/api/candidates", json={
        "name": name, "email": f"{name.lower().replace(' ', '.')}@example.com"}, expect=201)
    return int(c["id"])


async def invite(hr: Api, template_id: int, candidate_id: int, expect: int = 201) -> Any:
    status, body = await hr.call("POST", "/api/invitations", json={
        "template_id": template_id, "candidate_ids": [candidate_id], "deadline": DEADLINE})
    assert status == expect, (status, body)
    return int(body["invitations"][0]["interview_id"]) if status == 201 else body


async def take(client: Any, iid: int, answers: list[str]) -> None:
    """A real session, answered by words on its clock (the recogniser's output stood in for)."""
    session = await client.app[sessions_key].session_for(iid)
    peer = FakePeer()
    await session.attach_candidate(FakeLink())
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE
    for text in answers:
        t = session.clock()
        words = tuple(Word(w, t + 0.4 * i, t + 0.4 * i + 0.3, 1.0) for i, w in enumerate(text.split()))
        session.on_transcript(text, True, t, words[-1].end_s, words)
        await session.drain_writes()
        await session.candidate_next()
    assert session.state == State.COMPLETED
    await session.settled()


async def report_text(hr: Api, iid: int) -> str:
    """The report as JSON text, sorted, without `built_at` (the time it was read, not its content)."""
    _, body = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    body.pop("built_at")
    return json.dumps(body, sort_keys=True)


def audit_rows(store: Any, action: str) -> list[AuditLog]:
    return store.run_sync(lambda db: list(db.exec(select(AuditLog).where(AuditLog.action == action))))


async def test_an_edit_leaves_old_reports_byte_identical_and_new_interviews_get_the_new_version(
        client: Any, hr: Api, store: Any) -> None:
    job_id, (planning, safety, dress) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("Tell us about a project you planned.", [planning]),
                                          ("How do you keep a site safe?", [safety, dress])])
    old_iid = await invite(hr, tpl, await add_candidate(hr, "Ada Old"))
    await take(client, old_iid, [PLAN_ANSWER, SAFETY_ANSWER])
    before = await report_text(hr, old_iid)
    old_report = json.loads(before)
    assert old_report["job"] == {"id": job_id, "title": "Site engineer", "version": 1}
    assert old_report["template"]["version"] == 1
    assert {d["name"] for d in old_report["dimensions"]} == {"Planning", "Safety", "Dress and appearance"}

    # The seed's edit: rename, reweight, new keywords; retire "Dress and appearance"; add "Customer empathy".
    _, saved = await hr.call("PATCH", f"/api/jobs/{job_id}", json={
        "title": "Site engineer (2027)", "note": "appearance is not a competency",
        "dimensions": [
            {"id": planning, "name": "Project planning", "keywords": ["schedule", "budget", "milestone"],
             "rules": [{"signal": "keyword_hits:milestone", "op": ">=", "value": 1, "points": 15}], "weight": 2},
            {"id": safety, "name": "Safety", "keywords": ["procedure", "helmet"]},
            {"name": "Customer empathy", "keywords": ["listen", "customer"]},
        ]}, expect=200)
    assert saved["version"] == 2 and saved["changed"] is True
    assert "renamed dimension 'Planning' → 'Project planning'" in saved["changes"]
    assert "retired dimension 'Dress and appearance'" in saved["changes"]
    assert "added dimension 'Customer empathy'" in saved["changes"]
    assert saved["templates_to_update"] == [{"id": tpl, "name": "Standard", "dimensions": ["Dress and appearance"]}]

    # The old interview's report is byte for byte what it was; its interview still says version 1.
    assert await report_text(hr, old_iid) == before
    _, detail = await hr.call("GET", f"/api/interviews/{old_iid}", expect=200)
    assert detail["job_version"] == 1 and detail["template_version"] == 1
    assert detail["job"]["current_version"] == 2

    # The job as it is now, and as version 1 was.
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["version"] == 2 and [d["name"] for d in job["dimensions"]] == [
        "Project planning", "Safety", "Customer empathy"]
    assert job["dimensions"][0]["id"] == planning  # a renamed dimension keeps its id
    empathy = job["dimensions"][2]["id"]
    _, v1 = await hr.call("GET", f"/api/jobs/{job_id}/versions/1", expect=200)
    assert v1["title"] == "Site engineer" and [d["name"] for d in v1["dimensions"]] == [
        "Planning", "Safety", "Dress and appearance"]
    assert (await hr.call("GET", f"/api/jobs/{job_id}/versions/3"))[0] == 404
    _, history = await hr.call("GET", f"/api/jobs/{job_id}/versions", expect=200)
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert history["versions"][0]["created_by_email"] == "hr@example.com"
    assert history["versions"][0]["note"] == "appearance is not a competency"

    # The template still scores the retired dimension: no new invitations until it is edited.
    new_candidate = await add_candidate(hr, "Bo New")
    refused = await invite(hr, tpl, new_candidate, expect=409)
    assert "Dress and appearance" in refused["error"]
    _, tq = await hr.call("GET", f"/api/templates/{tpl}", expect=200)
    q1, q2 = tq["questions"]
    _, tsaved = await hr.call("PATCH", f"/api/templates/{tpl}", json={"questions": [
        {"id": q1["id"], "text": q1["text"], "time_limit_s": 90,
         "dimensions": [{"dimension_id": planning, "weight": 1}]},
        {"id": q2["id"], "text": "How do you keep a site and its customers safe?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": safety, "weight": 1}, {"dimension_id": empathy, "weight": 2}]},
    ]}, expect=200)
    assert tsaved["version"] == 2 and "question 2: text, dimensions and weights changed" in tsaved["changes"]
    assert "question 1: time limit changed" in tsaved["changes"]
    assert await report_text(hr, old_iid) == before

    # New invitations get the newest versions; the interview runs and reports with them.
    new_iid = await invite(hr, tpl, new_candidate)
    _, detail = await hr.call("GET", f"/api/interviews/{new_iid}", expect=200)
    assert detail["job_version"] == 2 and detail["template_version"] == 2
    assert await report_text(hr, old_iid) == before  # invited, not completed: still the same
    await take(client, new_iid, ["we hit every milestone on schedule and on budget",
                                 "I listen to the customer and follow the procedure"])
    _, new_report = await hr.call("GET", f"/api/interviews/{new_iid}/report", expect=200)
    assert new_report["job"] == {"id": job_id, "title": "Site engineer (2027)", "version": 2}
    assert new_report["template"]["version"] == 2
    scored = {d["name"]: d for d in new_report["dimensions"]}
    assert set(scored) == {"Project planning", "Safety", "Customer empathy"}
    assert scored["Project planning"]["id"] == planning and scored["Project planning"]["weight"] == 2.0
    assert scored["Customer empathy"]["score"] is not None
    assert any(e.get("signal") == "keyword_hits:milestone" for e in scored["Project planning"]["evidence"])
    assert new_report["questions"][1]["text"] == "How do you keep a site and its customers safe?"
    old_again = json.loads(await report_text(hr, old_iid))
    assert old_again["job"]["version"] == 1 and old_again["questions"] == old_report["questions"]
    assert [d["name"] for d in old_again["dimensions"]] == [d["name"] for d in old_report["dimensions"]]

    # The report pages name the versions each interview ran with.
    from tests.test_report_page import page_login
    await page_login(client)
    old_page = await (await client.get(f"/interviews/{old_iid}/report")).text()
    new_page = await (await client.get(f"/interviews/{new_iid}/report")).text()
    assert "job version 1; template Standard, version 1" in old_page and "Site engineer (2027)" not in old_page
    assert "job version 2; template Standard, version 2" in new_page

    # The results board compares by dimension identity: the renamed dimension under its newest
    # name, the retired one still a column for the interview that had it; each overall is its report's.
    _, board = await hr.call("GET", f"/api/jobs/{job_id}/results", expect=200)
    assert [d["name"] for d in board["dimensions"]] == [
        "Project planning", "Safety", "Customer empathy", "Dress and appearance"]
    rows = {r["interview_id"]: r for r in board["rows"]}
    assert rows[old_iid]["overall"] == old_again["overall"]["score"]
    assert rows[new_iid]["overall"] == new_report["overall"]["score"]
    assert rows[old_iid]["dimensions"]["Project planning"] == {
        d["id"]: d["score"] for d in old_report["dimensions"]}[planning]
    assert "Dress and appearance" in rows[old_iid]["dimensions"]
    assert "Dress and appearance" not in rows[new_iid]["dimensions"]

    # Every change is audited with who and when.
    edits = audit_rows(store, "job.edit")
    assert len(edits) == 1 and edits[0].actor_id is not None and edits[0].ts is not None
    assert edits[0].detail["version"] == 2 and edits[0].detail["retired"] == [dress]
    assert edits[0].detail["renamed"] == [planning] and edits[0].detail["added"] == [empathy]
    assert [r.detail["version"] for r in audit_rows(store, "template.edit")] == [2]
    created = [r for r in audit_rows(store, "invitation.create") if r.target_id == new_iid]
    assert created[0].detail["job_version"] == 2 and created[0].detail["template_version"] == 2


async def test_dimensions_rename_swap_retire_and_come_back_with_their_ids(client: Any, hr: Api, store: Any) -> None:
    job_id, (planning, safety, dress) = await new_job(hr)
    # Swap two names (the unique index would refuse a one-step rename).
    _, saved = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Safety"}, {"id": safety, "name": "Planning"},
        {"id": dress, "name": "Dress and appearance"}]}, expect=200)
    assert saved["version"] == 2
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert [(d["id"], d["name"]) for d in job["dimensions"]] == [
        (planning, "Safety"), (safety, "Planning"), (dress, "Dress and appearance")]
    # Retire one (left out), then bring it back by its name: the same id.
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Safety"}, {"id": safety, "name": "Planning"}]}, expect=200)
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert [d["id"] for d in job["dimensions"]] == [planning, safety]
    _, saved = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Safety"}, {"id": safety, "name": "Planning"},
        {"name": "dress and appearance", "keywords": ["uniform"]}]}, expect=200)
    assert saved["version"] == 4 and "added dimension 'dress and appearance'" in saved["changes"]
    _, job = await hr.call("GET", f"/api/jobs/{job_id}", expect=200)
    assert job["dimensions"][2]["id"] == dress and job["dimensions"][2]["keywords"] == ["uniform"]

    # An edit that changes nothing saves no version.
    _, same = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"title": "Site engineer"}, expect=200)
    assert same == {"id": job_id, "version": 4, "changed": False, "changes": [], "templates_to_update": []}

    # Bad edits: a clear 422 and nothing saved.
    other_job, (other_dim, *_) = await new_job(hr, title="Other")
    for dims, says in (
        ([{"id": other_dim, "name": "X"}], "is not a dimension of job"),
        ([{"name": "A"}, {"name": "a"}], "unique"),
        ([{"id": planning, "name": "Dup"}, {"id": planning, "name": "Dup2"}], "listed twice"),
        ([{"id": planning, "name": "Planning"}], "is the name of dimension"),  # safety's name, left out
    ):
        status, body = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": dims})
        assert status == 422 and says in body["error"], (dims, body)
    status, body = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": []})
    assert status == 422
    status, body = await hr.call("PATCH", f"/api/jobs/{job_id}", json={"colour": "red"})
    assert status == 400 and "colour" in body["error"]  # an unknown field, as everywhere in the API
    _, history = await hr.call("GET", f"/api/jobs/{job_id}/versions", expect=200)
    assert history["current"] == 4 and len(history["versions"]) == 4
    # Another HR user cannot see (or edit) the job.
    other = await login(client, store, "other@example.com")
    assert (await other.call("PATCH", f"/api/jobs/{job_id}", json={"title": "Mine"}))[0] == 404
    assert (await other.call("GET", f"/api/jobs/{job_id}/versions"))[0] == 404


async def test_archived_jobs_and_templates_refuse_invitations_until_restored(client: Any, hr: Api, store: Any) -> None:
    job_id, (planning, safety, _) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("Tell us about planning.", [planning])])
    cand = await add_candidate(hr, "Cy Archive")

    _, archived = await hr.call("POST", f"/api/jobs/{job_id}/archive", expect=200)
    assert archived["archived_at"]
    refused = await invite(hr, tpl, cand, expect=409)
    assert "archived" in refused["error"] and f"/api/jobs/{job_id}/restore" in refused["error"]
    assert (await hr.call("POST", f"/api/jobs/{job_id}/archive"))[0] == 409  # already archived
    assert (await hr.call("PATCH", f"/api/jobs/{job_id}", json={"title": "X"}))[0] == 409
    assert (await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "T", "questions": [
        {"text": "Q?", "time_limit_s": 60, "dimensions": [{"dimension_id": planning, "weight": 1}]}]}))[0] == 409
    _, jobs = await hr.call("GET", "/api/jobs", expect=200)
    assert [j["archived_at"] is not None for j in jobs["jobs"] if j["id"] == job_id] == [True]
    # Still readable, never deleted.
    assert (await hr.call("GET", f"/api/jobs/{job_id}"))[0] == 200
    await hr.call("POST", f"/api/jobs/{job_id}/restore", expect=200)
    assert (await hr.call("POST", f"/api/jobs/{job_id}/restore"))[0] == 409  # not archived

    await hr.call("POST", f"/api/templates/{tpl}/archive", expect=200)
    refused = await invite(hr, tpl, cand, expect=409)
    assert f"template {tpl} is archived" in refused["error"]
    assert (await hr.call("PATCH", f"/api/templates/{tpl}", json={"name": "New"}))[0] == 409
    _, templates = await hr.call("GET", f"/api/templates?job_id={job_id}", expect=200)
    assert templates["templates"][0]["archived_at"] is not None
    await hr.call("POST", f"/api/templates/{tpl}/restore", expect=200)
    iid = await invite(hr, tpl, cand)
    assert iid > 0

    actions = [r.action for r in store.run_sync(lambda db: list(db.exec(
        select(AuditLog).where(AuditLog.action.in_(  # type: ignore[attr-defined]
            ["job.archive", "job.restore", "template.archive", "template.restore"])).order_by(AuditLog.seq))))]
    assert actions == ["job.archive", "job.restore", "template.archive", "template.restore"]


async def test_copy_template_into_another_job_maps_dimensions_by_name(client: Any, hr: Api, store: Any) -> None:
    job_a, (planning, safety, _) = await new_job(hr)
    tpl = await new_template(hr, job_a, [("Tell us about planning.", [planning]),
                                         ("And safety?", [safety, planning])])
    # The target names them in another case and order, with a dimension of its own.
    job_b, (b_extra, b_safety, b_planning) = await new_job(hr, title="Foreman", dims=[
        {"name": "Leadership"}, {"name": "SAFETY"}, {"name": " planning"}])
    _, copied = await hr.call("POST", f"/api/templates/{tpl}/copy", json={"job_id": job_b}, expect=201)
    _, copy = await hr.call("GET", f"/api/templates/{copied['id']}", expect=200)
    assert copy["job_id"] == job_b and copy["name"] == "Standard" and copy["version"] == 1
    assert [q["text"] for q in copy["questions"]] == ["Tell us about planning.", "And safety?"]
    assert [[d["dimension_id"] for d in q["dimensions"]] for q in copy["questions"]] == [
        [b_planning], [b_safety, b_planning]]
    assert {m["from"]: m["to"] for m in copied["mapped"]} == {planning: b_planning, safety: b_safety}
    assert [r.detail["from_template"] for r in audit_rows(store, "template.copy")] == [tpl]

    # A job without a "Safety": 422 naming it, nothing copied.
    job_c, _ = await new_job(hr, title="Clerk", dims=[{"name": "Planning"}, {"name": "Typing"}])
    status, body = await hr.call("POST", f"/api/templates/{tpl}/copy", json={"job_id": job_c, "name": "Copy"})
    assert status == 422 and body["unmatched"] == ["Safety"] and "Safety" in body["error"]
    _, templates = await hr.call("GET", f"/api/templates?job_id={job_c}", expect=200)
    assert templates["templates"] == []
    # Into an archived job: 409; a job the user cannot see: 404.
    await hr.call("POST", f"/api/jobs/{job_b}/archive", expect=200)
    assert (await hr.call("POST", f"/api/templates/{tpl}/copy", json={"job_id": job_b}))[0] == 409
    other = await login(client, store, "other@example.com")
    their_job, _ = await new_job(other, title="Theirs")
    assert (await hr.call("POST", f"/api/templates/{tpl}/copy", json={"job_id": their_job}))[0] == 404


async def test_a_job_from_before_versions_reads_as_version_1(client: Any, hr: Api, store: Any) -> None:
    """A database from before versions: jobs and templates without saved versions, interviews
    with the upgrade's default versions (1)."""
    job_id, (planning, safety, dress) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("Tell us about planning.", [planning, dress])])
    iid = await invite(hr, tpl, await add_candidate(hr, "Di Before"))

    def forget(db: Any) -> None:
        db.exec(delete(JobVersion))
        db.exec(delete(TemplateVersion))
    store.run_sync(forget)

    _, history = await hr.call("GET", f"/api/jobs/{job_id}/versions", expect=200)
    assert [v["version"] for v in history["versions"]] == [1]
    _, v1 = await hr.call("GET", f"/api/jobs/{job_id}/versions/1", expect=200)
    assert [d["name"] for d in v1["dimensions"]] == ["Planning", "Safety", "Dress and appearance"]
    await take(client, iid, [PLAN_ANSWER])
    before = await report_text(hr, iid)

    # The first edit saves the rows as they were as version 1, then version 2.
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Planning"}, {"id": safety, "name": "Safety"}]}, expect=200)
    rows = store.run_sync(lambda db: [(r.version, r.note) for r in db.exec(
        select(JobVersion).where(JobVersion.job_id == job_id).order_by(JobVersion.version))])
    assert rows == [(1, "as it was before versions were kept"), (2, "")]
    assert await report_text(hr, iid) == before
    job, template = store.run_sync(lambda db: (db.get(Job, job_id), db.get(Template, tpl)))
    assert job.version == 2 and template.version == 1
    interview = store.run_sync(lambda db: db.get(Interview, iid))
    assert interview.job_version == 1


async def test_openapi_lists_the_editing_routes(client: Any) -> None:
    resp = await client.get("/api/openapi.json")
    paths = (await resp.json())["paths"]
    assert "patch" in paths["/api/jobs/{job_id}"] and "patch" in paths["/api/templates/{template_id}"]
    for path in ("/api/jobs/{job_id}/versions", "/api/jobs/{job_id}/versions/{version}",
                 "/api/jobs/{job_id}/archive", "/api/jobs/{job_id}/restore",
                 "/api/templates/{template_id}/versions", "/api/templates/{template_id}/archive",
                 "/api/templates/{template_id}/restore", "/api/templates/{template_id}/copy"):
        assert path in paths, path
    body = paths["/api/jobs/{job_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body  # the JobEdit shape is described


def test_an_old_database_gets_the_version_columns_and_its_jobs_read_as_version_1(tmp_path: Any) -> None:
    """A database made before versions (no version columns or tables) opens with every job and
    template at version 1, their live rows being that version."""
    import sqlite3

    from server import auth
    from server.auth import Principal
    from server.jobs import create_job
    from server.schemas import JobIn
    from server.store import Store
    from server.versions import job_history, job_version_data

    path = tmp_path / "old.sqlite3"
    store = Store(f"sqlite:///{path}")

    def make(db: Any) -> int:
        user = auth.create_user(db, "old@example.com", "correct horse battery staple", "hr")
        who = Principal(id=user.id, email=user.email, role="hr", token_kind="api")
        return int(create_job(db, who, JobIn(title="Old job", language="en", dimensions=DIMS[:2]), "en").id)

    job_id = store.run_sync(make)
    store.close()
    db = sqlite3.connect(path)
    for table, column in (("jobs", "version"), ("jobs", "archived_at"), ("templates", "version"),
                          ("templates", "archived_at"), ("dimensions", "retired"), ("questions", "retired"),
                          ("interviews", "job_version"), ("interviews", "template_version")):
        db.execute(f"alter table {table} drop column {column}")
    db.execute("drop table job_versions")
    db.execute("drop table template_versions")
    db.commit()
    db.close()

    store = Store(f"sqlite:///{path}")
    try:
        def read(db: Any) -> tuple[Any, ...]:
            job = db.get(Job, job_id)
            return job.version, job.archived_at, job_version_data(db, job, 1), job_history(db, job)

        version, archived_at, data, history = store.run_sync(read)
    finally:
        store.close()
    assert version == 1 and archived_at is None
    assert data["title"] == "Old job" and [d["name"] for d in data["dimensions"]] == ["Planning", "Safety"]
    assert [v["version"] for v in history["versions"]] == [1]


async def test_template_edits_reorder_remove_and_add_questions(client: Any, hr: Api, store: Any) -> None:
    job_id, (planning, safety, dress) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("One?", [planning]), ("Two?", [safety]), ("Three?", [dress])])
    other_tpl = await new_template(hr, job_id, [("Elsewhere?", [planning])], name="Other")
    old_iid = await invite(hr, tpl, await add_candidate(hr, "Gil Old"))
    _, t = await hr.call("GET", f"/api/templates/{tpl}", expect=200)
    one, two, three = (q["id"] for q in t["questions"])

    def q(qid: int | None, text: str, dim: int) -> dict[str, Any]:
        return {**({"id": qid} if qid else {}), "text": text, "time_limit_s": 60,
                "dimensions": [{"dimension_id": dim, "weight": 1}]}

    # Three first, one second, two removed, a new fourth; then the new order.
    _, saved = await hr.call("PATCH", f"/api/templates/{tpl}", json={
        "name": "Reordered", "questions": [q(three, "Three?", dress), q(one, "One, again?", planning),
                                           q(None, "Four?", safety)]}, expect=200)
    assert saved["version"] == 2
    assert "name: 'Standard' → 'Reordered'" in saved["changes"] and "questions reordered" in saved["changes"]
    assert "removed question 2: 'Two?'" in saved["changes"] and "added question 3: 'Four?'" in saved["changes"]
    _, t = await hr.call("GET", f"/api/templates/{tpl}", expect=200)
    assert [(x["id"], x["text"]) for x in t["questions"]][:2] == [(three, "Three?"), (one, "One, again?")]
    assert [x["index"] for x in t["questions"]] == [0, 1, 2]
    # Bring "two" back, first: a removed question keeps its id.
    _, saved = await hr.call("PATCH", f"/api/templates/{tpl}", json={"questions": [
        q(two, "Two?", safety), q(three, "Three?", dress)]}, expect=200)
    _, t = await hr.call("GET", f"/api/templates/{tpl}", expect=200)
    assert [x["id"] for x in t["questions"]] == [two, three]

    # The interview invited at version 1 still has its three questions in their order.
    _, detail = await hr.call("GET", f"/api/interviews/{old_iid}", expect=200)
    assert detail["template"] == {"id": tpl, "name": "Standard", "version": 1, "current_version": 3}
    assert sorted({w["question_index"] for w in detail["weights"]}) == [0, 1, 2]
    _, v1 = await hr.call("GET", f"/api/templates/{tpl}/versions/1", expect=200)
    assert [x["text"] for x in v1["questions"]] == ["One?", "Two?", "Three?"]
    assert v1["questions"][2]["dimensions"][0]["name"] == "Dress and appearance"

    # Bad edits: a question of another template, a dimension of no job, a retired one.
    _, other = await hr.call("GET", f"/api/templates/{other_tpl}", expect=200)
    status, body = await hr.call("PATCH", f"/api/templates/{tpl}", json={"questions": [
        q(other["questions"][0]["id"], "Mine?", planning)]})
    assert status == 422 and "is not a question of template" in body["error"]
    status, body = await hr.call("PATCH", f"/api/templates/{tpl}", json={"questions": [q(None, "X?", 10**9)]})
    assert status == 404
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Planning"}, {"id": safety, "name": "Safety"}]}, expect=200)
    status, body = await hr.call("PATCH", f"/api/templates/{tpl}", json={"questions": [q(None, "X?", dress)]})
    assert status == 422 and "retired" in body["error"]
    _, history = await hr.call("GET", f"/api/templates/{tpl}/versions", expect=200)
    assert history["current"] == 3 and [v["version"] for v in history["versions"]] == [3, 2, 1]


async def test_past_hires_are_compared_by_dimension_identity_after_a_rename(client: Any, hr: Api, store: Any) -> None:
    """The recommendation's past-hire profile reads a hire's stored report by dimension id, so a
    dimension renamed since is still the same dimension."""
    from server.reports import _hire_profiles
    from server.tables import Decision, Report

    job_id, (planning, safety, _) = await new_job(hr)
    tpl = await new_template(hr, job_id, [("Tell us about planning.", [planning, safety])])
    iid = await invite(hr, tpl, await add_candidate(hr, "Hal Hired"))
    user_id = audit_rows(store, "job.create")[0].actor_id

    def hired(db: Any) -> None:
        db.add(Decision(interview_id=iid, user_id=user_id, decision="hire"))
        db.add(Report(interview_id=iid, data={"dimensions": [{"id": planning, "name": "Planning", "score": 70.0},
                                                             {"id": safety, "name": "Safety", "score": None}]}))
    store.run_sync(hired)
    await hr.call("PATCH", f"/api/jobs/{job_id}", json={"dimensions": [
        {"id": planning, "name": "Project planning"}, {"id": safety, "name": "Safety"}]}, expect=200)
    names = {planning: "Project planning", safety: "Safety"}
    assert store.run_sync(lambda db: _hire_profiles(db, job_id, 0, names=names)) == [{"Project planning": 70.0}]
    assert store.run_sync(lambda db: _hire_profiles(db, job_id, 0)) == [{"Planning": 70.0}]
