"""The HR JSON API (DESIGN.md "Outside surface"). Handlers validate at the edge and hand the
work to the modules that own each concept; every write is one transaction."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session, select

from server import audit, auth, consent
from server.api_router import ApiRouter, Call, QueryParam
from server.candidates import PoolFilter, candidate_out, create_candidate, get_candidate, search_candidates
from server.errors import Malformed
from server.interview_templates import create_template, get_template, list_templates, template_detail
from server.invitations import create_invitations, interview_detail
from server.mail_delivery import delivery_of
from server.mail_outbox import announce
from server.mail_sender import link_sealer
from server.mail_sender import wake as wake_mail
from server.jobs import create_job, get_job, grant_access, job_detail, list_jobs, visible_jobs_query
from server.model_bank import models_key
from server.schemas import (
    AccessIn, CandidateIn, Created, InvitationIn, InvitationsCreated, JobCreated, JobIn, LoginIn,
    TemplateIn, TokenOut, UserIn, UserOut,
)
from server.store import stored_id
from server.tables import Interview, Job
from server.web import (
    SESSION_COOKIE, base_url, bearer_token, client_address, json_response, settings_key, store_key,
)

router = ApiRouter()


def _store(call: Call) -> Any:
    return call.request.app[store_key]


def _query_int(call: Call, name: str) -> int | None:
    raw = call.request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise Malformed(f"query parameter {name} must be an integer, got {raw!r}") from None


# --- public ---------------------------------------------------------------------------------

@router.route("GET", "/api/health", summary="Liveness and model readiness", auth="public",
              response={"type": "object", "properties": {"ok": {"type": "boolean"},
                        "models_ready": {"type": "boolean"}, "analyzers": {"type": "object"},
                        "models": {"type": "object"}}},
              tag="meta")
async def health(call: Call) -> dict[str, Any]:
    bank = call.request.app[models_key]
    # Public: what runs, not why it does not (error texts name paths on the server; the HR
    # panel and the server log have them).
    status = bank.status()
    analyzers = bank.analyzers()
    public = {"vision": {"status": analyzers["vision"]["status"]},
              "speech": {lang: {"status": one["status"]} for lang, one in analyzers["speech"].items()}}
    return {"ok": True, "models_ready": bank.ready, "analyzers": public,
            "models": {"enabled": status["enabled"], "loaded": status["loaded"], "errors": len(status["errors"]),
                       "load_seconds": status["load_seconds"]}}


@router.route("GET", "/api/openapi.json", summary="This document", auth="public",
              response={"type": "object"}, tag="meta")
async def openapi(call: Call) -> dict[str, Any]:
    from server import openapi as doc

    return doc.build(call.request.app[routes_key], version="0.1.0")


@router.route("POST", "/api/login", summary="Log in; returns a bearer token", auth="public",
              body=LoginIn, response=TokenOut, errors=(401, 429), tag="auth")
async def login(call: Call) -> TokenOut | web.Response:
    body: LoginIn = call.body
    request = call.request
    hours = request.app[settings_key].session_hours
    try:
        # Throttled before any hashing; argon2 runs on its own executor, not the store thread.
        finish = await auth.check_login(_store(call), auth.login_throttle(request.app),
                                        body.email, body.password, client_address(request))
    except auth.TooManyAttempts as exc:
        return auth.too_many_attempts_response(exc)

    def work(db: Session) -> TokenOut:
        user = finish(db)
        token, row = auth.issue_token(db, user, "api", hours)
        audit.record(db, "hr", user.id, "login", "user", user.id, via="api")
        return TokenOut(token=token, expires_at=row.expires_at, role=user.role)

    return await _store(call).run(work)


# --- users ----------------------------------------------------------------------------------

@router.route("POST", "/api/logout", summary="Revoke the credential of this request (bearer token or page session)",
              tag="auth")
async def logout(call: Call) -> web.Response:
    request = call.request
    # The credential that authenticated this call (principal_of tries the bearer token first).
    token = bearer_token(request)
    from_cookie = token is None
    if from_cookie:
        token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoked = token
        await _store(call).run(lambda db: auth.revoke_token(db, revoked))
    response = json_response({"ok": True})
    if from_cookie:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


@router.route("GET", "/api/me", summary="The logged-in HR user", response=UserOut, tag="auth")
async def me(call: Call) -> UserOut:
    return UserOut(id=call.who.id, email=call.who.email, role=call.who.role)


@router.route("POST", "/api/users", summary="Create an HR user", auth="admin", body=UserIn,
              response=UserOut, status=201, errors=(409,), tag="auth")
async def create_user(call: Call) -> UserOut:
    body: UserIn = call.body
    password_hash = await auth.hash_password(body.password)  # not on the store thread

    def work(db: Session) -> UserOut:
        user = auth.create_user(db, body.email, body.password, body.role, password_hash=password_hash)
        audit.record(db, "hr", call.who.id, "user.create", "user", user.id, role=user.role)
        return UserOut(id=user.id, email=user.email, role=user.role)  # type: ignore[arg-type]

    return await _store(call).run(work)


# --- jobs -----------------------------------------------------------------------------------

@router.route("POST", "/api/jobs", summary="Create a job with its competency dimensions",
              body=JobIn, response=JobCreated, status=201, tag="jobs")
async def post_job(call: Call) -> JobCreated:
    language = call.request.app[settings_key].default_language
    bank = call.request.app[models_key]
    installed = bank.speech_languages()

    def work(db: Session) -> JobCreated:
        job = create_job(db, call.who, call.body, language, installed)
        bank.ensure_language(job.language)
        detail = job_detail(db, job)
        return JobCreated(id=job.id, dimensions=[{"id": d["id"], "name": d["name"]} for d in detail["dimensions"]])  # type: ignore[arg-type, misc]

    return await _store(call).run(work)


@router.route("GET", "/api/jobs", summary="Jobs this user may see", tag="jobs",
              response={"type": "object", "properties": {"jobs": {"type": "array"}}})
async def get_jobs(call: Call) -> dict[str, Any]:
    def work(db: Session) -> dict[str, Any]:
        return {"jobs": [{"id": j.id, "title": j.title, "language": j.language,
                          "created_at": j.created_at, "version": j.version, "archived_at": j.archived_at}
                         for j in list_jobs(db, call.who)]}

    return await _store(call).run(work)


@router.route("GET", "/api/jobs/{job_id}", summary="A job with dimensions and rules",
              errors=(404,), tag="jobs")
async def get_one_job(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    return await _store(call).run(lambda db: job_detail(db, get_job(db, call.who, job_id)))


@router.route("POST", "/api/jobs/{job_id}/access", summary="Give another HR user access to a job",
              body=AccessIn, errors=(404,), tag="jobs")
async def post_job_access(call: Call) -> dict[str, Any]:
    job_id = call.int_param("job_id")
    body: AccessIn = call.body

    def work(db: Session) -> dict[str, Any]:
        user = grant_access(db, call.who, get_job(db, call.who, job_id), body.email)
        return {"job_id": job_id, "user_id": user.id}

    return await _store(call).run(work)


# --- templates ------------------------------------------------------------------------------

@router.route("POST", "/api/templates", summary="Create an interview template", body=TemplateIn,
              response=Created, status=201, errors=(404,), tag="templates")
async def post_template(call: Call) -> Created:
    return await _store(call).run(lambda db: Created(id=create_template(db, call.who, call.body).id))  # type: ignore[arg-type]


@router.route("GET", "/api/templates", summary="Templates of the jobs this user may see",
              query=(QueryParam("job_id", "only this job's templates", "integer"),),
              tag="templates")
async def get_templates(call: Call) -> dict[str, Any]:
    job_id = _query_int(call, "job_id")

    def work(db: Session) -> dict[str, Any]:
        return {"templates": [{"id": t.id, "job_id": t.job_id, "name": t.name, "created_at": t.created_at,
                               "version": t.version, "archived_at": t.archived_at}
                              for t in list_templates(db, call.who, job_id)]}

    return await _store(call).run(work)


@router.route("GET", "/api/templates/{template_id}", summary="A template with its questions",
              errors=(404,), tag="templates")
async def get_one_template(call: Call) -> dict[str, Any]:
    template_id = call.int_param("template_id")
    return await _store(call).run(
        lambda db: template_detail(db, get_template(db, call.who, template_id)[0])
    )


# --- candidates -----------------------------------------------------------------------------

@router.route("POST", "/api/candidates", summary="Add a candidate to the pool", body=CandidateIn,
              response=Created, status=201, errors=(409,), tag="candidates")
async def post_candidate(call: Call) -> Created:
    return await _store(call).run(lambda db: Created(id=create_candidate(db, call.who, call.body).id))  # type: ignore[arg-type]


@router.route("GET", "/api/candidates", summary="Search the pool by name, email or resume words",
              query=(QueryParam("q", "words that must all appear"),
                     QueryParam("education_min", "none|high_school|associate|bachelor|master|doctorate: "
                                                 "that level or higher"),
                     QueryParam("experience_min", "at least this many years of experience", "number"),
                     QueryParam("title", "a part of the current title")),
              errors=(400, 422), tag="candidates")
async def get_candidates(call: Call) -> dict[str, Any]:
    q = call.request.query.get("q", "")[:500]
    pool_filter = PoolFilter.from_query(call.request.query)
    return await _store(call).run(
        lambda db: {"candidates": [candidate_out(c) for c in search_candidates(db, q, pool_filter=pool_filter)]}
    )


@router.route("GET", "/api/candidates/{candidate_id}", summary="One candidate with resume",
              errors=(404,), tag="candidates")
async def get_one_candidate(call: Call) -> dict[str, Any]:
    cid = call.int_param("candidate_id")
    return await _store(call).run(lambda db: candidate_out(get_candidate(db, cid), with_resume=True))


# --- invitations and interviews -------------------------------------------------------------

@router.route("POST", "/api/invitations", summary="Invite candidates to a template's interview",
              body=InvitationIn, response=InvitationsCreated, status=201, errors=(404, 409),
              tag="interviews")
async def post_invitations(call: Call) -> InvitationsCreated:
    app = call.request.app
    settings = app[settings_key]
    base = base_url(call.request)
    sealer = link_sealer(app)

    def work(db: Session) -> InvitationsCreated:
        issued = create_invitations(db, call.who, call.body, settings.resume_boost, sealer)
        announce(db, settings, issued, base, call.who.id)
        db.flush()
        delivery = delivery_of(db, [stored_id(i.invitation) for i in issued])
        return InvitationsCreated(invitations=[
            {"id": i.invitation.id, "candidate_id": i.invitation.candidate_id,  # type: ignore[misc]
             "interview_id": i.interview.id, "url": i.url(base), "deadline": i.invitation.deadline,
             "delivery": delivery.get(stored_id(i.invitation))}
            for i in issued
        ])

    created = await _store(call).run(work)
    wake_mail(app)
    return created


@router.route("GET", "/api/interviews", summary="Interviews of the jobs this user may see",
              query=(QueryParam("job_id", "only this job", "integer"),
                     QueryParam("state", "only this state")), tag="interviews")
async def get_interviews(call: Call) -> dict[str, Any]:
    job_id = _query_int(call, "job_id")
    state = call.request.query.get("state")

    def work(db: Session) -> dict[str, Any]:
        visible = visible_jobs_query(call.who).with_only_columns(Job.id)
        query = select(Interview).where(Interview.job_id.in_(visible))  # type: ignore[attr-defined]
        if job_id is not None:
            query = query.where(Interview.job_id == job_id)
        if state:
            query = query.where(Interview.state == state)
        rows = db.exec(query.order_by(Interview.id.desc()).limit(500)).all()  # type: ignore[union-attr]
        delivery = delivery_of(db, [i.invitation_id for i in rows])
        return {"interviews": [
            {"id": i.id, "state": i.state, "job_id": i.job_id, "candidate_id": i.candidate_id,
             "question_index": i.question_index, "question_count": i.question_count,
             "delivery": delivery.get(i.invitation_id)}
            for i in rows
        ]}

    return await _store(call).run(work)


@router.route("GET", "/api/interviews/{interview_id}", summary="An interview's state and weights",
              errors=(404,), tag="interviews")
async def get_one_interview(call: Call) -> dict[str, Any]:
    iid = call.int_param("interview_id")
    # With the consent records (server/consent.py): what the candidate was shown and answered.
    return await _store(call).run(lambda db: {**interview_detail(db, call.who, iid),
                                              "consents": consent.records_json(db, iid)})


routes_key = web.AppKey("routes", list)
