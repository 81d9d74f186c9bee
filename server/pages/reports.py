"""The report page: `GET /interviews/{id}/report` shows a completed interview's report (scores
with their evidence, the per-question breakdown with each answer's full recording, percentile,
recommendation, key clips, interventions) and HR's review (notes, what was watched, the
decision).

The page's forms post to `/interviews/{id}/notes`, `/interviews/{id}/decision` and
`/interviews/{id}/acknowledge` (a clip or recording that cannot be played), which call the same
rules as the JSON API (server/review.py): the decision is refused until this user has watched
every answer (its key clips or its full recording, or acknowledged what cannot be played) and
written a note, whatever the page showed. Charts are SVG made here and in the template, so the
page works without script; static/report.js only ticks media as seen when its video loads,
offers the acknowledgement when a video fails, and enables the decision button once the review
is complete.
"""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import Session, select

from server.errors import Conflict, Invalid
from server.pages.common import FormErrors, PageCall, hr_page, see_other, validation_errors
from server.pages.interviews import STATE_LABELS
from server.rendering import CANDIDATE_STATUS_WORDS
from server.reports import Thresholds, build_report
from server import audit, recording
from server.review import (
    DecisionChangeIn, DecisionIn, acknowledge, add_note, answer_target, attach_media, change_decision, clip_target,
    decide, review_status, seen_items, visible_interview,
)
from server.review_gate import answer_ranges, gate
from server.tables import User
from server.i18n import N_, _, ngettext
from server.report_words import translated
from server.web import base_url
from server.review import REPORT_WAIT_S
from server.sessions import sessions_key

logger = logging.getLogger(__name__)

# Labels and hints are catalogue msgids (server/i18n.py): the pages translate them where shown.
DECISIONS = (
    ("second_interview", N_("Second interview"), N_("Invite the candidate to an interview with a person.")),
    ("talent_pool", N_("Talent pool"), N_("Keep the candidate for a later opening.")),
    ("not_recommended", N_("Not recommended"), N_("Do not go on with this candidate.")),
    ("hire", N_("Hire"), N_("Offer the job.")),
)
DECISION_LABELS = {value: label for value, label, _ in DECISIONS}
# What HR did during an interview (interventions.action), as the report's table names it.
INTERVENTION_ACTIONS = (N_("pause"), N_("resume"), N_("message"), N_("extend"), N_("skip"), N_("redo"), N_("end"))
RECOMMENDATION_LABELS = {"recommend": N_("Recommend"), "second_interview": N_("Second interview"),
                         "not_recommended": N_("Not recommended"), "insufficient_evidence": N_("Insufficient evidence")}

# Per-question signals shown as bars (ratios 0-1) and in words.
RATIO_SIGNALS = (
    ("face_present_ratio", N_("Face present")),
    ("eye_contact_ratio", N_("Eye contact")),
    ("smile_ratio", N_("Smiling")),
    ("upright_ratio", N_("Upright posture")),
    ("coherence", N_("Coherence")),
)


def mmss(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


# --- the view of one report ------------------------------------------------------------------

# Which of the job's analysis switches (report["analyses"]) each vision ratio belongs to; the
# face itself is always looked for.
SWITCH_OF = {"eye_contact_ratio": "eye_contact", "smile_ratio": "expression", "upright_ratio": "posture"}
NO_DATA = N_("no data")


def _signal_words(signals: dict[str, float], analyses: dict[str, bool]) -> list[tuple[str, str]]:
    """The signals that matter, in plain words (the request's language; the labels are msgids
    the page translates). "off": the job switched that analysis off; "no data": nothing was
    measured (or too little to give a rate)."""
    def ratio(name: str) -> str:
        if not analyses.get(SWITCH_OF.get(name, ""), True):
            return _("off (switched off for this job)")
        return _("%(pct)s of analysed frames", pct=f"{signals[name]:.0%}") if name in signals else _(NO_DATA)

    hits = {k.split(":", 1)[1]: int(v) for k, v in signals.items() if k.startswith("keyword_hits:") and v > 0}
    words = int(signals.get("word_count", 0))
    seconds = signals.get("answer_seconds", 0.0)
    if words == 0:
        answer = _("nothing recognised")
    elif seconds >= 1:
        answer = ngettext("%(num)d word in %(s)s s", "%(num)d words in %(s)s s", words) % {
            "num": words, "s": f"{seconds:.0f}"}
    else:
        answer = ngettext("%(num)d word", "%(num)d words", words) % {"num": words}
    too_little = _("no data (too little speech to measure)") if words else _(NO_DATA)
    out = [
        (N_("Answer"), answer),
        (N_("Speech rate"), _("%(n)s words a minute", n=f"{signals['speech_rate_wpm']:.0f}")
         if "speech_rate_wpm" in signals else too_little),
        (N_("Fillers"), _("%(pct)s of words (“um”, “uh”…)", pct=f"{signals['filler_ratio']:.0%}")
         if "filler_ratio" in signals else too_little),
        (N_("Keywords heard"), ", ".join(f"{k} ×{n}" for k, n in hits.items()) if hits else _("none")),
        (N_("Coherence"), _("%(c)s (0 to 1: how well the answer holds together and stays on the question)",
                            c=f"{signals['coherence']:.2f}") if "coherence" in signals else too_little),
    ]
    for name, label in RATIO_SIGNALS[:4]:
        out.append((label, ratio(name)))
    if signals.get("multiple_faces_ratio", 0.0) > 0:
        faces = f"{signals['multiple_faces_ratio']:.0%}"
        out.append((N_("Another face in view"), _("%(pct)s of analysed frames", pct=faces)))
    return out


def _signal_bars(signals: dict[str, float]) -> list[dict[str, Any]]:
    return [{"label": label, "value": signals.get(name)} for name, label in RATIO_SIGNALS]


def _dimension_groups(dimension: dict[str, Any], questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A dimension's evidence grouped by question: how each question counted (score, weight,
    flags), the points behind it, and the attempts that did not count (skipped, redone)."""
    groups: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    texts = {q["index"]: q["text"] for q in questions}
    for item in dimension["evidence"]:
        kind = item.get("kind")
        if kind in ("question", "not_counted"):
            current = {"index": item["question_index"], "text": texts.get(item["question_index"], ""),
                       "counted": kind == "question", "score": item.get("score"), "weight": item.get("weight"),
                       "fault": bool(item.get("fault")), "paused_s": item.get("paused_s", 0.0),
                       "why": item.get("reason", ""), "entries": []}
            groups.append(current)
        elif current is not None:
            current["entries"].append(item)
    for q in questions:  # attempts replaced by a redo: not in the dimension's evidence at all
        if not q["superseded"]:
            continue
        mine = next((s for s in q["scores"] if s["dimension_id"] == dimension["id"]), None)
        if mine is None:
            continue
        groups.append({"index": q["index"], "text": q["text"], "counted": False, "score": mine["score"],
                       "weight": mine["weight"], "fault": q["fault"], "paused_s": q["paused_s"],
                       "why": "superseded", "attempt": q["attempt"], "entries": mine["evidence"]})
    groups.sort(key=lambda g: (g["index"], g["counted"]))
    return groups


def report_view(db: Session, call: PageCall, interview_id: int) -> dict[str, Any]:
    """Everything the page shows, or `{"pending": state}` for an interview not completed."""
    interview = visible_interview(db, call.who, interview_id)  # 404 for unknown and invisible
    if interview.state != "completed":
        return {"pending": interview.state, "pending_label": _(STATE_LABELS.get(interview.state, interview.state)),
                "interview_id": interview_id}
    report = build_report(db, interview_id, base_url(call.request), Thresholds.from_settings(call.settings))
    audit.record(db, "hr", call.who.id, "report.view", "interview", interview_id, via="page")
    ranges = answer_ranges(db, interview_id)
    review = review_status(db, call.who, interview_id, report, ranges)
    attach_media(report, ranges, recording.recordings_root(call.settings.data_dir), "")
    seen_rows = seen_items(db, call.who, interview_id)
    status = gate(report, ranges, seen_rows)
    emails = {u.id: u.email for u in db.exec(select(User)).all()} if review["notes"] or review["decision"] else {}
    for note in review["notes"]:
        note["author"] = emails.get(note["user_id"], f"user {note['user_id']}")
    if review["decision"]:
        review["decision"]["author"] = emails.get(review["decision"]["user_id"], "")
        review["decision"]["label"] = _(DECISION_LABELS.get(review["decision"]["decision"],
                                                            review["decision"]["decision"]))
        for change in review["decision"]["changes"]:
            change["author"] = emails.get(change["user_id"], f"user {change['user_id']}")
            change["from_label"] = _(DECISION_LABELS.get(change["from"], change["from"]))
            change["to_label"] = _(DECISION_LABELS.get(change["to"], change["to"]))
    seen = set(seen_rows)
    acknowledged = {k for k, v in seen_rows.items() if v.acknowledged}
    questions = {q["index"]: q for q in report["questions"] if not q["superseded"]}
    for clip in report["clips"]:
        clip["src"] = urlsplit(clip["media_url"]).path  # same origin: the session cookie goes with it
        clip["seen"] = clip["id"] in seen
        clip["acknowledged"] = clip["id"] in acknowledged
        clip["question_text"] = questions.get(clip["question_index"], {}).get("text", "")
    required = {(a.question_index, a.attempt): a.required for a in status.answers}
    for q in report["questions"]:
        rec = q["recording"]
        rec["src"] = rec["media_url"]
        rec["seen"] = rec["id"] in seen
        rec["acknowledged"] = rec["id"] in acknowledged
        rec["required"] = required.get((q["index"], q["attempt"]), False)
    for dim in report["dimensions"]:
        dim["groups"] = _dimension_groups(dim, report["questions"])
    for q in report["questions"]:
        q["words"] = _signal_words(q["signals"], report.get("analyses", {}))
        q["bars"] = _signal_bars(q["signals"])
    decided = review["decision"] is not None
    to_watch = [{"key": f"{a.question_index}-{a.attempt}", "text": a.missing(seen)} for a in status.to_watch]
    return {
        "pending": None,
        "report": report,
        "review": review,
        "missing": [] if decided else review["missing"],
        "to_watch": to_watch,
        "recommendation_label": _(RECOMMENDATION_LABELS.get(report["recommendation"]["decision"],
                                                            report["recommendation"]["decision"])),
        "status_label": _(CANDIDATE_STATUS_WORDS.get(report["candidate"]["status"], report["candidate"]["status"])),
        # What report.js needs to tick items and enable the decision as the review completes.
        "config": {"answers": [{"key": f"{a.question_index}-{a.attempt}", "recording": a.recording_id,
                                "clips": [c["id"] for c in a.clips]} for a in status.answers if a.required],
                   "seen": sorted(seen), "noted": review["noted"], "decided": decided},
    }


async def _render(call: PageCall, interview_id: int, *, status: int = 200, errors: FormErrors | None = None,
                  values: dict[str, str] | None = None, gate: bool = False) -> web.Response:
    """The page; `errors` from a form, `gate`: they are the review's missing steps."""
    view = await call.store.run(lambda db: report_view(db, call, interview_id))
    if view["pending"]:
        return call.render("hr_report.html", status=409, nav="jobs", **view, errors=FormErrors(), values={},
                           gate=False, report_text=translated)
    return call.render("hr_report.html", status=status, nav="jobs", decisions=DECISIONS, mmss=mmss,
                       errors=errors or FormErrors(), values=values or {}, gate=gate, report_text=translated, **view)


@hr_page("GET", "/interviews/{interview_id}/report",
         summary="HR: a completed interview's report, key clips and review (notes, decision)", errors=(404, 409))
async def report_page(call: PageCall) -> web.Response:
    iid = call.id_param("interview_id", "interview")
    await call.request.app[sessions_key].settled(iid, REPORT_WAIT_S)  # the last answers' scores
    return await _render(call, iid)


def _back(interview_id: int) -> web.Response:
    return see_other(f"/interviews/{interview_id}/report#review")


@hr_page("POST", "/interviews/{interview_id}/notes", summary="HR: add a review note from the report page",
         errors=(404, 409, 422))
async def report_note(call: PageCall) -> web.Response:
    iid = call.id_param("interview_id", "interview")
    text = call.text("text").replace("\r\n", "\n")
    errors = FormErrors()
    if not text.strip():
        errors.add(_("write something in the note before adding it"), "note")
    elif len(text) > 5000:
        errors.add(_("the note is too long (at most 5000 characters)"), "note")
    if not errors:
        try:
            await call.store.run(lambda db: add_note(db, call.who, iid, text))
        except Conflict as exc:
            errors.add(exc.message, "note")
            errors.status = exc.status
        else:
            return _back(iid)
    return await _render(call, iid, status=errors.status, errors=errors, values={"note_text": text})


@hr_page("POST", "/interviews/{interview_id}/decision",
         summary="HR: decide from the report page (refused until every clip is seen and a note written)",
         errors=(404, 409, 422))
async def report_decision(call: PageCall) -> web.Response:
    iid = call.id_param("interview_id", "interview")
    values = {"decision": call.text("decision"), "decision_note": call.text("note").replace("\r\n", "\n"),
              "start_date": call.text("start_date").strip()}
    errors = FormErrors()
    try:
        body = DecisionIn.model_validate({"decision": values["decision"], "note": values["decision_note"],
                                          "start_date": values["start_date"] or None})
    except ValidationError as exc:
        def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
            if loc[:1] == ("decision",):
                return "decision", _("choose a decision")
            if loc[:1] == ("start_date",):
                return "decision", described
            return "decision", f"note {described}"

        errors = validation_errors(exc, label)
        return await _render(call, iid, status=422, errors=errors, values=values)
    base = base_url(call.request)
    try:
        thresholds = Thresholds.from_settings(call.settings)
        await call.store.run(lambda db: decide(db, call.who, iid, body, base, thresholds))
    except Conflict as exc:
        missing = exc.extra.get("missing")
        if missing:
            for reason in missing:
                errors.add(_("not yet: %(reason)s", reason=reason), "decision")
        else:
            errors.add(exc.message, "decision")
        return await _render(call, iid, status=409, errors=errors, values=values, gate=bool(missing))
    return _back(iid)


@hr_page("POST", "/interviews/{interview_id}/decision/change",
         summary="HR: change the decision from the report page, with the reason", errors=(404, 409, 422))
async def report_decision_change(call: PageCall) -> web.Response:
    iid = call.id_param("interview_id", "interview")
    values = {"change_decision": call.text("decision"), "change_reason": call.text("reason").replace("\r\n", "\n")}
    errors = FormErrors()
    try:
        body = DecisionChangeIn.model_validate({"decision": values["change_decision"],
                                                "reason": values["change_reason"]})
    except ValidationError as exc:
        def label(loc: tuple[Any, ...], kind: str, described: str) -> tuple[str, str]:
            if loc[:1] == ("decision",):
                return "change", _("choose the new outcome")
            return "change", _("say why the decision changes") if kind == "string_too_short" else f"reason {described}"

        return await _render(call, iid, status=422, errors=validation_errors(exc, label), values=values)
    base = base_url(call.request)
    try:
        thresholds = Thresholds.from_settings(call.settings)
        await call.store.run(lambda db: change_decision(db, call.who, iid, body, base, thresholds))
    except (Conflict, Invalid) as exc:
        for reason in exc.extra.get("missing") or [exc.message]:
            errors.add(reason, "change")
        return await _render(call, iid, status=exc.status, errors=errors, values=values)
    return _back(iid)


@hr_page("POST", "/interviews/{interview_id}/acknowledge",
         summary="HR: acknowledge from the report page that a clip or an answer's recording cannot be played",
         errors=(404, 409, 422))
async def report_acknowledge(call: PageCall) -> web.Response:
    iid = call.id_param("interview_id", "interview")
    item = call.text("item")
    answer = re.fullmatch(r"answer-(\d{1,6})-(\d{1,6})", item)
    errors = FormErrors()
    try:
        if answer:
            qi, attempt = int(answer.group(1)), int(answer.group(2))
            target = await call.store.run(lambda db: answer_target(db, call.who, iid, qi, attempt))
        elif item:
            target = await call.store.run(lambda db: clip_target(db, call.who, iid, item))
        else:
            errors.add(_("choose what to acknowledge"), "decision")
            return await _render(call, iid, status=422, errors=errors)
        await acknowledge(call.request.app, call.who, iid, target)
    except Conflict as exc:
        errors.add(exc.message, "decision")
        return await _render(call, iid, status=409, errors=errors)
    return see_other(f"/interviews/{iid}/report#{'recording-' if answer else 'clip-'}{item}")


@hr_page("GET", "/interviews/{interview_id}/notes", summary="HR: the report page (after logging in again)",
         errors=(404,))
async def report_note_get(call: PageCall) -> web.Response:
    return _back(call.id_param("interview_id", "interview"))


@hr_page("GET", "/interviews/{interview_id}/decision", summary="HR: the report page (after logging in again)",
         errors=(404,))
async def report_decision_get(call: PageCall) -> web.Response:
    return _back(call.id_param("interview_id", "interview"))
