"""Voluntary self-identification and the adverse-impact report: a data set with known rates gives
the right ratios and four-fifths flags; unknowns are counted apart; small samples are warned
about; only admins see it; the answers never reach reviewers or scores."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlmodel import select

from server.adverse_impact import Outcome, rate_table
from server.auth import Principal
from server.candidates import create_candidate
from server.invitations import create_invitations
from server.jobs import dimensions_of
from server.schemas import CandidateIn, InvitationIn
from server.store import stored_id
from server.tables import Decision, Interview, Score, SelfIdentification, User, utcnow
from tests.conftest import make_job_and_template


def test_rate_table_ratios_flags_unknowns_and_small_samples() -> None:
    people = ([Outcome({"sex": "female"}, i < 10) for i in range(20)]
              + [Outcome({"sex": "male"}, i < 16) for i in range(20)]
              + [Outcome({"sex": "another"}, i < 1) for i in range(2)]
              + [Outcome({}, True)] * 3 + [Outcome({"sex": "prefer_not_to_say"}, False)])
    table = rate_table("sex", people)
    groups = {g.category: g for g in table.groups}
    assert table.unknown == 4
    assert (groups["female"].rate, groups["male"].rate, groups["another"].rate) == (0.5, 0.8, 0.5)
    assert groups["male"].impact_ratio == 1.0 and not groups["male"].flagged
    assert abs(groups["female"].impact_ratio - 0.625) < 1e-9 and groups["female"].flagged  # type: ignore[operator]
    assert groups["another"].small_sample and not groups["female"].small_sample
    # Exactly four-fifths is not below it.
    edge = rate_table("sex", [Outcome({"sex": "a"}, i < 4) for i in range(5)]
                      + [Outcome({"sex": "b"}, i < 5) for i in range(5)])
    assert {g.category: g.flagged for g in edge.groups} == {"a": False, "b": False}
    assert rate_table("sex", [Outcome({"sex": "a"}, False)]).groups[0].impact_ratio is None  # nobody selected


# 44 completed interviews: (sex, race, decision, overall), self-identified or not.
def people() -> list[tuple[str | None, str, str, float]]:
    out: list[tuple[str | None, str, str, float]] = []
    for i in range(20):  # women: 10 advanced (5 hired), overall 40-59
        out.append(("female", "asian" if i % 2 else "white",
                    "hire" if i < 5 else "second_interview" if i < 10 else "not_recommended", 40.0 + i))
    for i in range(20):  # men: 16 advanced (8 hired), overall 50-69
        out.append(("male", "asian" if i % 2 else "white",
                    "hire" if i < 8 else "second_interview" if i < 16 else "not_recommended", 50.0 + i))
    out += [("another", "white", "hire", 70.0), ("another", "asian", "not_recommended", 45.0)]
    out += [(None, "", "hire", 60.0), (None, "", "not_recommended", 30.0)]  # did not answer
    return out


async def test_the_report_gives_known_ratios_and_flags_to_admins_only(client: Any, admin: Any, hr: Any) -> None:
    from server.web import store_key

    job_id, _, tpl = await make_job_and_template(admin)
    store = client.server.app[store_key]
    data = people()

    def fill(db: Any) -> list[int]:
        user = db.exec(select(User).where(User.email == "admin@example.com")).one()
        who = Principal(id=stored_id(user), email=user.email, role=user.role)
        dims = [stored_id(d) for d in dimensions_of(db, job_id)]
        ids = [stored_id(create_candidate(db, who, CandidateIn(name=f"P {i}", email=f"p{i}@example.com")))
               for i in range(len(data))]
        issued = create_invitations(db, who, InvitationIn(template_id=tpl, candidate_ids=ids,
                                                          deadline=utcnow() + timedelta(days=3)), 1.5)
        interviews = []
        for item, (sex, race, decision, overall) in zip(issued, data, strict=True):
            itv = db.get(Interview, item.interview.id)
            itv.state, itv.consent, itv.completed_at = "completed", True, utcnow()
            db.add(itv)
            for d in dims:
                db.add(Score(interview_id=itv.id, dimension_id=d, question_index=None, score=overall, evidence=[]))
            db.add(Decision(interview_id=itv.id, user_id=who.id, decision=decision, note="n"))
            if sex is not None:
                db.add(SelfIdentification(candidate_id=itv.candidate_id, sex=sex, race_ethnicity=race,
                                          age_band="25_34"))
            interviews.append(stored_id(itv))
        return interviews

    store.run_sync(fill)
    _, report = await admin.call("GET", f"/api/jobs/{job_id}/adverse-impact", expect=200)
    assert report["interviews"] == 44 and report["self_identified"] == 42
    sections = {s["kind"]: s for s in report["sections"]}

    def groups(kind: str, attribute: str) -> dict[str, dict[str, Any]]:
        table = next(t for t in sections[kind]["tables"] if t["attribute"] == attribute)
        return {g["category"]: {**g, "unknown": table["unknown"]} for g in table["groups"]}

    sex = groups("advanced", "sex")
    assert (sex["female"]["rate"], sex["male"]["rate"]) == (0.5, 0.8)
    assert sex["female"]["impact_ratio"] == 0.625 and sex["female"]["flagged"]
    assert sex["male"]["impact_ratio"] == 1.0 and not sex["male"]["flagged"]
    assert sex["another"]["small_sample"] and sex["female"]["unknown"] == 2
    hired = groups("hired", "sex")
    assert (hired["female"]["rate"], hired["male"]["rate"], hired["another"]["rate"]) == (0.25, 0.4, 0.5)
    assert hired["female"]["impact_ratio"] == 0.5 and hired["male"]["impact_ratio"] == 0.8
    assert not hired["male"]["flagged"]  # 0.8 is not below four-fifths
    # Intersections: women, by race, each 5 of 10 advanced.
    both = groups("advanced", "sex × race_ethnicity")
    assert both["female · asian"]["n"] == 10 and both["female · asian"]["rate"] == 0.5
    # Scoring rate: above the median overall of the 44 (computed here independently).
    overall = sorted(p[3] for p in data)
    median = (overall[21] + overall[22]) / 2
    assert report["score_threshold"] == median and report["threshold_kind"] == "median"
    women_above = sum(1 for p in data if p[0] == "female" and p[3] > median)
    assert groups("scored_above", "sex")["female"]["selected"] == women_above
    assert any("female" in f and "advanced" in f for f in report["flags"])
    assert any("small samples" in w and "another" in w for s in report["sections"] for w in s["warnings"])

    _, chosen = await admin.call("GET", f"/api/jobs/{job_id}/adverse-impact?threshold=55", expect=200)
    scored = {g["category"]: g for g in next(t for s in chosen["sections"] if s["kind"] == "scored_above"
                                             for t in s["tables"] if t["attribute"] == "sex")["groups"]}
    assert scored["female"]["selected"] == 4 and scored["male"]["selected"] == 14  # 56-59 and 56-69

    resp = await admin.client.get(f"/api/jobs/{job_id}/adverse-impact?format=csv", headers=admin.headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await resp.text())))
    line = next(r for r in rows if r[:3] == ["advanced", "sex", "female"])
    assert line[3:7] == ["20", "10", "0.5", "0.625"] and line[7] == "True"

    status, error = await hr.call("GET", f"/api/jobs/{job_id}/adverse-impact")
    assert status == 403 and "admin" in error["error"]
    assert (await admin.call("GET", f"/api/jobs/{job_id}/adverse-impact?threshold=abc"))[0] == 400
    assert (await admin.call("GET", "/api/jobs/999/adverse-impact"))[0] == 404
    # The page, for an admin.
    page = await (await client.get(f"/jobs/{job_id}/adverse-impact", headers=admin.headers)).text()
    assert "Flagged (impact ratio below 0.8)" in page and "0.62" in page


async def test_self_identification_form_stores_apart_and_never_reaches_reviewers(client: Any, hr: Any) -> None:
    from server.web import store_key

    job_id, _, tpl = await make_job_and_template(hr)
    _, cand = await hr.call("POST", "/api/candidates", json={"name": "Ada", "email": "ada@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={"template_id": tpl, "candidate_ids": [cand["id"]],
                                                             "deadline": (utcnow() + timedelta(days=1)).isoformat()},
                           expect=201)
    token = inv["invitations"][0]["url"].rsplit("/", 1)[1]
    iid = inv["invitations"][0]["interview_id"]
    resp = await client.get(f"/i/{token}/about-you?lang=en")  # the job is Korean (the default language)
    assert resp.status == 409 and "after your interview" in await resp.text()
    assert (await client.get("/i/" + "x" * 43 + "/about-you")).status == 404

    store = client.server.app[store_key]

    def complete(db: Any) -> None:
        itv = db.get(Interview, iid)
        itv.state, itv.completed_at = "completed", utcnow()
        db.add(itv)
    store.run_sync(complete)
    page = await (await client.get(f"/i/{token}/about-you?lang=en")).text()
    assert "voluntary" in page and "I prefer not to say" in page and 'value="hispanic_or_latino"' in page
    resp = await client.post(f"/i/{token}/about-you", data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert resp.status == 400 and "could not be read" in await resp.text()
    resp = await client.post(f"/i/{token}/about-you", data={"sex": "robot", "race_ethnicity": "asian"})
    assert resp.status == 422 and "choose one of the options" in await resp.text()
    resp = await client.post(f"/i/{token}/about-you", data={"sex": "female", "race_ethnicity": "hispanic_or_latino",
                                                            "age_band": ""})
    assert resp.status == 200 and "do not see them" in await resp.text()
    row = store.run_sync(lambda db: db.get(SelfIdentification, cand["id"]))
    assert (row.sex, row.race_ethnicity, row.age_band) == ("female", "hispanic_or_latino", "")
    # Reviewers' views hold none of it.
    for path in (f"/api/interviews/{iid}", f"/api/jobs/{job_id}/results", f"/api/interviews/{iid}/report",
                 f"/interviews/{iid}/report", f"/jobs/{job_id}/results"):
        resp = await client.get(path, headers=hr.headers)
        body = await resp.text()
        assert not re.search("hispanic|self.ident", body, re.I), path


async def test_demographics_import_all_or_nothing_and_the_report_uses_it(client: Any, admin: Any, hr: Any) -> None:
    from server.web import store_key

    job_id, _, tpl = await make_job_and_template(admin)
    store = client.server.app[store_key]
    ids = []
    for i in range(6):
        _, c = await admin.call("POST", "/api/candidates", json={"name": f"D {i}", "email": f"d{i}@example.com"},
                                expect=201)
        ids.append(c["id"])
    _, inv = await admin.call("POST", "/api/invitations", json={
        "template_id": tpl, "candidate_ids": ids, "deadline": (utcnow() + timedelta(days=1)).isoformat()}, expect=201)

    def decide(db: Any) -> None:
        user = db.exec(select(User).where(User.email == "admin@example.com")).one()
        for n, item in enumerate(inv["invitations"]):
            itv = db.get(Interview, item["interview_id"])
            itv.state, itv.completed_at = "completed", utcnow()
            db.add(itv)
            # F: d0 d1 d2 (one advanced); M: d3 d4 d5 (all three advanced)
            db.add(Decision(interview_id=itv.id, user_id=user.id, note="n",
                            decision="hire" if n in (0, 3, 4, 5) else "not_recommended"))
    store.run_sync(decide)

    async def post(body: str, who: Any = admin, ctype: str = "text/csv") -> tuple[int, Any]:
        resp = await client.post("/api/imports/demographics", data=body.encode(),
                                 headers={**who.headers, "Content-Type": ctype})
        return resp.status, await resp.json()

    good = "email,sex,race_ethnicity,extra\n" + "".join(
        f"D{i}@example.com,{'F' if i < 3 else 'M'},,x\n" for i in range(6))
    bad = good + "nobody@example.com,F,,\nd1@example.com,F,,\n"
    status, body = await post(bad)
    assert status == 422 and [r["row"] for r in body["rows"]] == [8, 9]
    assert "no candidate" in body["rows"][0]["error"] and "row 3" in body["rows"][1]["error"]
    assert store.run_sync(lambda db: db.exec(select(SelfIdentification)).all()) == []  # nothing imported
    assert (await post("email,sex\nd0@example.com,F\n"))[0] == 422  # race_ethnicity column missing
    assert (await post(good, ctype="application/json"))[0] == 415
    assert (await post(good, who=hr))[0] == 403
    assert (await admin.call("POST", "/api/imports/unknown"))[0] == 404
    status, body = await post(good)
    assert (status, body) == (200, {"imported": 6})

    _, report = await admin.call("GET", f"/api/jobs/{job_id}/adverse-impact", expect=200)
    sex = {c["group"]: c for c in report["categories"] if c["attribute"] == "sex"}
    assert (sex["F"]["n"], sex["F"]["selected"], sex["M"]["selected"]) == (3, 1, 3)
    assert abs(sex["F"]["impact_ratio"] - 1 / 3) < 1e-3 and sex["F"]["flag"] is True and sex["M"]["flag"] is False
