"""The question bank (issue 13): built-in suggestions by job family in English, Korean and
Chinese, matched to a job's dimensions by name; HR's own questions saved to it (audited); the
template builder lists the suggestions and adds one as a question; the template page saves a
question to the bank. Real API, pages and store."""
from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from conftest import Api
from server.question_bank import BANK_FILE
from server.tables import AuditLog, BankQuestion
from test_pages_hr import text_of
from tests.test_report_page import page_login
from tests.test_versions_pages import Form, form_of

FAMILIES = {"engineering", "sales", "customer_service", "manufacturing_safety", "management"}
SERVICE_DIMS = [{"name": "Customer empathy", "keywords": ["listen", "understand"]},
                {"name": "Communication", "keywords": ["explain"]}, {"name": "Punctuality", "keywords": ["on time"]}]


def test_the_built_in_bank_is_complete_in_three_languages() -> None:
    data = json.loads(BANK_FILE.read_text(encoding="utf-8"))["families"]
    assert set(data) == FAMILIES
    for family, body in data.items():
        assert 6 <= len(body["questions"]) <= 10, family
        assert {q["kind"] for q in body["questions"]} == {"structured", "situational", "follow_up"}, family
        for q in body["questions"]:
            for lang in ("en", "ko", "zh"):
                assert q["text"][lang].strip() and 1 <= len(q["dimensions"][lang]) <= 3, (q["id"], lang)
                assert len(q["dimensions"][lang]) == len(q["dimensions"]["en"]), (q["id"], lang)
                assert bool(q.get("scenario", {}).get(lang)) == (q["kind"] == "situational"), (q["id"], lang)


async def test_suggestions_by_family_and_language_matched_to_a_job(hr: Api) -> None:
    _, body = await hr.call("GET", "/api/question-bank?family=sales&language=ko", expect=200)
    assert {f["id"] for f in body["families"]} == FAMILIES and body["language"] == "ko"
    assert body["questions"] and all(q["family"] == "sales" and q["language"] == "ko" for q in body["questions"])
    assert any("고객" in q["text"] for q in body["questions"])
    _, zh = await hr.call("GET", "/api/question-bank?family=sales&language=zh-CN", expect=200)
    assert zh["language"] == "zh" and [q["id"] for q in zh["questions"]] == [q["id"] for q in body["questions"]]

    # A job's language and dimension names: suggestions link to the dimensions of the same name.
    _, job = await hr.call("POST", "/api/jobs", json={"title": "Call centre agent", "language": "en",
                                                     "dimensions": SERVICE_DIMS}, expect=201)
    ids = {d["name"]: d["id"] for d in job["dimensions"]}
    _, found = await hr.call("GET", f"/api/question-bank?family=customer_service&job_id={job['id']}", expect=200)
    first = next(q for q in found["questions"] if q["id"] == "cs-1")
    assert first["language"] == "en" and first["dimensions"] == ["customer empathy", "communication"]
    assert first["dimension_ids"] == sorted([ids["Customer empathy"], ids["Communication"]])
    assert first["unmatched"] == []
    patience = next(q for q in found["questions"] if q["id"] == "cs-4")
    assert patience["dimension_ids"] == [] and patience["unmatched"] == ["patience", "resilience"]
    team = next(q for q in found["questions"] if q["id"] == "cs-6")
    assert team["dimension_ids"] == [] and team["unmatched"] == ["teamwork", "problem solving"]
    # A Korean job whose dimensions carry Korean names: the Korean suggestion links them.
    _, ko_job = await hr.call("POST", "/api/jobs", json={"title": "상담원", "language": "ko", "dimensions": [
        {"name": "고객 공감", "keywords": ["경청"]}, {"name": "Communication", "keywords": ["설명"]}]}, expect=201)
    ko_ids = [d["id"] for d in ko_job["dimensions"]]
    _, found = await hr.call("GET", f"/api/question-bank?family=customer_service&job_id={ko_job['id']}", expect=200)
    first = next(q for q in found["questions"] if q["id"] == "cs-1")
    assert found["language"] == "ko" and first["dimensions"] == ["고객 공감", "의사소통"]
    assert first["dimension_ids"] == ko_ids and first["unmatched"] == []  # one by its Korean name, one by English

    status, bad = await hr.call("GET", "/api/question-bank?family=astronauts")
    assert status == 422 and "unknown job family" in bad["error"]
    status, _ = await hr.call("GET", "/api/question-bank?job_id=999999")
    assert status == 404


async def test_hr_saves_its_own_question_to_the_bank(hr: Api, store: Any) -> None:
    question = {"family": "Customer service", "language": "en", "text": "How do you end a call well?",
                "dimensions": ["Customer empathy"], "time_limit_s": 90}
    _, saved = await hr.call("POST", "/api/question-bank", json=question, expect=201)
    _, body = await hr.call("GET", "/api/question-bank?family=customer_service&language=en", expect=200)
    mine = next(q for q in body["questions"] if q["id"] == f"hr-{saved['id']}")
    assert mine["source"] == "hr" and mine["text"] == question["text"] and mine["time_limit_s"] == 90
    # Only in its own language: a Korean list does not show an English question of HR's.
    _, ko = await hr.call("GET", "/api/question-bank?family=customer_service&language=ko", expect=200)
    assert f"hr-{saved['id']}" not in [q["id"] for q in ko["questions"]]
    rows = store.run_sync(lambda db: db.exec(select(AuditLog).where(AuditLog.action == "question_bank.add")).all())
    assert [(r.target_id, r.detail["family"]) for r in rows] == [(saved["id"], "customer_service")]

    for bad in ({**question, "family": "astronauts"}, {**question, "dimensions": []},
                {**question, "kind": "situational"}, {**question, "text": " "}):
        status, err = await hr.call("POST", "/api/question-bank", json=bad)
        assert status == 422 and err["error"], bad
    assert store.run_sync(lambda db: len(db.exec(select(BankQuestion)).all())) == 1


async def test_the_builder_adds_a_suggestion_and_saves_kinds(client: Any, hr: Api, store: Any) -> None:
    _, job = await hr.call("POST", "/api/jobs", json={"title": "Call centre agent", "language": "en",
                                                     "dimensions": SERVICE_DIMS}, expect=201)
    ids = {d["name"]: d["id"] for d in job["dimensions"]}
    await page_login(client)
    page = f"/jobs/{job['id']}/templates/new"
    fields = await form_of(client, page, page)
    assert fields["q_kind_0"] == "structured" and fields["bank_family"] == ""

    # Choose the family: its suggestions are listed in the job's language.
    resp = await client.post(page, data={**fields, "bank_family": "customer_service", "action": "suggest"})
    listing = await resp.text()
    assert resp.status == 200 and 'data-bank-id="cs-3"' in listing
    assert "A customer calls for the third time" in text_of(listing)
    # Add the situational one: it fills the first empty row, its dimensions ticked by name.
    resp = await client.post(page, data={**fields, "bank_family": "customer_service", "action": "add:cs-3"})
    assert resp.status == 200
    parser = Form(page)
    parser.feed(await resp.text())
    row = dict(parser.fields)
    assert row["q_kind_0"] == "situational" and row["q_scenario_0"].startswith("A customer calls")
    assert f"q_dim_0_{ids['Customer empathy']}" in row and f"q_dim_0_{ids['Communication']}" not in row

    # A follow-up after it, then create: kinds and scenario are saved.
    row.update({"name": "Service", "q_text_1": "How did you show you understood?", "q_kind_1": "follow_up",
                f"q_dim_1_{ids['Customer empathy']}": "on", "q_time_1": "60", "action": "create"})
    resp = await client.post(page, data=row, allow_redirects=False)
    assert resp.status == 303, text_of(await resp.text())
    tpl_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    _, tpl = await hr.call("GET", f"/api/templates/{tpl_id}", expect=200)
    assert [(q["kind"], bool(q["scenario"])) for q in tpl["questions"]] == [("situational", True), ("follow_up", False)]

    # A follow-up as the first question: the form again, the problem named.
    bad = {**fields, "name": "Bad", "q_text_0": "Why?", "q_kind_0": "follow_up",
           f"q_dim_0_{ids['Punctuality']}": "on", "action": "create"}
    resp = await client.post(page, data=bad)
    assert resp.status == 422 and "cannot be the first question" in text_of(await resp.text())

    # The template page shows the kinds and saves a question to the bank.
    shown = text_of(await (await client.get(f"/templates/{tpl_id}")).text())
    assert "Scenario:" in shown and "Asked only when the answer to question 1" in shown
    first = tpl["questions"][0]["id"]
    action = f"/templates/{tpl_id}/questions/{first}/bank"
    save = await form_of(client, f"/templates/{tpl_id}", action)
    resp = await client.post(action, data={**save, "family": "customer_service"}, allow_redirects=False)
    assert resp.status == 303
    saved = store.run_sync(lambda db: db.exec(select(BankQuestion)).one())
    assert saved.kind == "situational" and saved.scenario.startswith("A customer calls")
    assert saved.dimensions == ["Customer empathy"] and saved.family == "customer_service"
    # No family chosen: the page says so, nothing saved.
    resp = await client.post(action, data={**save, "family": ""})
    assert resp.status == 422 and "choose the job family" in text_of(await resp.text()).lower()
    # A question of another template: not found.
    resp = await client.post(f"/templates/{tpl_id}/questions/999999/bank", data={**save, "family": "sales"})
    assert resp.status == 404
