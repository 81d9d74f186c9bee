"""The candidate's side: the page behind an invitation link (the live interview is added by the
live-path issue)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import jurisdictions
from server.api import router
from server.errors import NotFound
from server.interview_machine import state_sets
from server.invitations import OpenLink, open_link
from server.rendering import render
from server.tables import Candidate, Job
from server.turn import page_ice_servers
from server.web import settings_key, store_key


# What a candidate reads when the link no longer opens: calm words and what to do, by state.
CLOSED_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "completed": ("Your interview is complete", (
        "Thank you for your time. Your answers have been received; there is nothing more to do here.",
        "The company that invited you will contact you about the next steps.")),
    "expired": ("The deadline for this interview has passed", (
        "This link worked until its deadline. If you still want to take the interview, "
        "contact the company that invited you; they can send you a new link.",)),
    "abandoned": ("This interview was closed", (
        "No camera or microphone signal reached us for a long time, so the interview was closed.",
        "If you want to continue, contact the company that invited you; they can reopen it.")),
}
UNKNOWN_LINK = ("This link does not open an interview", (
    "Check that you copied the whole link. If the company sent you a newer link, use that one: "
    "an older link stops working when a new one is sent.",
    "If it still does not work, contact the company that invited you."))


def _closed_words(link: OpenLink) -> tuple[str, tuple[str, ...]]:
    state = link.interview.state
    if state in CLOSED_WORDS:
        return CLOSED_WORDS[state]
    if "deadline" in (link.closed or ""):  # begun, but the deadline passed before it started
        return CLOSED_WORDS["expired"]
    return (f"This interview is {state}",
            ("This link no longer opens the interview. Contact the company that invited you.",))


def closed_page(request: web.Request, status: int, words: tuple[str, tuple[str, ...]],
                data_url: str | None = None, about_url: str | None = None) -> web.Response:
    # data_url: the candidate's copy of their data (server/my_data.py), offered once finished;
    # about_url: the voluntary self-identification form (server/self_id.py), after completion.
    response = render(request, "candidate_closed.html", status=status, title=words[0], lines=words[1],
                      data_url=data_url, about_url=about_url)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.raw("GET", "/i/{token}", summary="The candidate's interview page", auth="candidate",
            errors=(404, 410), tag="candidate")
async def interview_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]

    def work(db: Session) -> dict[str, Any] | OpenLink:
        link = open_link(db, token)
        if link.closed:
            return link
        job = db.get(Job, link.interview.job_id)
        candidate = db.get(Candidate, link.interview.candidate_id)
        assert job is not None, "a foreign key"
        # The notice of the job's jurisdiction profile in the page's language; the page sends
        # its version back with the candidate's answer.
        shown = jurisdictions.shown(job.jurisdiction)
        assert shown is not None, "the current notice always exists"
        return {
            "notice": shown.text,
            "notice_version": shown.notice.version,
            "notice_language": shown.language,
            "profile_name": shown.profile.name,
            "biometric_question": "biometric" in shown.questions,
            "job_title": job.title,
            "candidate_name": candidate.name,  # type: ignore[union-attr]
            "question_count": link.interview.question_count,
            "deadline": link.invitation.deadline,
            "state": link.interview.state,
            "interview_id": link.interview.id,
        }

    try:
        context = await request.app[store_key].run(work)
    except NotFound:
        return closed_page(request, 404, UNKNOWN_LINK)
    if isinstance(context, OpenLink):
        about = f"/i/{token}/about-you" if context.interview.state == "completed" else None
        return closed_page(request, 410, _closed_words(context), data_url=f"/i/{token}/my-data", about_url=about)
    settings = request.app[settings_key]
    # A list (the template's tojson encodes it once); fresh TURN credentials on every load,
    # labelled with the interview id only.
    response = render(request, "interview.html", token=token, states=state_sets(),
                      ice_servers=page_ice_servers(settings, str(context.pop("interview_id"))),
                      ice_transport_policy=settings.ice_transport_policy, **context)
    # The token is a credential: keep it out of Referer headers and shared caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
