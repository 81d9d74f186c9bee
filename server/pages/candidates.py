"""Candidate pool pages: search (name, email, resume words) and filters (education, experience,
title), add a candidate, import candidates from CSV/XLSX, one candidate with their resume (file
upload and download), structured fields and interviews.

The two upload forms (resume file, import file) are raw routes with their own gate: the page
gate reads the whole form under the app's 2 MB body limit, these stream the file under their
own limit (server/resumes.py `read_upload`); the CSRF token comes as a form field all the same."""
from __future__ import annotations

import asyncio
import zoneinfo
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDict
from pydantic import ValidationError
from sqlmodel import Session

from server import audit
from server.api import router
from server.api_router import QueryParam
from server.auth import Principal, csrf_matches
from server.candidate_import import MAX_IMPORT_BYTES, import_candidates, read_rows
from server.candidates import PoolFilter, create_candidate, get_candidate, search_candidates
from server.errors import ApiError
from server.i18n import N_, _, ngettext, use_locale, user_locale
from server.pages.common import (
    CSRF_MESSAGE, MAX_ID, FormErrors, PageCall, error_page, hr_page, login_location, page_response, parse_id,
    see_other, validation_errors,
)
from server.pages.interviews import interview_rows
from server.resume_api import CandidateFieldsIn, save_resume, update_fields
from server.resume_fields import EDUCATION_LEVELS
from server.resumes import (
    MAX_RESUME_BYTES, Upload, content_disposition, document_executor, load_resume, read_resume, read_upload,
)
from server.schemas import CandidateIn
from server.web import principal_of, settings_key, store_key

EMPTY_VALUES = {"name": "", "email": "", "resume_text": "", "time_zone": ""}
# Offered as suggestions in the form (any IANA name is accepted).
TIME_ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
FIELD_LABELS = {"name": N_("name"), "email": N_("email"), "resume_text": N_("resume text"),
                "time_zone": N_("time zone"), "education_level": N_("education level"),
                "years_experience": N_("years of experience"), "current_title": N_("current title")}
EDUCATION_LABELS = {"none": N_("No degree"), "high_school": N_("High school"), "associate": N_("Associate degree"),
                    "bachelor": N_("Bachelor's degree"), "master": N_("Master's degree"), "doctorate": N_("Doctorate")}


def education_labels() -> dict[str, str]:
    """The levels' names in the request's language."""
    return {k: _(v) for k, v in EDUCATION_LABELS.items()}


def _filter_of(request: web.Request) -> PoolFilter:
    try:
        return PoolFilter.from_query(request.query)
    except ApiError:
        return PoolFilter()  # a hand-edited address: show the whole pool rather than an error


async def _pool_page(call: PageCall, *, q: str, values: dict[str, str],
                     errors: FormErrors | None = None, status: int = 200,
                     import_errors: FormErrors | None = None) -> web.Response:
    added = _added_id(call)
    pool_filter = _filter_of(call.request)
    imported = call.request.query.get("imported", "")

    def work(db: Session) -> tuple[list[Any], Any]:
        just_added = None
        if added is not None:
            try:
                just_added = get_candidate(db, added)
            except ApiError:
                pass  # deleted meanwhile, or a made-up id: no notice
        return search_candidates(db, q, pool_filter=pool_filter), just_added

    candidates, just_added = await call.store.run(work)
    return call.render("hr_candidates.html", status=status, nav="candidates", q=q,
                       candidates=candidates, values=values, errors=errors or FormErrors(),
                       just_added=just_added, time_zones=TIME_ZONES,
                       default_time_zone=call.settings.mail_time_zone,
                       pool_filter=pool_filter, education_levels=EDUCATION_LEVELS,
                       education_labels=education_labels(),
                       imported=int(imported) if imported.isdigit() and len(imported) < 9 else None,
                       import_errors=import_errors or FormErrors())


def _added_id(call: PageCall) -> int | None:
    raw = call.request.query.get("added", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


@hr_page("GET", "/candidates", summary="HR: the candidate pool with search, filters and the add form",
         query=(QueryParam("q", "words that must all appear in name, email or resume"),
                QueryParam("education_min", "that education level or higher"),
                QueryParam("experience_min", "at least this many years of experience", "number"),
                QueryParam("title", "a part of the current title")))
async def candidates_page(call: PageCall) -> web.Response:
    q = call.request.query.get("q", "").strip()[:500]
    return await _pool_page(call, q=q, values=EMPTY_VALUES)


def build_candidate(values: dict[str, str]) -> CandidateIn | FormErrors:
    def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
        field = str(loc[0]) if loc else ""
        return "add", f"{_(FIELD_LABELS.get(field, field))} {described}"

    try:
        return CandidateIn.model_validate(values, strict=False)
    except ValidationError as exc:
        return validation_errors(exc, label)


@hr_page("POST", "/candidates", summary="HR: add a candidate to the pool", errors=(409, 422))
async def candidate_add(call: PageCall) -> web.Response:
    values = {"name": call.text("name"), "email": call.text("email").strip(),
              "resume_text": call.text("resume_text").replace("\r\n", "\n"),
              "time_zone": call.text("time_zone").strip()}
    body = build_candidate(values)
    # An optional resume file (within the page's general body limit): read first, so that a
    # bad file adds nobody; its text then replaces any pasted text.
    field = call.form.get("resume_file")
    file_data = field.file.read(MAX_RESUME_BYTES + 1) if isinstance(field, FileField) else b""
    if file_data:
        try:
            await asyncio.get_running_loop().run_in_executor(document_executor, read_resume, file_data)
        except ApiError as exc:
            if not isinstance(body, FormErrors):
                body = FormErrors(status=exc.status)
            body.add(f"resume file: {exc.message}", "resume_file")
    if not isinstance(body, FormErrors):
        valid = body
        try:
            candidate = await call.store.run(lambda db: create_candidate(db, call.who, valid))
            if file_data and isinstance(field, FileField) and candidate.id is not None:
                await save_resume(call.request.app, call.who.id, candidate.id, file_data, field.filename)
        except ApiError as exc:
            body = FormErrors(status=exc.status)
            body.add(exc.message, "add")
        else:
            # Back to the empty form: HR often adds several candidates in a row.
            # (No #add fragment: the browser's scroll to it would take the focus off the form.)
            return see_other(f"/candidates?added={candidate.id}")
    return await _pool_page(call, q="", values=values, errors=body, status=body.status)


@hr_page("GET", "/candidates/{candidate_id}", summary="HR: one candidate with resume and interviews",
         errors=(404,))
async def candidate_page(call: PageCall) -> web.Response:
    candidate_id = call.id_param("candidate_id", "candidate")

    return await _candidate_view(call.request, call.who, candidate_id)


async def _candidate_view(request: web.Request, who: Principal, candidate_id: int, *, status: int = 200,
                          resume_errors: FormErrors | None = None,
                          field_errors: FormErrors | None = None) -> web.Response:
    def work(db: Session) -> dict[str, Any]:
        return {
            "candidate": get_candidate(db, candidate_id),
            "interviews": interview_rows(db, who, candidate_id=candidate_id),
        }

    context = await request.app[store_key].run(work)
    try:
        stored = await asyncio.get_running_loop().run_in_executor(
            document_executor, load_resume, Path(request.app[settings_key].data_dir), candidate_id)
    except ApiError:
        stored = None  # logged; the rest of the page still serves
    return page_response(request, "hr_candidate.html", who, status=status, nav="candidates",
                         resume_file=stored, resume_saved=request.query.get("resume") == "saved",
                         fields_saved=request.query.get("fields") == "saved",
                         resume_errors=resume_errors or FormErrors(), field_errors=field_errors or FormErrors(),
                         education_levels=EDUCATION_LEVELS, education_labels=education_labels(),
                         time_zones=TIME_ZONES, **context)


@hr_page("POST", "/candidates/{candidate_id}/fields",
         summary="HR: correct a candidate's education, experience, current title and time zone",
         errors=(404, 422))
async def candidate_fields(call: PageCall) -> web.Response:
    candidate_id = call.id_param("candidate_id", "candidate")
    values: dict[str, Any] = {
        "education_level": call.text("education_level").strip() or None,
        "years_experience": call.text("years_experience").strip() or None,
        "current_title": call.text("current_title").strip(),
        "time_zone": call.text("time_zone").strip(),
    }
    try:
        if values["years_experience"] is not None:
            values["years_experience"] = float(values["years_experience"])
        body = CandidateFieldsIn.model_validate(values, strict=False)
    except ValidationError as exc:
        errors = validation_errors(exc, lambda loc, kind, described: (
            "fields", f"{_(FIELD_LABELS.get(str(loc[0]) if loc else '', N_('a field')))} {described}"))
        return await _candidate_view(call.request, call.who, candidate_id, status=422, field_errors=errors)
    except ValueError:
        errors = FormErrors()
        errors.add(_("years of experience must be a number"), "fields")
        return await _candidate_view(call.request, call.who, candidate_id, status=422, field_errors=errors)
    await call.store.run(lambda db: update_fields(db, call.who.id, candidate_id, body))
    return see_other(f"/candidates/{candidate_id}?fields=saved#fields")


async def _upload_gate(request: web.Request, limit: int, what: str) -> tuple[Principal, Upload] | web.Response:
    """The page gate for a file form: a session (else the login page), the file streamed under
    `limit`, and the form's CSRF token (else 403) before anything is done with it."""
    who = await principal_of(request)
    if who is None:
        return see_other(login_location(request))
    use_locale(user_locale(who.language, request.headers.get("Accept-Language")))
    if not request.content_type.startswith("multipart/"):
        return error_page(request, who, 400, "send the form as multipart/form-data with a file")
    try:
        upload = await read_upload(request, limit, what=what)
    except ApiError as exc:
        # The token is not checked yet: say only what was wrong with the transfer.
        return error_page(request, who, exc.status, exc.message)
    submitted = upload.fields.get("csrf_token")
    if who.token_kind != "session" or not csrf_matches(who, submitted):
        return error_page(request, who, 403, CSRF_MESSAGE)
    return who, upload


@router.raw("POST", "/candidates/{candidate_id}/resume", summary="HR: upload a candidate's resume file",
            auth="hr", errors=(400, 403, 404, 413, 422))
async def candidate_resume_upload(request: web.Request) -> web.StreamResponse:
    gate = await _upload_gate(request, MAX_RESUME_BYTES, "resume")
    if isinstance(gate, web.Response):
        return gate
    who, upload = gate
    try:
        candidate_id = parse_id(request.match_info.get("candidate_id"), "candidate")
    except ApiError as exc:
        return error_page(request, who, exc.status, exc.message)
    try:
        await save_resume(request.app, who.id, candidate_id, upload.data, upload.filename)
    except ApiError as exc:
        if exc.status == 404:
            return error_page(request, who, 404, exc.message)
        errors = FormErrors(status=exc.status)
        errors.add(_("The file was not saved: %(why)s", why=exc.message), "resume_file")
        return await _candidate_view(request, who, candidate_id, status=exc.status, resume_errors=errors)
    return see_other(f"/candidates/{candidate_id}?resume=saved#resume")


@router.raw("GET", "/candidates/{candidate_id}/resume", summary="HR: download a candidate's resume file",
            auth="hr", errors=(404,), content_type="application/octet-stream")
async def candidate_resume_download(request: web.Request) -> web.StreamResponse:
    who = await principal_of(request)
    if who is None:
        return see_other(login_location(request))
    try:
        candidate_id = parse_id(request.match_info.get("candidate_id"), "candidate")
        await request.app[store_key].run(lambda db: get_candidate(db, candidate_id))
    except ApiError as exc:
        return error_page(request, who, exc.status, exc.message)
    try:
        stored = await asyncio.get_running_loop().run_in_executor(
            document_executor, load_resume, Path(request.app[settings_key].data_dir), candidate_id)
    except ApiError as exc:
        return error_page(request, who, exc.status, exc.message)
    if stored is None:
        return error_page(request, who, 404, "this candidate has no resume file")
    await request.app[store_key].run(lambda db: audit.record(
        db, "hr", who.id, "candidate.resume_download", "candidate", candidate_id))
    return web.Response(body=stored.data, content_type=stored.media_type,
                        headers={"Content-Disposition": content_disposition(stored.filename),
                                 "Cache-Control": "no-store"})


@router.raw("POST", "/candidates/import", summary="HR: import candidates from a CSV or XLSX file",
            auth="hr", errors=(400, 403, 413, 422))
async def candidates_import(request: web.Request) -> web.StreamResponse:
    gate = await _upload_gate(request, MAX_IMPORT_BYTES, "CSV or XLSX")
    if isinstance(gate, web.Response):
        return gate
    who, upload = gate
    try:
        rows = await asyncio.get_running_loop().run_in_executor(document_executor, read_rows, upload.data)
        count = await request.app[store_key].run(lambda db: import_candidates(db, rows, who.id))
    except ApiError as exc:
        errors = FormErrors(status=exc.status)
        rows_out = exc.extra.get("rows")
        if rows_out:
            errors.add(ngettext("Nothing was imported: %(num)d problem in the file.",
                                "Nothing was imported: %(num)d problems in the file.", len(rows_out))
                       % {"num": len(rows_out)}, "import_file")
            for r in rows_out[:50]:
                errors.add(_("Row %(row)s: %(error)s", row=r['row'], error=r['error']), "import_file")
        else:
            errors.add(_("Nothing was imported: %(why)s", why=exc.message), "import_file")
        call = PageCall(request, who, MultiDict())
        return await _pool_page(call, q="", values=EMPTY_VALUES, status=exc.status, import_errors=errors)
    return see_other(f"/candidates?imported={count}#import")
