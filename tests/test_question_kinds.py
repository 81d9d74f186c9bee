"""Question kinds (issue 13, "Question types"): structured, situational (a scenario shown first)
and follow-up (asked only when the answer before it missed its dimensions' keywords) are stored
on a template's questions, checked, saved in its versions and frozen into an interview's plan."""
from __future__ import annotations

from typing import Any

from sqlmodel import select

from conftest import Api
from server.plan import load_plan
from server.tables import TemplateVersion
from tests.test_versions import add_candidate, invite, new_job

SCENARIO = "A customer calls for the third time about the same late delivery."


def questions(planning: int, safety: int) -> list[dict[str, Any]]:
    return [
        {"text": "Tell us about a project you planned.", "time_limit_s": 60,
         "dimensions": [{"dimension_id": planning, "weight": 1}]},
        {"text": "How did you keep it on schedule?", "time_limit_s": 45, "kind": "follow_up",
         "dimensions": [{"dimension_id": planning, "weight": 1}]},
        {"text": "What do you do first?", "time_limit_s": 60, "kind": "situational", "scenario": f"  {SCENARIO} ",
         "dimensions": [{"dimension_id": safety, "weight": 1}]},
    ]


async def test_kinds_are_stored_shown_and_frozen_into_the_plan(hr: Api, store: Any) -> None:
    job_id, (planning, safety, _) = await new_job(hr)
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "Kinds",
                                                           "questions": questions(planning, safety)}, expect=201)
    _, detail = await hr.call("GET", f"/api/templates/{tpl['id']}", expect=200)
    got = [(q["kind"], q["scenario"], q["follows"]) for q in detail["questions"]]
    assert got == [("structured", "", None), ("follow_up", "", 0), ("situational", SCENARIO, None)]

    iid = await invite(hr, tpl["id"], await add_candidate(hr, "Kim Kinds"))
    # Version 2 turns the follow-up into a structured question and drops the scenario's question.
    q = detail["questions"]
    _, saved = await hr.call("PATCH", f"/api/templates/{tpl['id']}", json={"questions": [
        {"id": q[0]["id"], "text": q[0]["text"], "time_limit_s": 60, "dimensions": [{"dimension_id": planning,
                                                                                      "weight": 1}]},
        {"id": q[1]["id"], "text": q[1]["text"], "time_limit_s": 45, "kind": "structured",
         "dimensions": [{"dimension_id": planning, "weight": 1}]}]}, expect=200)
    assert saved["version"] == 2 and "question 2: kind changed" in saved["changes"]

    # The interview invited with version 1 is asked version 1's kinds and scenario.
    plan = store.run_sync(lambda db: load_plan(db, iid))
    assert [(p.kind, p.scenario) for p in plan.questions] == [
        ("structured", ""), ("follow_up", ""), ("situational", SCENARIO)]
    versions = store.run_sync(lambda db: {v.version: v.data for v in db.exec(select(TemplateVersion).where(
        TemplateVersion.template_id == tpl["id"]))})
    assert [x["kind"] for x in versions[1]["questions"]] == ["structured", "follow_up", "situational"]
    assert [x["kind"] for x in versions[2]["questions"]] == ["structured", "structured"]
    _, v1 = await hr.call("GET", f"/api/templates/{tpl['id']}/versions/1", expect=200)
    assert v1["questions"][2]["scenario"] == SCENARIO


async def test_kinds_that_cannot_work_are_refused(hr: Api) -> None:
    job_id, (planning, safety, _) = await new_job(hr)
    good = questions(planning, safety)
    bad = {
        "a follow-up first": [good[1], good[0]],
        "a follow-up after a follow-up": [good[0], good[1], good[1]],
        "a situational question without its scenario": [{**good[2], "scenario": " "}],
        "a scenario on a structured question": [{**good[0], "scenario": "Something happened."}],
        "an unknown kind": [{**good[0], "kind": "trick"}],
    }
    for why, qs in bad.items():
        status, body = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "Bad", "questions": qs})
        assert status == 422, (why, status, body)
        assert body["error"], why
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "Ok", "questions": good},
                           expect=201)
    # An edit is held to the same rules.
    status, body = await hr.call("PATCH", f"/api/templates/{tpl['id']}", json={"questions": [good[1]]})
    assert status == 422 and "first question" in body["error"]


async def test_a_copy_keeps_the_kinds(hr: Api) -> None:
    job_id, (planning, safety, _) = await new_job(hr)
    other, _ = await new_job(hr, title="Foreman")
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job_id, "name": "Kinds",
                                                           "questions": questions(planning, safety)}, expect=201)
    _, copied = await hr.call("POST", f"/api/templates/{tpl['id']}/copy", json={"job_id": other}, expect=201)
    _, detail = await hr.call("GET", f"/api/templates/{copied['id']}", expect=200)
    assert [(q["kind"], q["scenario"]) for q in detail["questions"]] == [
        ("structured", ""), ("follow_up", ""), ("situational", SCENARIO)]
