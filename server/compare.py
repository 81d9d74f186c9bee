"""Two to four completed interviews of one job side by side (`GET /api/jobs/{id}/compare?
interviews=1,2`; the page is server/pages/compare.py): per candidate the overall, percentile,
recommendation, review and decision; per dimension each candidate's score, percentile, evidence
in words and the key clips of the answers that count towards it.

Built from each interview's report (server/reports.py build_report), so every number is the one
its report shows."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from aiohttp import web
from sqlmodel import Session

from server.api import router
from server.api_router import Call, QueryParam
from server.auth import Principal
from server import audit
from server.errors import Conflict, Invalid, Malformed
from server.evidence_words import counted_questions, evidence_lines
from server.invitations import visible_interview
from server.jobs import dimensions_of, get_job
from server.reports import Thresholds, build_report
from server.review import REPORT_WAIT_S, review_status
from server.schemas import MAX_ID
from server.sessions import sessions_key
from server.store import stored_id
from server.tables import Candidate, Interview, Job
from server.web import base_url, settings_key, store_key

MIN_COMPARED, MAX_COMPARED = 2, 4
_IDS = re.compile(r"[0-9]{1,19}(,[0-9]{1,19})*", re.ASCII)


def parse_interview_ids(values: Iterable[str]) -> list[int]:
    """`interviews=1,2,3` (or the parameter repeated, as a form of checkboxes sends it): 400 when
    it is missing or not a list of ids, 422 for fewer than 2, more than 4 or the same one twice."""
    parts = [v.strip() for v in values if v.strip()]
    if not parts:
        raise Malformed(f"choose {MIN_COMPARED} to {MAX_COMPARED} interviews to compare "
                        f"(interviews=<id>,<id>...)")
    joined = ",".join(parts)
    if len(joined) > 200 or not _IDS.fullmatch(joined):
        raise Malformed(f"interviews must be a comma-separated list of interview ids, got {joined[:50]!r}")
    ids = [int(p) for p in joined.split(",")]
    if any(not 1 <= i <= MAX_ID for i in ids):
        raise Malformed(f"interview ids are between 1 and {MAX_ID}")
    if len(set(ids)) != len(ids):
        raise Invalid("the same interview is listed twice: choose different candidates")
    if not MIN_COMPARED <= len(ids) <= MAX_COMPARED:
        raise Invalid(f"choose {MIN_COMPARED} to {MAX_COMPARED} candidates to compare; {len(ids)} chosen")
    return ids


@dataclass(frozen=True, slots=True)
class CompareQuery:
    job_id: int
    interview_ids: list[int]
    base: str  # where the clips' media URLs point (the report's base URL)
    thresholds: Thresholds


def check_interviews(db: Session, who: Principal, job_id: int, ids: list[int]) -> tuple[Job, list[Interview]]:
    """NotFound (404) for a job or interview this user cannot see, Invalid (422) for an interview
    of another job, Conflict (409) for one not completed."""
    job = get_job(db, who, job_id)
    interviews = [visible_interview(db, who, iid) for iid in ids]
    for itv in interviews:
        if itv.job_id != job_id:
            raise Invalid(f"interview {itv.id} is not an interview for this job ({job.title}): compare "
                          f"candidates of one job")
    for itv in interviews:
        if itv.state != "completed":
            raise Conflict(f"interview {itv.id} is not completed (it is {itv.state}): only completed "
                           f"interviews can be compared")
    return job, interviews


def build_comparison(db: Session, who: Principal, q: CompareQuery) -> dict[str, Any]:
    """The comparison (checked as `check_interviews` says)."""
    job, interviews = check_interviews(db, who, q.job_id, q.interview_ids)
    audit.record(db, "hr", who.id, "compare.view", "job", q.job_id, interview_ids=list(q.interview_ids))
    candidates: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for itv in interviews:
        iid = stored_id(itv)
        report = build_report(db, iid, q.base, q.thresholds)
        review = review_status(db, who, iid, report)
        person = db.get(Candidate, itv.candidate_id)
        assert person is not None, "a foreign key"
        reports.append(report)
        decision = review["decision"]
        candidates.append({
            "interview_id": iid, "candidate_id": itv.candidate_id, "name": person.name, "email": person.email,
            "completed_at": itv.completed_at, "consent": itv.consent,
            "overall": report["overall"]["score"], "coverage": report["overall"]["coverage"],
            "sufficient": report["overall"]["sufficient"],
            "percentile": {k: report["percentile"][k] for k in ("value", "count", "text")},
            "recommendation": report["recommendation"],
            "review": {"notes": len(review["notes"]), "complete": review["complete"], "missing": review["missing"]},
            "decision": None if decision is None else {k: decision[k] for k in ("decision", "note", "created_at")},
            "report_url": f"/interviews/{iid}/report",
            "pdf_url": f"/api/interviews/{iid}/report.pdf",
        })
    # The job's dimensions in its order; one an older interview plan had that the job no longer has after them.
    order = {stored_id(d): d for d in dimensions_of(db, q.job_id)}
    names: dict[int, tuple[str, float]] = {i: (d.name, d.weight) for i, d in order.items()}
    for report in reports:
        for d in report["dimensions"]:
            names.setdefault(d["id"], (d["name"], d["weight"]))
    dimensions = []
    for dim_id, (name, weight) in names.items():
        row = []
        for cand, report in zip(candidates, reports, strict=True):
            row.append(_cell(dim_id, cand, report))
        if any(c["status"] != "not_in_interview" for c in row):
            dimensions.append({"id": dim_id, "name": name, "weight": weight, "scores": row})
    return {"job": {"id": q.job_id, "title": job.title}, "candidates": candidates, "dimensions": dimensions}


def _cell(dim_id: int, cand: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    iid = cand["interview_id"]
    dim = next((d for d in report["dimensions"] if d["id"] == dim_id), None)
    if dim is None:
        human = report["consent"] is False
        return {"interview_id": iid, "status": "not_assessed" if human else "not_in_interview", "score": None,
                "reason": ("no AI scores: the candidate asked for a human-only review" if human
                           else "not a dimension of this candidate's interview"),
                "percentile": {"value": None, "count": 0}, "evidence": [], "clips": []}
    questions = counted_questions(dim)
    clips = [{k: c[k] for k in ("id", "kind", "question_index", "start_s", "end_s", "text", "reason", "media_url")}
             for c in report["clips"] if c["question_index"] in questions]
    return {"interview_id": iid, "status": dim["status"], "score": dim["score"], "reason": dim["reason"],
            "percentile": dim["percentile"], "evidence": evidence_lines(dim), "clips": clips}


async def comparison_for(request: web.Request, who: Principal, job_id: int, values: Iterable[str]) -> dict[str, Any]:
    """Parse, wait for the interviews' last scores (as the report does) and build."""
    ids = parse_interview_ids(values)
    store = request.app[store_key]
    await store.run(lambda db: check_interviews(db, who, job_id, ids))  # before waiting on any of them
    for iid in ids:
        await request.app[sessions_key].settled(iid, REPORT_WAIT_S)
    query = CompareQuery(job_id, ids, base_url(request), Thresholds.from_settings(request.app[settings_key]))
    return await store.run(lambda db: build_comparison(db, who, query))


@router.route("GET", "/api/jobs/{job_id}/compare",
              summary="2 to 4 completed interviews of a job side by side: per candidate the overall, percentile, "
                      "recommendation, review and decision; per dimension each one's score, percentile, evidence "
                      "and key clips (the numbers of each report)",
              errors=(400, 404, 409, 422), tag="jobs",
              query=(QueryParam("interviews", f"{MIN_COMPARED} to {MAX_COMPARED} interview ids of this job, "
                                              "comma-separated (e.g. 12,15)"),))
async def get_comparison(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await comparison_for(call.request, call.who, job_id, call.request.query.getall("interviews", []))
