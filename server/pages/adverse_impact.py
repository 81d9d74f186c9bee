"""/jobs/{id}/adverse-impact (admin): the job's adverse-impact report as tables, with the flags
and warnings in words, a score threshold to try, and the LL144-style CSV summary."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import audit
from server.adverse_impact import job_report
from server.api_router import QueryParam
from server.errors import ApiError, Malformed
from server.jobs import get_job
from server.pages.common import PageCall, hr_page
from server.reports import Thresholds

KIND_WORDS = {"advanced": "Advanced (second interview or hire)", "hired": "Hired",
              "scored_above": "Scored above the threshold"}
ATTRIBUTE_WORDS = {"sex": "Sex / gender", "race_ethnicity": "Race / ethnicity", "age_band": "Age band",
                   "sex × race_ethnicity": "Sex × race / ethnicity"}


@hr_page("GET", "/jobs/{job_id}/adverse-impact", summary="Admin: a job's adverse-impact report",
         errors=(400, 403, 404), query=(QueryParam("threshold", "overall score for the scoring rate (0-100)"),))
async def adverse_impact_page(call: PageCall) -> web.Response:
    if not call.who.is_admin:
        raise ApiError("only an admin sees adverse-impact reports (they are built from self-identification)",
                       status=403)
    job_id = call.id_param("job_id", "job")
    raw = call.request.query.get("threshold", "").strip()
    threshold = None
    if raw:
        try:
            threshold = float(raw)
        except ValueError:
            raise Malformed(f"the threshold must be a number from 0 to 100, not {raw!r}") from None
        if not 0 <= threshold <= 100:
            raise Malformed("the threshold must be a number from 0 to 100")
    thresholds = Thresholds.from_settings(call.settings)

    def work(db: Session) -> tuple[dict[str, Any], str]:
        job = get_job(db, call.who, job_id)
        report = job_report(db, call.who, job_id, thresholds, threshold)
        audit.record(db, "hr", call.who.id, "adverse_impact.view", "job", job_id, format="page")
        return report, job.title

    report, title = await call.store.run(work)
    return call.render("hr_adverse_impact.html", nav="jobs", report=report, job_id=job_id, job_title=title,
                       threshold=raw, kind_words=KIND_WORDS, attribute_words=ATTRIBUTE_WORDS)
