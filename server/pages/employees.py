"""The employee archive as pages: `/employees` (per job), `/employees/{id}` (the recruitment
record as frozen at the hire, with its key clips playable, and what followed: performance,
training, outcomes; forms to add a review and record the departure) and `/imports` (one upload
form per kind of data, CSV or XLSX; every bad row is listed and nothing is imported).

The rules are server/employees.py's and server/imports.py's, the same as the JSON API's. Clips
play from `/api/employees/{id}/clips/{clip}/media` (same origin: the session cookie goes with
it), which renders the time range frozen in the record."""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from sqlmodel import Session

from server.api_router import QueryParam
from server.employees import (
    add_performance, employee_detail, list_employees, parse_bool, parse_rating, parse_when, set_departure,
    visible_job_ids,
)
from server.errors import ApiError, Invalid
from server.i18n import N_, _
from server.imports import KINDS, import_rows, kind_for, read_file
from server.pages.common import FormErrors, PageCall, hr_page, id_or_none, see_other
from server.pages.reports import DECISION_LABELS, RECOMMENDATION_LABELS, mmss
from server.report_words import translated
from server import audit

logger = logging.getLogger(__name__)

# The import forms, in the order the page shows them: (kind, title, what it is for).
IMPORT_FORMS = (
    ("history", N_("Past interviews"), N_("Interview results from a previous system, so the analysis need not wait "
                                          "for new hires. A hire row also makes the employee.")),
    ("performance", N_("Performance reviews"), N_("One rating per employee and period, on 0-100.")),
    ("departures", N_("Departures"), N_("When an employee left and whether they chose to.")),
    ("training", N_("Training"), N_("Courses completed, with the result when graded (0-100).")),
    ("outcomes", N_("Outcomes"), N_("Job-specific results per period, e.g. safety incidents.")),
    ("demographics", N_("Self-identification"), N_("Voluntary group data for the adverse-impact check "
                                                     "(admins only).")),
)


@hr_page("GET", "/employees", summary="HR: the employees of the jobs this user sees (filter by job)",
         errors=(404,), query=(QueryParam("job_id", "only this job's employees", "integer"),))
async def employees_page(call: PageCall) -> web.Response:
    job_id = id_or_none(call.request.query.get("job_id") or None)

    def work(db: Session) -> tuple[list[dict[str, Any]], dict[int, str]]:
        return list_employees(db, call.who, job_id), visible_job_ids(db, call.who)

    employees, jobs = await call.store.run(work)
    return call.render("hr_employees.html", nav="employees", employees=employees, jobs=sorted(jobs.items()),
                       job_id=job_id)


def _record_view(record: dict[str, Any] | None, employee_id: int) -> dict[str, Any] | None:
    """What the page shows of the frozen record: labels in the page's language, clips' sources."""
    if record is None:
        return None
    view = dict(record)
    report = record.get("report")
    if report:
        rec = report.get("recommendation") or {}
        view["recommendation_label"] = _(RECOMMENDATION_LABELS.get(rec.get("decision", ""), rec.get("decision", "")))
        view["recommendation_reason"] = translated(rec.get("reason", ""))
        texts = {q["index"]: q["text"] for q in report.get("questions", []) if not q.get("superseded")}
        view["clips"] = [{**c, "src": f"/api/employees/{employee_id}/clips/{c['id']}/media",
                          "question_text": texts.get(c.get("question_index"), ""),
                          "time": f"{mmss(c['start_s'])}\u2013{mmss(c['end_s'])}"} for c in report.get("clips", [])]
        view["dimensions"] = report.get("dimensions", [])
        view["overall_score"] = (report.get("overall") or {}).get("score")
    else:
        view["clips"] = []
        view["overall_score"] = record.get("overall_score")
    decision = record.get("decision") or {}
    view["decision_label"] = _(DECISION_LABELS.get(decision.get("decision", ""), decision.get("decision", "")))
    return view


async def _employee_view(call: PageCall, employee_id: int, *, status: int = 200, errors: FormErrors | None = None,
                         values: dict[str, str] | None = None) -> web.Response:
    def work(db: Session) -> dict[str, Any]:
        detail = employee_detail(db, call.who, employee_id)
        audit.record(db, "hr", call.who.id, "employee.view", "employee", employee_id, via="page")
        return detail

    detail = await call.store.run(work)
    return call.render("hr_employee.html", status=status, nav="employees", e=detail,
                       record=_record_view(detail["recruitment_record"], employee_id),
                       errors=errors or FormErrors(), values=values or {}, report_text=translated,
                       saved=call.request.query.get("saved", ""))


@hr_page("GET", "/employees/{employee_id}",
         summary="HR: one employee: the recruitment record with its clips, performance, training, outcomes",
         errors=(404,))
async def employee_page(call: PageCall) -> web.Response:
    return await _employee_view(call, call.id_param("employee_id", "employee"))


@hr_page("POST", "/employees/{employee_id}/performance", summary="HR: add a performance review from the page",
         errors=(404, 422))
async def employee_performance(call: PageCall) -> web.Response:
    eid = call.id_param("employee_id", "employee")
    values = {"period_end": call.text("period_end").strip(), "rating": call.text("rating").strip()}
    errors = FormErrors()
    try:
        period_end = parse_when(values["period_end"], "period end")
        rating = parse_rating(values["rating"])
        await call.store.run(lambda db: add_performance(db, call.who, eid, period_end, rating, {}, "page"))
    except Invalid as exc:
        errors.add(exc.message, "performance")
        return await _employee_view(call, eid, status=422, errors=errors, values=values)
    return see_other(f"/employees/{eid}?saved=performance#performance")


@hr_page("POST", "/employees/{employee_id}/departure", summary="HR: record an employee's departure from the page",
         errors=(404, 422))
async def employee_departure(call: PageCall) -> web.Response:
    eid = call.id_param("employee_id", "employee")
    values = {"left_at": call.text("left_at").strip(), "voluntary": call.text("voluntary").strip()}
    errors = FormErrors()
    try:
        left_at = parse_when(values["left_at"], "last day")
        if not values["voluntary"]:
            raise Invalid(_("say whether the employee chose to leave"))
        voluntary = parse_bool(values["voluntary"], "voluntary")
        await call.store.run(lambda db: set_departure(db, call.who, eid, left_at, voluntary, "page"))
    except Invalid as exc:
        errors.add(exc.message, "departure")
        return await _employee_view(call, eid, status=422, errors=errors, values=values)
    return see_other(f"/employees/{eid}?saved=departure#departure")


# --- imports ------------------------------------------------------------------------------------

def _forms(who_is_admin: bool) -> list[dict[str, Any]]:
    out = []
    for name, title, hint in IMPORT_FORMS:
        kind = KINDS[name]
        if kind.admin_only and not who_is_admin:
            continue
        out.append({"kind": name, "title": _(title), "hint": _(hint), "required": kind.required,
                    "optional": kind.optional, "more": _(kind.more) if kind.more else ""})
    return out


def _imports_page(call: PageCall, *, status: int = 200, kind: str = "", errors: FormErrors | None = None,
                  imported: int | None = None) -> web.Response:
    return call.render("hr_imports.html", status=status, nav="imports", forms=_forms(call.who.is_admin),
                       kind=kind, errors=errors or FormErrors(), imported=imported)


@hr_page("GET", "/imports", summary="HR: import archive data (past interviews, performance, departures, training, "
                                    "outcomes) from CSV or XLSX", query=(QueryParam("kind", "the kind imported"),
                                                                         QueryParam("imported", "how many rows")))
async def imports_page(call: PageCall) -> web.Response:
    kind = call.request.query.get("kind", "")
    raw = call.request.query.get("imported", "")
    imported = int(raw) if raw.isdigit() and len(raw) < 9 and kind in KINDS else None
    return _imports_page(call, kind=kind if kind in KINDS else "", imported=imported)


@hr_page("POST", "/imports/{kind}", summary="HR: import one file of a kind (all rows or none)",
         errors=(403, 404, 413, 422))
async def imports_upload(call: PageCall) -> web.Response:
    name = call.request.match_info["kind"]
    errors = FormErrors()
    field = call.form.get("file")
    try:
        kind = kind_for(call.who, name)
        if not isinstance(field, FileField):
            raise Invalid(_("choose a file to import"))
        rows = read_file(field.file.read(), kind)
        count = await call.store.run(lambda db: import_rows(db, call.who, name, rows))
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        errors.status = exc.status
        bad = exc.extra.get("rows")
        if bad:
            errors.add(_("Nothing was imported: %(why)s", why=_("%(num)s rows need fixing", num=len(bad))), name)
            for r in bad[:200]:
                errors.add(_("Row %(row)s: %(error)s", row=r["row"], error=r["error"]), name)
            if len(bad) > 200:
                errors.add(_("%(num)s rows need fixing", num=len(bad) - 200), name)
        else:
            errors.add(_("Nothing was imported: %(why)s", why=exc.message), name)
        return _imports_page(call, status=errors.status, kind=name, errors=errors)
    return see_other(f"/imports?kind={name}&imported={count}#{name}")
