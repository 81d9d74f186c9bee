"""The results board of a job as a page: /jobs/{id}/results, every interview with its scores,
sortable by clicking a column, filtered with a small form, downloadable as CSV (the same query)."""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from sqlmodel import Session

from server.api_router import QueryParam
from server.pages.common import PageCall, hr_page
from server.pages.interviews import STATE_LABELS
from server.i18n import N_, _
from server.reports import Thresholds
from server.jobs import get_job
from server.results import SORTS, Filters, ResultRow, board, job_results
from server.tables import Dimension

RECOMMENDATIONS = (("recommend", N_("Recommend")), ("second_interview", N_("Second interview")),
                   ("not_recommended", N_("Not recommended")), ("insufficient_evidence", N_("Insufficient evidence")))
DECISIONS = (("none", N_("Not decided")), ("hire", N_("Hire")), ("second_interview", N_("Second interview")),
             ("talent_pool", N_("Talent pool")), ("not_recommended", N_("Not recommended")))


@hr_page("GET", "/jobs/{job_id}/results", summary="HR: a job's results board (sort, filter, CSV)",
         errors=(400, 404), query=(QueryParam("sort", f"one of {', '.join(SORTS)}"), QueryParam("order", "asc|desc"),
                                   QueryParam("state", "state"), QueryParam("recommendation", "recommendation"),
                                   QueryParam("decision", "decision or none"), QueryParam("q", "name or email")))
async def results_page(call: PageCall) -> web.Response:
    job_id = call.id_param("job_id", "job")
    query = {k: v for k, v in call.request.query.items() if v != ""}
    filters = Filters.from_query(query)
    thresholds = Thresholds.from_settings(call.settings)

    def work(db: Session) -> tuple[list[ResultRow], list[Dimension], str]:
        rows, dims = job_results(db, call.who, job_id, thresholds)
        return rows, dims, get_job(db, call.who, job_id).title

    rows, dims, title = await call.store.run(work)
    shown = board(rows, dims, filters)

    def sort_link(column: str) -> str:
        """A column's header: its natural order first (highest scores, A to Z), then flipped."""
        if filters.sort == column:
            descending = not filters.descending
        else:
            descending = column in ("overall", "percentile", "completed_at")
        return "?" + urlencode({**query, "sort": column, "order": "desc" if descending else "asc"})

    return call.render(
        "hr_results.html", nav="jobs", job_id=job_id, title=title, rows=shown, total=len(rows), dims=dims,
        filters=filters, query=query, sort_link=sort_link, csv_query=urlencode({**query, "format": "csv"}),
        xlsx_query=urlencode({**query, "format": "xlsx"}),
        states={k: _(v) for k, v in STATE_LABELS.items()},
        recommendations=[(k, _(v)) for k, v in RECOMMENDATIONS], decisions=[(k, _(v)) for k, v in DECISIONS],
        recommendation_labels={k: _(v) for k, v in RECOMMENDATIONS},
        decision_labels={k: _(v) for k, v in DECISIONS},
    )
