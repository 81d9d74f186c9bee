"""A job's results board: every interview of the job with its state, overall (and coverage), each
dimension's score, percentile, recommendation, review and decision, sortable and filterable,
as JSON, CSV or XLSX (`GET /api/jobs/{id}/results`; the page is server/pages/results.py).

Built from the stored interview-level scores in a few queries for the whole job (not from one
report per candidate), with the same rules as the report: scoring.overall_score for the
overall and coverage, the job's sufficiently covered completed interviews as the percentile
pool, reports.recommend for the recommendation."""
from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from aiohttp import web
from sqlmodel import Session, col, func, select

from server.api import router
from server.api_router import Call, QueryParam
from server.auth import Principal
from server import audit
from server.errors import Malformed
from server.jobs import dimensions_of, get_job
from server.reports import MIN_FOR_PERCENTILE, Thresholds, _hire_profiles, recommend
from server.scoring import overall_score
from server.store import stored_id
from server.tables import Candidate, Decision, Dimension, Interview, InterviewWeight, Score
from server.versions import job_version_data
from server.web import settings_key, store_key

SORTS = ("name", "state", "overall", "percentile", "recommendation", "decision", "completed_at")
MAX_LIMIT = 500
RECOMMENDATION_ORDER = {"recommend": 0, "second_interview": 1, "not_recommended": 2, "insufficient_evidence": 3}


@dataclass(slots=True)
class ResultRow:
    candidate_id: int
    interview_id: int
    name: str
    email: str
    state: str
    completed_at: datetime | None
    consent: bool | None
    overall: float | None = None
    coverage: float | None = None
    dimensions: dict[str, float | None] = field(default_factory=dict)
    percentile: float | None = None
    recommendation: str | None = None
    decision: str | None = None

    @property
    def review_done(self) -> bool:
        return self.decision is not None  # the gate lets a decision through only after the review

    def to_json(self) -> dict[str, Any]:
        return {"candidate_id": self.candidate_id, "interview_id": self.interview_id, "name": self.name,
                "email": self.email, "state": self.state, "completed_at": self.completed_at,
                "overall": self.overall, "coverage": self.coverage, "dimensions": self.dimensions,
                "percentile": self.percentile, "recommendation": self.recommendation,
                "review_done": self.review_done, "decision": self.decision}


@dataclass(frozen=True, slots=True)
class Filters:
    state: str = ""
    recommendation: str = ""
    decision: str = ""
    q: str = ""
    minimum: Mapping[int, float] = field(default_factory=dict)  # dimension id -> lowest score
    sort: str = "overall"
    descending: bool = True

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        sort = query.get("sort", "overall")
        if sort not in SORTS:
            raise Malformed(f"sort must be one of {', '.join(SORTS)}")
        order = query.get("order", "desc" if sort in ("overall", "percentile", "completed_at") else "asc")
        if order not in ("asc", "desc"):
            raise Malformed("order must be asc or desc")
        minimum: dict[int, float] = {}
        for key, raw in query.items():
            if not key.startswith("min_") or raw == "":
                continue
            try:
                minimum[int(key[4:])] = float(raw)
            except ValueError:
                raise Malformed(f"{key}: expected min_<dimension id>=<score>, got {raw!r}") from None
        return cls(query.get("state", ""), query.get("recommendation", ""), query.get("decision", ""),
                   query.get("q", "").strip().lower()[:200], minimum, sort, order == "desc")

    def keep(self, row: ResultRow, names: Mapping[int, str]) -> bool:
        if self.state and row.state != self.state:
            return False
        if self.recommendation and row.recommendation != self.recommendation:
            return False
        if self.decision and (row.decision or "none") != self.decision:
            return False
        if self.q and self.q not in row.name.lower() and self.q not in row.email.lower():
            return False
        for dim_id, lowest in self.minimum.items():
            value = row.dimensions.get(names.get(dim_id, ""))
            if value is None or value < lowest:
                return False
        return True

    def key(self, row: ResultRow) -> tuple[Any, ...]:
        """Sort key; rows without the value go last whatever the order."""
        value: Any = {
            "name": row.name.lower(), "state": row.state, "overall": row.overall, "percentile": row.percentile,
            "recommendation": RECOMMENDATION_ORDER.get(row.recommendation or "", None),
            "decision": row.decision, "completed_at": row.completed_at,
        }[self.sort]
        return (value is None, value if value is not None else 0, row.interview_id)


def job_results(db: Session, who: Principal, job_id: int,
                thresholds: Thresholds) -> tuple[list[ResultRow], list[Dimension]]:
    """Every interview of the job as a board row (and the job's dimensions, in order)."""
    job = get_job(db, who, job_id)
    dims = dimensions_of(db, job_id)
    # By dimension identity across versions: a renamed dimension under its newest name, a retired
    # one (scored in older versions' interviews) still named.
    every = dimensions_of(db, job_id, include_retired=True)
    names = {stored_id(d): d.name for d in every}
    weights_at: dict[int, dict[int, float]] = {}

    def weights_of(version: int) -> dict[int, float]:
        """The dimension weights of the job version an interview ran with (its report's)."""
        if version not in weights_at:
            weights_at[version] = {d["id"]: d["weight"] for d in job_version_data(db, job, version)["dimensions"]}
        return weights_at[version]

    version_of: dict[int, int] = {}
    rows: dict[int, ResultRow] = {}
    for itv, cand, decision in db.exec(
        select(Interview, Candidate, Decision)
        .join(Candidate, col(Candidate.id) == Interview.candidate_id)
        .outerjoin(Decision, col(Decision.interview_id) == Interview.id)
        .where(Interview.job_id == job_id)
    ).all():
        version_of[stored_id(itv)] = itv.job_version
        rows[stored_id(itv)] = ResultRow(stored_id(cand), stored_id(itv), cand.name, cand.email, itv.state,
                                         itv.completed_at, itv.consent,
                                         decision=decision.decision if decision is not None else None)
    # Per interview and linked dimension: the resume boost frozen at invitation and the score.
    boost = func.max(col(InterviewWeight.weight) / col(InterviewWeight.base_weight))
    linked: dict[int, dict[int, tuple[float, float | None]]] = {}
    for iid, dim_id, factor in db.exec(
        select(InterviewWeight.interview_id, InterviewWeight.dimension_id, boost)
        .join(Interview, col(Interview.id) == InterviewWeight.interview_id)
        .where(Interview.job_id == job_id)
        .group_by(col(InterviewWeight.interview_id), col(InterviewWeight.dimension_id))
    ).all():
        linked.setdefault(iid, {})[dim_id] = (factor or 1.0, None)
    for iid, dim_id, score in db.exec(
        select(Score.interview_id, Score.dimension_id, Score.score)
        .join(Interview, col(Interview.id) == Score.interview_id)
        .where(Interview.job_id == job_id, col(Score.question_index).is_(None))
    ).all():
        if iid in linked and dim_id in linked[iid]:
            linked[iid][dim_id] = (linked[iid][dim_id][0], score)
    pool: dict[int, float] = {}
    for iid, row in rows.items():
        dims_of = linked.get(iid, {})
        if row.consent is False or not dims_of:
            continue  # human-only: no AI scores
        result = overall_score({d: v[1] for d, v in dims_of.items()}, weights_of(version_of[iid]),
                               {d: v[0] for d, v in dims_of.items()})
        row.overall, row.coverage = result.score, result.coverage
        row.dimensions = {names[d]: v[1] for d, v in dims_of.items() if d in names}
        if row.state == "completed" and row.overall is not None and row.coverage >= thresholds.min_coverage:
            pool[iid] = row.overall
    hires = _hire_profiles(db, job_id, exclude=0, names=names)
    ranked = sorted(pool.values())
    for iid, row in rows.items():
        if row.state != "completed":
            continue
        if iid in pool:
            row.percentile = _percentile_among_others(pool[iid], ranked)
        assessed = {n: v for n, v in row.dimensions.items() if v is not None}
        rec = recommend(assessed, hires, thresholds, overall=row.overall,
                        coverage=row.coverage if row.consent is not False else None,
                        not_assessed=[n for n, v in row.dimensions.items() if v is None],
                        weights={names[d]: w for d, w in weights_of(version_of[iid]).items()})
        row.recommendation = rec.decision
    shown = {n for row in rows.values() for n in row.dimensions}
    retired = [d for d in every if d.retired and d.name in shown]  # columns for older versions' dimensions
    return list(rows.values()), dims + retired


def _percentile_among_others(score: float, ranked: list[float]) -> float | None:
    """reports.percentile against the pool without this interview, for a sorted pool that
    holds it: by bisection, so a board of thousands stays linear-logarithmic."""
    others = len(ranked) - 1
    if others < MIN_FOR_PERCENTILE:
        return None
    below = bisect.bisect_left(ranked, score)
    ties = bisect.bisect_right(ranked, score) - below - 1  # this interview's own score is one of them
    return round(100.0 * (below + 0.5 * ties) / others, 1)


def board(rows: list[ResultRow], dims: list[Any], filters: Filters) -> list[ResultRow]:
    names = {stored_id(d): d.name for d in dims}
    kept = [r for r in rows if filters.keep(r, names)]
    present = [r for r in kept if filters.key(r)[0] is False]
    missing = [r for r in kept if filters.key(r)[0] is True]
    present.sort(key=filters.key, reverse=filters.descending)
    missing.sort(key=lambda r: r.interview_id)
    return present + missing


def csv_text(rows: list[ResultRow], dims: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    dim_names = [d.name for d in dims]
    writer.writerow(["name", "email", "state", "overall", "coverage", *dim_names, "percentile", "recommendation",
                     "review_done", "decision", "completed_at"])
    for r in rows:
        writer.writerow([r.name, r.email, r.state, "" if r.overall is None else r.overall,
                         "" if r.coverage is None else r.coverage,
                         *["" if r.dimensions.get(n) is None else r.dimensions[n] for n in dim_names],
                         "" if r.percentile is None else r.percentile, r.recommendation or "",
                         "yes" if r.review_done else "no", r.decision or "",
                         r.completed_at.isoformat() if r.completed_at else ""])
    return out.getvalue()


def xlsx_bytes(rows: list[ResultRow], dims: list[Dimension], title: str) -> bytes:
    """The same table as csv_text, as a spreadsheet (numbers as numbers, the header frozen)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Results"
    table = list(csv.reader(io.StringIO(csv_text(rows, dims))))
    numeric = {i for i, name in enumerate(table[0]) if name in ("overall", "coverage", "percentile")
               or name in {d.name for d in dims}}
    for line in table:
        sheet.append([float(v) if i in numeric and v != "" and line is not table[0] else v
                      for i, v in enumerate(line)])
    sheet.freeze_panes = "A2"
    book.properties.title = f"{title}: results"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _int(query: Mapping[str, str], name: str, default: int, highest: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Malformed(f"{name} must be a whole number") from None
    if not 0 <= value <= highest:
        raise Malformed(f"{name} must be between 0 and {highest}")
    return value


@router.route("GET", "/api/jobs/{job_id}/results",
              summary="A job's results board: one row per interview (overall, dimensions, percentile, "
                      "recommendation, review, decision), filtered, sorted and paged; ?format=csv for a file",
              errors=(400, 404), tag="jobs", query=(
                  QueryParam("sort", f"one of {', '.join(SORTS)} (default overall)"),
                  QueryParam("order", "asc or desc"),
                  QueryParam("state", "only this interview state"),
                  QueryParam("recommendation", "recommend, second_interview, not_recommended or "
                                               "insufficient_evidence"),
                  QueryParam("decision", "a decision, or none"),
                  QueryParam("q", "name or email contains"),
                  QueryParam("min_<dimension id>", "only rows whose score on that dimension is at least this"),
                  # (whole numbers from 0: not "integer", which this router checks as ids from 1)
                  QueryParam("limit", f"rows, a whole number (default 100, at most {MAX_LIMIT})"),
                  QueryParam("offset", "rows to skip, a whole number (default 0)"),
                  QueryParam("format", "json (default), csv or xlsx (files hold every matching row)")))
async def get_results(call: Call) -> dict[str, Any] | web.Response:
    job_id = call.int_param("job_id")
    query = call.request.query
    filters = Filters.from_query(query)
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise Malformed("format must be json, csv or xlsx")
    limit, offset = _int(query, "limit", 100, MAX_LIMIT), _int(query, "offset", 0, 10**9)
    thresholds = Thresholds.from_settings(call.request.app[settings_key])
    rows, dims = await call.request.app[store_key].run(lambda db: job_results(db, call.who, job_id, thresholds))
    shown = board(rows, dims, filters)
    if fmt != "json":  # a file leaves the server: audited
        await call.request.app[store_key].run(lambda db: audit.record(db, "hr", call.who.id, "results.export", "job",
                                                                      job_id, format=fmt, rows=len(shown)))
    if fmt == "xlsx":
        return web.Response(body=xlsx_bytes(shown, dims, f"job {job_id}"),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers={"Content-Disposition": f'attachment; filename="job-{job_id}-results.xlsx"'})
    if fmt == "csv":
        return web.Response(text=csv_text(shown, dims), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="job-{job_id}-results.csv"'})
    return {"total": len(shown), "dimensions": [{"id": stored_id(d), "name": d.name} for d in dims],
            "rows": [r.to_json() for r in shown[offset:offset + limit]]}
