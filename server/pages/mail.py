"""/mail: whether email is on, and the wording of each message to candidates (invitation,
reminder, continue link), edited with its variables listed, checked all at once, previewed."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import audit
from server.errors import NotFound
from server.i18n import N_, _
from server.mail_templates import (
    KIND_LABELS, KINDS, LINK_MARK, VARIABLES, Values, Wording, check, render, reset, save, wording,
)
from server.pages.common import FormErrors, PageCall, hr_page, see_other
from server.tables import utcnow

DONE = {"saved": N_("The wording was saved: new messages use it."), "reset": N_("Back to the default wording.")}


def _preview(words: Wording, call: PageCall) -> dict[str, str]:
    """The message as a candidate would read it, with made-up values."""
    values = Values(candidate_name="Alex Kim", job_title="Site engineer", deadline=utcnow() + timedelta(days=7),
                    time_zone=call.settings.mail_time_zone, question_count=5, minutes=12,
                    contact_email=call.who.email)
    try:
        shown = render(words, values)
    except (KeyError, ValueError, IndexError):
        return {"subject": "", "text": "(no preview until the wording is fixed)"}
    link = f"{call.settings.public_url or 'https://interviews.example.com'}/i/(the candidate's own link)"
    return {"subject": shown.subject, "text": shown.text.replace(LINK_MARK, link)}


async def _mail_page(call: PageCall, *, edited: dict[str, tuple[str, str]] | None = None,
                     errors: dict[str, FormErrors] | None = None, status: int = 200) -> web.Response:
    def work(db: Session) -> list[dict[str, Any]]:
        out = []
        for kind in KINDS:
            stored = wording(db, kind)
            words = Wording(kind, *edited[kind], False) if edited and kind in edited else stored
            out.append({"kind": kind, "label": _(KIND_LABELS[kind]), "subject": words.subject, "body": words.body,
                        "default": stored.is_default, "preview": _preview(words, call),
                        "errors": (errors or {}).get(kind, FormErrors())})
        return out

    messages = await call.store.run(work)
    s = call.settings
    done = call.request.query.get("done", "")
    return call.render("hr_mail.html", status=status, nav="mail", messages=messages,
                       variables={name: _(text) for name, text in VARIABLES.items()},
                       mail_on=s.mail_on, mail_from=s.mail_from, reminder_before_h=s.reminder_before_h,
                       time_zone=s.mail_time_zone, notice=_(DONE[done]) if done in DONE else "")


def _kind(call: PageCall) -> str:
    kind = call.request.match_info["kind"]
    if kind not in KINDS:
        raise NotFound(f"no message kind {kind!r}: one of {', '.join(KINDS)}")
    return kind


@hr_page("GET", "/mail", summary="HR: email on or off, and the wording of messages to candidates")
async def mail_page(call: PageCall) -> web.Response:
    return await _mail_page(call)


@hr_page("POST", "/mail/{kind}", summary="HR: save the wording of one kind of message", errors=(404, 422))
async def mail_save(call: PageCall) -> web.Response:
    kind = _kind(call)
    subject, body = call.text("subject").strip(), call.text("body").replace("\r\n", "\n")
    problems = check(kind, subject, body)
    if problems:
        errors = FormErrors()
        for problem in problems:
            errors.add(problem, kind)
        return await _mail_page(call, edited={kind: (subject, body)}, errors={kind: errors}, status=422)

    def work(db: Session) -> None:
        save(db, kind, subject, body, call.who.id)
        audit.record(db, "hr", call.who.id, "mail.template", "mail_template", None, kind=kind)

    await call.store.run(work)
    return see_other(f"/mail?done=saved#{kind}")


@hr_page("POST", "/mail/{kind}/reset", summary="HR: back to the default wording", errors=(404,))
async def mail_reset(call: PageCall) -> web.Response:
    kind = _kind(call)

    def work(db: Session) -> None:
        reset(db, kind)
        audit.record(db, "hr", call.who.id, "mail.template_reset", "mail_template", None, kind=kind)

    await call.store.run(work)
    return see_other(f"/mail?done=reset#{kind}")
