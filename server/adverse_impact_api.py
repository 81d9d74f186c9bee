"""`GET /api/jobs/{id}/adverse-impact` (admin): the job's adverse-impact report as JSON, or its
LL144-style summary as CSV. Admins only: reviewers never see self-identification, not even in
aggregate for the jobs they review."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import audit
from server.adverse_impact import job_report, summary_csv
from server.api import router
from server.api_router import Call, QueryParam
from server.errors import Malformed
from server.jobs import get_job
from server.reports import Thresholds
from server.web import settings_key, store_key


def score_threshold(call: Call) -> float | None:
    raw = call.request.query.get("threshold")
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Malformed(f"threshold must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise Malformed("threshold must be a number from 0 to 100")
    return value


@router.route("GET", "/api/jobs/{job_id}/adverse-impact", auth="admin",
              summary="Adverse impact: selection and scoring rates per self-identified category, impact ratios",
              errors=(403, 404),
              query=(QueryParam("threshold", "overall score (0-100) for the scoring rate; default: the median",
                                "string"),
                     QueryParam("format", "json (default) or csv (an LL144-style summary)")),
              tag="compliance")
async def get_adverse_impact(call: Call) -> dict[str, Any] | web.Response:
    job_id = call.int_param("job_id")
    threshold = score_threshold(call)
    fmt = call.request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Malformed("format must be json or csv")
    thresholds = Thresholds.from_settings(call.request.app[settings_key])

    def work(db: Session) -> tuple[dict[str, Any], str]:
        job = get_job(db, call.who, job_id)
        report = job_report(db, call.who, job_id, thresholds, threshold)
        audit.record(db, "hr", call.who.id, "adverse_impact.view", "job", job_id, format=fmt)
        return report, job.title

    report, title = await call.request.app[store_key].run(work)
    if fmt == "csv":
        return web.Response(text=summary_csv(report, title), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="job-{job_id}-adverse-impact.csv"'})
    return report
