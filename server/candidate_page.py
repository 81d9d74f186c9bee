"""The candidate's side: the page behind an invitation link (the live interview is added by the
live-path issue)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import i18n, jurisdictions
from server.i18n import N_
from server.api import router
from server.api_router import QueryParam
from server.errors import NotFound
from server.interview_machine import state_sets
from server.invitations import OpenLink, open_link
from server.rendering import render
from server.tables import Candidate, Job
from server.turn import page_ice_servers
from server.web import settings_key, store_key


# What a candidate reads when the link no longer opens: calm words and what to do, by state.
CLOSED_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "completed": (N_("Your interview is complete"), (
        N_("Thank you for your time. Your answers have been received; there is nothing more to do here."),
        N_("The company that invited you will contact you about the next steps."))),
    "expired": (N_("The deadline for this interview has passed"), (
        N_("This link worked until its deadline. If you still want to take the interview, "
           "contact the company that invited you; they can send you a new link."),)),
    "abandoned": (N_("This interview was closed"), (
        N_("No camera or microphone signal reached us for a long time, so the interview was closed."),
        N_("If you want to continue, contact the company that invited you; they can reopen it."))),
}
UNKNOWN_LINK = (N_("This link does not open an interview"), (
    N_("Check that you copied the whole link. If the company sent you a newer link, use that one: "
       "an older link stops working when a new one is sent."),
    N_("If it still does not work, contact the company that invited you.")))
OTHER_STATE = N_("This interview is no longer open")
OTHER_STATE_LINE = N_("This link no longer opens the interview. Contact the company that invited you.")


def _closed_words(link: OpenLink) -> tuple[str, tuple[str, ...]]:
    state = link.interview.state
    if state in CLOSED_WORDS:
        return CLOSED_WORDS[state]
    if "deadline" in (link.closed or ""):  # begun, but the deadline passed before it started
        return CLOSED_WORDS["expired"]
    return (OTHER_STATE, (OTHER_STATE_LINE,))


# The jurisdiction profiles' names (server/jurisdictions.py) as the candidate's page shows them.
PROFILE_NAMES = {name: name for name in (
    N_("Default"), N_("Illinois (AI Video Interview Act, BIPA)"), N_("New York City (Local Law 144)"),
    N_("European Union (AI Act, GDPR)"), N_("China (PIPL)"))}
# The notices (server/jurisdictions.py) are kept by language code, Chinese as "zh".
NOTICE_LANGUAGE = {"en": "en", "ko": "ko", "zh_CN": "zh"}


def page_locale(request: web.Request, job_language: str | None) -> str:
    """The candidate's pages speak the job's language; `?lang=en|zh_CN|ko` shows another one
    (a candidate who reads it better); without a job (an unknown link), the browser's."""
    asked = i18n.normalise(request.query.get("lang"))
    if asked is not None:
        return asked
    if job_language is not None:
        return i18n.job_locale(job_language)
    return i18n.negotiate(request.headers.get("Accept-Language"))


def closed_page(request: web.Request, status: int, words: tuple[str, tuple[str, ...]],
                data_url: str | None = None, about_url: str | None = None) -> web.Response:
    # data_url: the candidate's copy of their data (server/my_data.py), offered once finished;
    # about_url: the voluntary self-identification form (server/self_id.py), after completion.
    # The words are catalogue msgids (N_ above, or the caller's); translated here.
    response = render(request, "candidate_closed.html", status=status, title=i18n.gettext(words[0]),
                      lines=[i18n.gettext(line) for line in words[1]],
                      data_url=data_url, about_url=about_url)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.raw("GET", "/i/{token}", summary="The candidate's interview page", auth="candidate",
            errors=(404, 410), tag="candidate",
            query=(QueryParam("lang", "the page's language: en, zh_CN or ko (default: the job's)"),))
async def interview_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]

    def work(db: Session) -> tuple[str, dict[str, Any] | OpenLink]:
        link = open_link(db, token)
        job = db.get(Job, link.interview.job_id)
        assert job is not None, "a foreign key"
        locale = page_locale(request, job.language)
        if link.closed:
            return locale, link
        candidate = db.get(Candidate, link.interview.candidate_id)
        # The notice of the job's jurisdiction profile in the page's language; the page sends
        # its version back with the candidate's answer.
        shown = jurisdictions.shown(job.jurisdiction, NOTICE_LANGUAGE[locale])
        assert shown is not None, "the current notice always exists"
        return locale, {
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
        locale, context = await request.app[store_key].run(work)
    except NotFound:
        i18n.use_locale(page_locale(request, None))
        return closed_page(request, 404, UNKNOWN_LINK)
    i18n.use_locale(locale)
    if isinstance(context, dict):
        profile_name = context["profile_name"]
        if profile_name in PROFILE_NAMES:
            context["profile_name"] = i18n.gettext(profile_name)
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
