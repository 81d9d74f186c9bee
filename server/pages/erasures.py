"""Erasure pages: the confirmation form for erasing a candidate (what will be erased, the
candidate's email typed to confirm) and the deletion certificates (/erasures)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from server import erasure
from server.candidates import get_candidate
from server.erasure_api import erase_for, may_erase
from server.i18n import N_, _
from server.pages.common import FormErrors, PageCall, hr_page, see_other

# What each table holds, in HR's words (a table not listed shows its name).
TABLE_WORDS = {
    "candidates": N_("candidate record (name, email, resume)"),
    "invitations": N_("invitations"),
    "interviews": N_("interviews"),
    "interview_weights": N_("per-candidate question weights"),
    "state_changes": N_("interview state changes"),
    "transcript_segments": N_("transcript segments"),
    "question_signals": N_("per-question signals"),
    "scores": N_("scores"),
    "interventions": N_("HR interventions"),
    "reports": N_("reports"),
    "review_notes": N_("review notes"),
    "clip_views": N_("clip views"),
    "decisions": N_("decisions"),
    "outbound_mail": N_("email messages"),
    "webhook_deliveries": N_("webhook deliveries"),
    "consent_records": N_("consent records"),
    "demographics": N_("self-identification answers"),
}


def _rows(rows: dict[str, int]) -> list[tuple[str, int]]:
    return [(_(TABLE_WORDS[name]) if name in TABLE_WORDS else name.replace("_", " "), n) for name, n in rows.items()]


async def _confirm_page(call: PageCall, candidate_id: int, errors: FormErrors | None = None,
                        typed: str = "") -> web.Response:
    data_dir = call.settings.data_dir

    def work(db: Session) -> dict[str, Any]:
        candidate = get_candidate(db, candidate_id)
        return {"candidate": candidate, "preview": erasure.preview(db, candidate_id, data_dir),
                "allowed": may_erase(call.who, candidate)}

    context = await call.store.run(work)
    errors = errors or FormErrors()
    return call.render("hr_erase.html", status=errors.status if errors else 200, nav="candidates",
                       rows=_rows(context["preview"]["rows"]), errors=errors, typed=typed, **context)


@hr_page("GET", "/candidates/{candidate_id}/erase", summary="HR: what erasing a candidate removes, and the form",
         errors=(404,))
async def erase_form(call: PageCall) -> web.Response:
    return await _confirm_page(call, call.id_param("candidate_id", "candidate"))


@hr_page("POST", "/candidates/{candidate_id}/erase", summary="HR: erase a candidate (the email typed to confirm)",
         errors=(403, 404, 409, 422))
async def erase_submit(call: PageCall) -> web.Response:
    candidate_id = call.id_param("candidate_id", "candidate")
    typed = call.text("confirm_email").strip()
    email = (await call.store.run(lambda db: get_candidate(db, candidate_id))).email
    if typed.lower() != email.lower():
        errors = FormErrors()
        errors.add(_("type the candidate's email exactly to confirm the erasure"), "confirm_email")
        return await _confirm_page(call, candidate_id, errors, typed)
    cert = await erase_for(call.request, call.who, candidate_id)
    return see_other(f"/erasures/{cert.id}?done=1")


@hr_page("GET", "/erasures", summary="HR: deletion certificates")
async def erasures_page(call: PageCall) -> web.Response:
    total, rows = await call.store.run(lambda db: erasure.list_certificates(db, 200))
    return call.render("hr_erasures.html", nav="candidates", total=total,
                       certificates=[erasure.certificate_out(c) for c in rows], certificate=None)


@hr_page("GET", "/erasures/{certificate_id}", summary="HR: one deletion certificate", errors=(404,))
async def erasure_page(call: PageCall) -> web.Response:
    cert_id = call.id_param("certificate_id", "certificate")
    cert = await call.store.run(lambda db: erasure.get_certificate(db, cert_id))
    out = erasure.certificate_out(cert)
    return call.render("hr_erasures.html", nav="candidates", certificate=out, rows=_rows(out["counts"]["rows"]),
                       done=call.request.query.get("done") == "1", certificates=[], total=0)
