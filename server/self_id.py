"""Voluntary self-identification, asked after the interview on its own page
(`/i/{token}/about-you`, reached from the candidate's finished page): sex, race/ethnicity and an
age band, each with "prefer not to say". Stored apart (server/tables.py SelfIdentification),
never shown to reviewers, never an input of any score; only server/adverse_impact.py reads it,
in aggregate."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session, select

from server.api import router
from server.api_router import QueryParam
from server.auth import token_digest
from server import i18n
from server.candidate_page import UNKNOWN_LINK, closed_page, page_locale
from server.i18n import N_
from server.rendering import render
from server.tables import Interview, Invitation, Job, SelfIdentification, utcnow
from server.web import store_key

# (stored value, what the form says, a msgid of server/i18n.py); "" = prefer not to say. The categories follow the EEO-1
# form a US bias audit reports on; imported data may hold others (the report groups any value).
SEX = (("female", N_("Female")), ("male", N_("Male")), ("another", N_("Another gender identity")))
RACE_ETHNICITY = (
    ("hispanic_or_latino", N_("Hispanic or Latino")),
    ("white", N_("White")),
    ("black_or_african_american", N_("Black or African American")),
    ("asian", N_("Asian")),
    ("native_hawaiian_or_pacific_islander", N_("Native Hawaiian or Other Pacific Islander")),
    ("american_indian_or_alaska_native", N_("American Indian or Alaska Native")),
    ("two_or_more", N_("Two or more races")),
)
AGE_BANDS = (("under_25", N_("Under 25")), ("25_34", "25-34"), ("35_44", "35-44"), ("45_54", "45-54"),
             ("55_64", "55-64"), ("65_plus", N_("65 or over")))
FIELDS = {"sex": SEX, "race_ethnicity": RACE_ETHNICITY, "age_band": AGE_BANDS}


def _interview(db: Session, token: str) -> Interview | None:
    """The interview behind a link, whatever its state (the form comes after the interview)."""
    if not token or len(token) > 64:
        return None
    invitation = db.exec(select(Invitation).where(Invitation.token_sha256 == token_digest(token))).first()
    if invitation is None:
        return None
    return db.exec(select(Interview).where(Interview.invitation_id == invitation.id)).first()


def _page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("problems", [])
    response = render(request, "candidate_about_you.html", status=status, fields=FIELDS, **context)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


NOT_YET = (N_("This form opens after your interview"), (
    N_("These optional questions are asked once you have finished the interview."),))


def _jobs_language(db: Session, interview: Interview) -> str | None:
    """The form speaks the job's language, like the interview page (server/candidate_page.py)."""
    job = db.get(Job, interview.job_id)
    return job.language if job is not None else None


@router.raw("GET", "/i/{token}/about-you", summary="Candidate: the optional self-identification form",
            auth="candidate", errors=(404, 409), tag="candidate",
            query=(QueryParam("lang", "the page's language: en, zh_CN or ko (default: the job's)"),))
async def about_you(request: web.Request) -> web.Response:
    token = request.match_info["token"]

    def work(db: Session) -> tuple[str, SelfIdentification | None, str | None] | None:
        interview = _interview(db, token)
        if interview is None:
            return None
        return interview.state, db.get(SelfIdentification, interview.candidate_id), _jobs_language(db, interview)

    found = await request.app[store_key].run(work)
    if found is None:
        return closed_page(request, 404, UNKNOWN_LINK)
    state, answered, language = found
    i18n.use_locale(page_locale(request, language))
    if state != "completed":
        return closed_page(request, 409, NOT_YET)
    values = {"sex": "", "race_ethnicity": "", "age_band": ""}
    if answered is not None:
        values = {"sex": answered.sex, "race_ethnicity": answered.race_ethnicity, "age_band": answered.age_band}
    return _page(request, token=token, values=values, answered=answered is not None)


@router.raw("POST", "/i/{token}/about-you", summary="Candidate: answer (or change) the self-identification form",
            auth="candidate", errors=(404, 409, 422), tag="candidate")
async def about_you_post(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return closed_page(request, 400, (N_("This form could not be read"), (
            N_("Please go back to the form and send it again."),)))
    values: dict[str, str] = {}
    problems = []
    for name, options in FIELDS.items():
        raw = form.get(name, "")
        value = raw.strip() if isinstance(raw, str) else ""
        if value and value not in {v for v, _ in options}:
            problems.append(f"{name.replace('_', ' ')}: choose one of the options")
            value = ""
        values[name] = value
    if problems:
        return _page(request, 422, token=token, values=values, answered=False, problems=problems)

    def work(db: Session) -> str | None:
        interview = _interview(db, token)
        if interview is None:
            return None
        if interview.state != "completed":
            return interview.state
        row = (db.get(SelfIdentification, interview.candidate_id)
               or SelfIdentification(candidate_id=interview.candidate_id))
        row.sex, row.race_ethnicity, row.age_band, row.source, row.created_at = (
            values["sex"], values["race_ethnicity"], values["age_band"], "form", utcnow())
        db.add(row)
        return "saved"

    outcome = await request.app[store_key].run(work)
    if outcome is None:
        return closed_page(request, 404, UNKNOWN_LINK)
    if outcome != "saved":
        return closed_page(request, 409, NOT_YET)
    return closed_page(request, 200, (N_("Thank you"), (
        N_("Your answers are stored apart from your interview. The people who review your interview "
           "do not see them, and they do not change any score."),
        N_("They are only counted, together with everyone else's, to check that the hiring process "
           "treats every group fairly."))))
