"""Interview lists shared by the job and candidate pages, the invitation form on a template's
page, and the page that shows the links just sent."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from server.api_router import QueryParam
from server.errors import ApiError, Conflict, Malformed
from server.invitations import (
    FINISHED_STATES, change_deadline, create_invitations, interview_detail, reissue_link, revoke_link,
)
from server.jobs import dimensions_of, visible_jobs_query
from server.pages.common import (
    MAX_ID, FormErrors, PageCall, form_texts, hr_page, see_other, validation_errors,
)
from server.mail_api import send_again
from server.mail_delivery import delivery_of
from server.mail_outbox import REMINDABLE, announce
from server.mail_sender import link_sealer
from server.mail_sender import wake as wake_mail
from server.schemas import DeadlineIn, InvitationIn
from server.sessions import sessions_key
from server.store import stored_id
from server.tables import Candidate, Interview, Invitation, Job, QuestionSignals, Template, utcnow
from server.web import base_url
from server.i18n import N_, _

# Msgids (server/i18n.py): translated where shown.
STATE_LABELS = {
    "invited": N_("Invited"),
    "consented": N_("Consented"),
    "connecting": N_("Connecting"),
    "live": N_("Live now"),
    "paused": N_("Paused"),
    "interrupted": N_("Connection lost"),
    "abandoned": N_("Abandoned"),
    "expired": N_("Expired"),
    "completed": N_("Completed"),
}
MAX_LINKS_PER_PAGE = 500


def interview_rows(db: Session, who: Any, *, job_id: int | None = None,
                   candidate_id: int | None = None) -> list[dict[str, Any]]:
    """Interviews of the jobs this user may see, newest first, with the names a page shows."""
    visible = visible_jobs_query(who).with_only_columns(Job.id)
    query = (
        # sqlmodel's select() is typed for at most four entities; this query is untyped.
        select(Interview, Candidate, Template, Job, Invitation)  # type: ignore[call-overload]
        .join(Candidate, col(Candidate.id) == Interview.candidate_id)
        .join(Template, col(Template.id) == Interview.template_id)
        .join(Job, col(Job.id) == Interview.job_id)
        .join(Invitation, col(Invitation.id) == Interview.invitation_id)
        .where(col(Interview.job_id).in_(visible))
    )
    if job_id is not None:
        query = query.where(Interview.job_id == job_id)
    if candidate_id is not None:
        query = query.where(Interview.candidate_id == candidate_id)
    rows = db.exec(query.order_by(col(Interview.id).desc()).limit(1000)).all()
    answered = _answer_counts(db, [itv.id for itv, *_ in rows])
    delivery = delivery_of(db, [inv.id for *_, inv in rows])
    now = utcnow()
    return [
        {
            "id": itv.id,
            "state": itv.state,
            "state_label": _(STATE_LABELS.get(itv.state, itv.state)),
            "question_index": itv.question_index,
            # Follow-ups skipped by rule (server/follow_ups.py) were never asked: not in the count.
            "question_count": itv.question_count - answered.get(itv.id, (0, 0, 0))[2],
            "answered": answered.get(itv.id, (0, 0, 0))[0],
            "skipped": answered.get(itv.id, (0, 0, 0))[1],
            "candidate": {"id": cand.id, "name": cand.name, "email": cand.email},
            "template": {"id": tpl.id, "name": tpl.name},
            "job": {"id": job.id, "title": job.title},
            "deadline": inv.deadline,
            "open": itv.state not in FINISHED_STATES and inv.deadline > now,
            "delivery": delivery.get(inv.id),
        }
        for itv, cand, tpl, job, inv in rows
    ]


def _answer_counts(db: Session, interview_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per interview: (questions answered, questions skipped, follow-ups skipped by rule), from
    the stored attempts (a redo's earlier attempt does not count), in one query."""
    if not interview_ids:
        return {}
    rows = db.exec(
        select(QuestionSignals.interview_id, QuestionSignals.skipped, QuestionSignals.skipped_by_rule,
               func.count(func.distinct(QuestionSignals.question_index)))
        .where(col(QuestionSignals.interview_id).in_(interview_ids))
        .where(col(QuestionSignals.superseded).is_(False))
        .group_by(col(QuestionSignals.interview_id), col(QuestionSignals.skipped),
                  col(QuestionSignals.skipped_by_rule))
    ).all()
    out: dict[int, tuple[int, int, int]] = {}
    for interview_id, skipped, by_rule, count in rows:
        answered, skips, ruled_out = out.get(interview_id, (0, 0, 0))
        if by_rule:
            ruled_out += count
        elif skipped:
            skips += count
        else:
            answered += count
        out[interview_id] = (answered, skips, ruled_out)
    return out


# --- the invitation form (on a template's page) -------------------------------------------

def default_deadline() -> str:
    """A week from now, as a datetime-local value (UTC, to the minute)."""
    return (utcnow() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


def invitation_values(call: PageCall) -> dict[str, Any]:
    """The invitation form's fields as submitted (to show them again after an error)."""
    return {
        "deadline": call.text("deadline").strip(),
        "candidate_ids": {v for v in form_texts(call.form, "candidate_id")},
        "q": call.text("q").strip()[:500],
    }


def parse_invitation(call: PageCall, template_id: int) -> InvitationIn | FormErrors:
    errors = FormErrors()
    ids: list[int] = []
    for raw in form_texts(call.form, "candidate_id"):
        try:
            value = int(raw)
        except ValueError:
            errors.add(_("%(raw)s is not a candidate", raw=repr(raw)), "invite")
            continue
        if 1 <= value <= MAX_ID and value not in ids:
            ids.append(value)
    if not ids and not errors:
        errors.add(_("choose at least one candidate to invite"), "invite")
    deadline = call.text("deadline").strip()
    if not deadline:
        errors.add(_("choose a deadline (date and time, UTC)"), "invite")
    if errors:
        return errors
    try:
        return InvitationIn.model_validate(
            {"template_id": template_id, "candidate_ids": ids, "deadline": deadline}, strict=False,
        )
    except ValidationError as exc:
        return validation_errors(exc, _invitation_label)


def _invitation_label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
    field = loc[0] if loc else ""
    if field == "candidate_ids":
        if kind == "too_long":
            return "invite", "invite at most 500 candidates at a time"
        return "invite", f"candidates: {described}"
    if field == "deadline":
        return "invite", f"deadline {described}"
    return "invite", described


async def send_invitations(call: PageCall, body: InvitationIn) -> web.Response | FormErrors:
    """Create the invitations and show their links: this is the only time they are shown (only
    their hashes are stored), so the page is the POST's answer, not a redirect."""
    settings = call.settings
    base = base_url(call.request)  # an unknown Host is refused before anything is created
    sealer = link_sealer(call.request.app)

    def work(db: Session) -> list[dict[str, Any]]:
        issued = create_invitations(db, call.who, body, settings.resume_boost, sealer)
        announce(db, settings, issued, base, call.who.id)
        db.flush()
        return _link_details(db, call.who, [stored_id(i.interview) for i in issued],
                             {stored_id(i.interview): i.url(base) for i in issued})

    try:
        invitations = await call.store.run(work)
    except ApiError as exc:
        errors = FormErrors()
        errors.add(exc.message, "invite")
        errors.status = exc.status
        return errors
    wake_mail(call.request.app)
    return _links_page(call, invitations)


# --- the links just sent -------------------------------------------------------------------

def boosts_of(detail: dict[str, Any], names: dict[int, str]) -> list[dict[str, Any]]:
    """Per dimension: how much the resume raised its weight, and which words did it."""
    out: dict[int, dict[str, Any]] = {}
    for w in detail["weights"]:
        if not w["matched_keywords"]:
            continue
        entry = out.setdefault(w["dimension_id"], {
            "name": names.get(w["dimension_id"], f"dimension {w['dimension_id']}"),
            "factor": w["weight"] / w["base_weight"] if w["base_weight"] else 1.0,
            "keywords": [],
            "questions": [],
        })
        for keyword in w["matched_keywords"]:
            if keyword not in entry["keywords"]:
                entry["keywords"].append(keyword)
        if w["question_index"] is not None:
            entry["questions"].append(w["question_index"] + 1)
    return list(out.values())


def _link_details(db: Session, who: Any, ids: list[int], urls: dict[int, str]) -> list[dict[str, Any]]:
    """The interviews as the links page shows them; `urls` holds the links just issued."""
    out = []
    names_by_job: dict[int, dict[int, str]] = {}
    templates: dict[int, Template | None] = {}
    for iid in ids:
        if not 1 <= iid <= MAX_ID:
            raise Malformed(f"interview {iid} not found")
        detail = interview_detail(db, who, iid)
        job_id = detail["job"]["id"]
        if job_id not in names_by_job:
            names_by_job[job_id] = {stored_id(d): d.name for d in dimensions_of(db, job_id)}
        tid = detail["template_id"]
        if tid not in templates:
            templates[tid] = db.get(Template, tid)
        template = templates[tid]
        detail["template_name"] = template.name if template else ""
        detail["boosts"] = boosts_of(detail, names_by_job[job_id])
        detail["state_label"] = _(STATE_LABELS.get(detail["state"], detail["state"]))
        detail["open"] = detail["state"] not in FINISHED_STATES and detail["deadline"] > utcnow()
        detail["url"] = urls.get(iid)
        detail["deadline_open"] = detail["deadline"] > utcnow()
        invitation = db.get(Invitation, detail["invitation_id"])
        detail["link_sealed"] = invitation is not None and invitation.token_sealed is not None
        out.append(detail)
    return out


DONE_NOTICES = {
    "revoked": N_("The link was revoked: it no longer opens the interview. Issue a new link when you want "
                  "the candidate to take it."),
    "deadline": N_("The deadline was changed."),
    "mailed": N_("The email is on its way: its state shows below."),
    "mailed_new_link": N_("A new link was issued and is on its way by email; the earlier link no longer works."),
}
MAIL_KINDS = {"invitation": N_("Invitation"), "reminder": N_("Reminder"), "continue": N_("Link to continue")}


def _links_page(call: PageCall, invitations: list[dict[str, Any]], status: int = 200,
                error: str = "") -> web.Response:
    done = call.request.query.get("done", "")
    notice = _(DONE_NOTICES[done]) if done in DONE_NOTICES else ""
    response = call.render("hr_invitations.html", status=status, nav="jobs", invitations=invitations,
                           boost=call.settings.resume_boost, notice=notice, error=error,
                           mail_on=call.settings.mail_on, mail_from=call.settings.mail_from,
                           mail_kinds={k: _(v) for k, v in MAIL_KINDS.items()}, remindable=REMINDABLE)
    # The links are credentials: keep them out of Referer headers and of every cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@hr_page("GET", "/invitations", summary="Invitations of the given interviews (links are shown only when issued)",
         errors=(400, 404),
         query=(QueryParam("interviews", "comma-separated interview ids"),))
async def invitation_links(call: PageCall) -> web.Response:
    raw = call.request.query.get("interviews", "")
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise Malformed(f"{part!r} is not an interview id") from None
        if value not in ids:
            ids.append(value)
    if not ids:
        raise Malformed("no interviews given: this page shows the invitations of the given interviews")
    if len(ids) > MAX_LINKS_PER_PAGE:
        raise Malformed(f"at most {MAX_LINKS_PER_PAGE} interviews per page")
    invitations = await call.store.run(lambda db: _link_details(db, call.who, ids, {}))
    return _links_page(call, invitations)


@hr_page("POST", "/interviews/{interview_id}/link",
         summary="HR: issue a new link for an interview (the old link stops working)", errors=(404, 409))
async def new_link_page(call: PageCall) -> web.Response:
    interview_id = call.id_param("interview_id", "interview")
    base = base_url(call.request)

    def work(db: Session) -> list[dict[str, Any]]:
        issued = reissue_link(db, call.who, interview_id, link_sealer(call.request.app))
        return _link_details(db, call.who, [interview_id], {interview_id: issued.url(base)})

    try:
        invitations = await call.store.run(work)
    except Conflict as exc:
        return call.error(409, exc.message)
    await call.request.app[sessions_key].link_changed(interview_id, revoked=True)
    return _links_page(call, invitations)


@hr_page("POST", "/interviews/{interview_id}/revoke",
         summary="HR: revoke an interview's link (it stops working)", errors=(404, 409))
async def revoke_link_page(call: PageCall) -> web.Response:
    interview_id = call.id_param("interview_id", "interview")
    try:
        await call.store.run(lambda db: revoke_link(db, call.who, interview_id))
    except Conflict as exc:
        return call.error(409, exc.message)
    await call.request.app[sessions_key].link_changed(interview_id, revoked=True)
    return see_other(f"/invitations?interviews={interview_id}&done=revoked")


@hr_page("POST", "/interviews/{interview_id}/deadline",
         summary="HR: change the deadline of an interview's link", errors=(404, 409, 422))
async def deadline_page(call: PageCall) -> web.Response:
    interview_id = call.id_param("interview_id", "interview")
    raw = call.text("deadline").strip()
    try:
        body = DeadlineIn.model_validate({"deadline": raw}, strict=False)
    except ValidationError as exc:
        problem = "choose a date and time (UTC)" if not raw else (
            "deadline " + "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
        invitations = await call.store.run(lambda db: _link_details(db, call.who, [interview_id], {}))
        return _links_page(call, invitations, status=422, error=problem)
    try:
        invitation = await call.store.run(lambda db: change_deadline(db, call.who, interview_id, body.deadline))
    except Conflict as exc:
        return call.error(409, exc.message)
    await call.request.app[sessions_key].link_changed(interview_id, deadline=invitation.deadline)
    return see_other(f"/invitations?interviews={interview_id}&done=deadline")


@hr_page("POST", "/interviews/{interview_id}/mail",
         summary="HR: email the invitation again, or a link to continue", errors=(404, 409, 422))
async def mail_again_page(call: PageCall) -> web.Response:
    interview_id = call.id_param("interview_id", "interview")
    kind = call.text("kind").strip() or "invitation"
    if kind not in ("invitation", "reminder", "continue"):
        return call.error(422, f"unknown message kind {kind!r}")
    try:
        result = await send_again(call.request.app, call.who, interview_id, kind, base_url(call.request))
    except Conflict as exc:
        return call.error(409, exc.message)
    done = "mailed_new_link" if result["new_link"] else "mailed"
    return see_other(f"/invitations?interviews={interview_id}&done={done}")
