"""Candidate pool pages: search (name, email, resume words), add a candidate, one candidate with
their resume and interviews."""
from __future__ import annotations

import zoneinfo

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import Session

from server.api_router import QueryParam
from server.candidates import create_candidate, get_candidate, search_candidates
from server.errors import ApiError
from server.pages.common import MAX_ID, FormErrors, PageCall, hr_page, see_other, validation_errors
from server.pages.interviews import interview_rows
from server.schemas import CandidateIn

# Offered as suggestions in the form (any IANA name is accepted).
TIME_ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
FIELD_LABELS = {"name": "name", "email": "email", "resume_text": "resume", "time_zone": "time zone"}


async def _pool_page(call: PageCall, *, q: str, values: dict[str, str],
                     errors: FormErrors | None = None, status: int = 200) -> web.Response:
    added = _added_id(call)

    def work(db: Session) -> tuple[list[Any], Any]:
        just_added = None
        if added is not None:
            try:
                just_added = get_candidate(db, added)
            except ApiError:
                pass  # deleted meanwhile, or a made-up id: no notice
        return search_candidates(db, q), just_added

    candidates, just_added = await call.store.run(work)
    return call.render("hr_candidates.html", status=status, nav="candidates", q=q,
                       candidates=candidates, values=values, errors=errors or FormErrors(),
                       just_added=just_added, time_zones=TIME_ZONES,
                       default_time_zone=call.settings.mail_time_zone)


def _added_id(call: PageCall) -> int | None:
    raw = call.request.query.get("added", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


@hr_page("GET", "/candidates", summary="HR: the candidate pool with search and the add form",
         query=(QueryParam("q", "words that must all appear in name, email or resume"),))
async def candidates_page(call: PageCall) -> web.Response:
    q = call.request.query.get("q", "").strip()[:500]
    return await _pool_page(call, q=q, values={"name": "", "email": "", "resume_text": "", "time_zone": ""})


def build_candidate(values: dict[str, str]) -> CandidateIn | FormErrors:
    def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
        field = str(loc[0]) if loc else ""
        return "add", f"{FIELD_LABELS.get(field, field)} {described}"

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
    if not isinstance(body, FormErrors):
        valid = body
        try:
            candidate = await call.store.run(lambda db: create_candidate(db, call.who, valid))
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

    def work(db: Session) -> dict[str, Any]:
        return {
            "candidate": get_candidate(db, candidate_id),
            "interviews": interview_rows(db, call.who, candidate_id=candidate_id),
        }

    return call.render("hr_candidate.html", nav="candidates", **await call.store.run(work))
