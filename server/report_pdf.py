"""One interview's report as a PDF, what HR files or forwards:
`GET /api/interviews/{id}/report.pdf` (the report page links it; the session cookie works, as for
every GET of the API).

Made with fpdf2, with a TrueType font that covers Hangul and Latin (Debian's fonts-nanum,
installed by `./candor setup`; fpdf2 embeds only the glyphs used). The OpenType-CFF Noto CJK
fonts are not used: fpdf2 2.8 writes their glyph widths under the wrong codes, which spreads
Korean letters apart. Without the font the route answers 503 with what to install. Rendering
is CPU work, done on a niced single-thread executor, off the event loop."""
from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from sqlmodel import Session, col, select

from server.api import router
from server.api_router import Call
from server import audit
from server.errors import ApiError
from server.evidence_words import evidence_lines, mmss
from server.executors import analysis_executor
from server.invitations import visible_interview
from server.reports import Thresholds, build_report
from server.review import REPORT_WAIT_S, review_status
from server.sessions import sessions_key
from server.tables import Candidate, User, utcnow
from server.web import settings_key, store_key

logger = logging.getLogger(__name__)

FONT_PACKAGE = "fonts-nanum"
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")
FONT_REGULAR = FONT_DIR / "NanumGothic.ttf"
FONT_BOLD = FONT_DIR / "NanumGothicBold.ttf"
TOP_EVIDENCE = 6  # evidence lines per dimension in the PDF (the report page has them all)

RECOMMENDATION_WORDS = {"recommend": "Recommend", "second_interview": "Second interview",
                        "not_recommended": "Not recommended", "insufficient_evidence": "Insufficient evidence"}
DECISION_WORDS = {"hire": "Hire", "second_interview": "Second interview", "talent_pool": "Talent pool",
                  "not_recommended": "Not recommended"}

# fontTools tells about every table it cannot subset (Nanum's TSI* hinting sources): noise.
logging.getLogger("fontTools").setLevel(logging.ERROR)


class FontMissing(ApiError):
    status = 503


def find_fonts() -> tuple[Path, Path]:
    regular, bold = FONT_REGULAR, FONT_BOLD  # read at each call: a test may point them elsewhere
    for path in (regular, bold):
        if not path.is_file():
            raise FontMissing(f"PDF reports need the font {path} (Debian package {FONT_PACKAGE}, installed by "
                              f"'./candor setup'): ask the operator to install it")
    return regular, bold


# --- what goes in ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Note:
    author: str
    created_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class PdfReport:
    report: dict[str, Any]  # build_report's
    email: str
    time_zone: str  # the candidate's, else the server's mail time zone
    started_at: datetime | None
    completed_at: datetime | None
    notes: list[Note] = field(default_factory=list)
    decision: dict[str, Any] | None = None  # label, author, created_at, note, changes [(text)]
    generated_at: datetime = field(default_factory=utcnow)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def when(value: datetime | None, zone: str = "") -> str:
    """'2026-12-01 21:40 UTC (2026-12-02 06:40 Asia/Seoul)'; the zone part when a valid zone
    other than UTC is given."""
    if value is None:
        return "—"
    utc = _utc(value)
    text = f"{utc:%Y-%m-%d %H:%M} UTC"
    if zone and zone != "UTC":
        try:
            local = utc.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return text
        text += f" ({local:%Y-%m-%d %H:%M} {zone})"
    return text


def filename_for(interview_id: int, name: str) -> str:
    """Content-Disposition: an ASCII filename for every client, and the name in UTF-8 for those
    that read filename*."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40]
    plain = f"candor-report-{interview_id}{'-' + slug if slug else ''}.pdf"
    full = re.sub(r"[\s/\\\"';]+", "-", "".join(ch for ch in name if unicodedata.category(ch)[0] != "C"))[:60]
    utf8 = quote(f"candor-report-{interview_id}-{full.strip('-')}.pdf", safe="")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{utf8}"


# --- rendering ---------------------------------------------------------------------------------

def render_pdf(doc: PdfReport, fonts: tuple[Path, Path]) -> bytes:
    from fpdf import FPDF

    generated = f"Generated {when(doc.generated_at)} by Candor"

    class ReportPdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("body", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, f"{generated} · page {self.page_no()}/{{nb}}", align="C")

    r = doc.report
    pdf = ReportPdf(format="A4")
    pdf.set_margins(16, 16, 16)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("body", "", str(fonts[0]))
    pdf.add_font("body", "B", str(fonts[1]))
    name = r["candidate"]["name"]
    pdf.set_title(f"Interview report: {name}")
    pdf.set_author("Candor")
    pdf.set_creator("Candor")
    pdf.set_creation_date(_utc(doc.generated_at))
    pdf.add_page()

    def text(value: str, size: float = 10, bold: bool = False, gap: float = 0.6, indent: float = 0) -> None:
        pdf.set_font("body", "B" if bold else "", size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(pdf.epw - indent, size * 0.5, value, align="L", new_x="LMARGIN", new_y="NEXT")
        if gap:
            pdf.ln(gap)

    def heading(value: str) -> None:
        pdf.ln(3)
        pdf.set_text_color(30, 60, 120)
        text(value, 13, bold=True, gap=1.2)
        pdf.set_text_color(0, 0, 0)

    def bullet(value: str, indent: float = 4) -> None:
        text(f"• {value}", 9.5, indent=indent, gap=0.3)

    pdf.set_text_color(90, 90, 90)
    text("Interview report", 10, gap=0)
    pdf.set_text_color(0, 0, 0)
    text(name, 20, bold=True, gap=1)
    text(f"{doc.email} · {r['job']['title']}", 11, gap=2)
    text(f"Interview started: {when(doc.started_at, doc.time_zone)}", 10, gap=0.2)
    text(f"Interview completed: {when(doc.completed_at, doc.time_zone)}", 10, gap=0.2)
    if doc.time_zone and doc.time_zone != "UTC":
        text(f"Times in UTC and in {doc.time_zone} (the candidate's time zone, or the server's when the candidate "
             f"gave none).", 8.5, gap=0)

    if not r.get("consent"):
        heading("Human-only review")
        text("The candidate asked that no AI analysis be made of this interview: there are no AI scores, "
             "percentile or clips. A person reviews the answers and decides.")
    elif r.get("warnings"):
        heading("Read before the scores")
        for w in r["warnings"]:
            bullet(w["text"], indent=0)

    if r.get("consent"):
        ov = r["overall"]
        heading("Overall")
        if ov["score"] is None:
            text("No dimension could be assessed.", 11, bold=True)
        else:
            text(f"{ov['score']:.1f} / 100 · {ov['coverage']:.0%} of the job's dimension weight assessed", 12,
                 bold=True)
            text(ov.get("text", ""), 9)
        text(f"Percentile: {r['percentile']['text']}.", 10)

    heading("Recommendation (advice of the scoring model, not a decision)")
    decision = r["recommendation"]["decision"]
    text(RECOMMENDATION_WORDS.get(decision, decision), 12, bold=True)
    text(f"Why: {r['recommendation']['reason']}.", 10)

    if r.get("consent"):
        heading("Dimensions")
        for d in r["dimensions"]:
            pct = d.get("percentile") or {}
            if d["score"] is None:
                head = f"{d['name']}: not assessed"
            else:
                head = f"{d['name']}: {d['score']:.1f}"
            extra = f"weight {d['weight']:g}"
            if d["score"] is not None:
                extra = "assessed; " + extra + (f"; higher than {pct['value']:.0f}% of {pct['count']} candidates"
                                                if pct.get("value") is not None else "; no percentile")
            text(f"{head}  ({extra})", 11, bold=True, gap=0.4)
            if d["score"] is None and d.get("reason"):
                text(f"Not assessed: {d['reason']}.", 9.5, indent=4)
            lines = evidence_lines(d)
            for line in lines[:TOP_EVIDENCE]:
                bullet(line["text"])
            if len(lines) > TOP_EVIDENCE:
                bullet(f"… and {len(lines) - TOP_EVIDENCE} more points in the report")
            pdf.ln(1.5)

        heading("Key clips")
        if not r["clips"]:
            text("No key clips were found in this interview.", 10)
        for c in r["clips"]:
            kind = "Highlight" if c["kind"] == "highlight" else "Concern"
            text(f"{kind} {mmss(c['start_s'])}–{mmss(c['end_s'])} · question {c['question_index'] + 1}", 10,
                 bold=True, gap=0.2)
            text(f"Why: {c['reason']}", 9.5, indent=4, gap=0.2)
            if c.get("text"):
                text(f"“{c['text']}”", 9.5, indent=4)
            pdf.ln(0.8)

        # Measured accuracy per video signal, and answers where a signal was low confidence.
        low = [f"Question {q['index'] + 1}: {lc['text']}" for q in r["questions"] if not q["superseded"]
               for lc in q.get("low_confidence") or []]
        if r.get("signal_accuracy") or low:
            heading("How far to trust the video signals")
            for a in r.get("signal_accuracy") or []:
                bullet(a["text"], indent=0)
            for sentence in low:
                bullet(sentence, indent=0)

    heading("Interventions during the interview")
    if not r.get("interventions"):
        text("Nobody intervened: no pause, message, extra time, skip or redo.", 10)
    for i in r.get("interventions") or []:
        ts = i["ts"] if isinstance(i["ts"], datetime) else None
        parts = [when(ts) if ts else str(i["ts"]), i["user"], i["action"] + (f" ({i['seconds']:+g} s)"
                                                                             if i.get("seconds") else "")]
        if i.get("question_index") is not None:
            parts.append(f"question {i['question_index'] + 1}")
        if i.get("note"):
            parts.append(i["note"])
        bullet(" · ".join(parts), indent=0)

    heading("HR review")
    if not doc.notes:
        text("No notes yet.", 10)
    for n in doc.notes:
        text(f"{n.author} · {when(n.created_at)}", 9, bold=True, gap=0.2)
        text(n.text, 10, indent=4)
    if doc.decision:
        text(f"Decision: {doc.decision['label']}", 12, bold=True, gap=0.4)
        text(f"by {doc.decision['author']} · {when(doc.decision['created_at'])}", 9.5)
        if doc.decision.get("note"):
            text(doc.decision["note"], 10, indent=4)
        for change in doc.decision.get("changes") or []:
            bullet(change)
    else:
        text("Decision: not decided yet.", 11, bold=True)
    return bytes(pdf.output())


# --- the route ---------------------------------------------------------------------------------

pdf_executor_key = web.AppKey("report_pdf_executor", ThreadPoolExecutor)


async def pdf_ctx(app: web.Application) -> AsyncIterator[None]:
    app[pdf_executor_key] = analysis_executor(1, "report-pdf")
    yield
    app[pdf_executor_key].shutdown(wait=False, cancel_futures=True)


def pdf_input(db: Session, call: Call, interview_id: int, thresholds: Thresholds, default_zone: str) -> PdfReport:
    interview = visible_interview(db, call.who, interview_id)  # 404 for unknown and invisible
    report = build_report(db, interview_id, "", thresholds)  # 409 unless completed
    review = review_status(db, call.who, interview_id, report)
    audit.record(db, "hr", call.who.id, "report.export", "interview", interview_id, format="pdf")
    candidate = db.get(Candidate, interview.candidate_id)
    assert candidate is not None, "a foreign key"
    authors = {n["user_id"] for n in review["notes"]}
    decided = review["decision"]
    if decided:
        authors |= {decided["user_id"], *(c["user_id"] for c in decided["changes"])}
    emails = {u.id: u.email for u in db.exec(select(User).where(col(User.id).in_(authors))).all()} if authors else {}
    decision = None
    if decided:
        decision = {"label": DECISION_WORDS.get(decided["decision"], decided["decision"]),
                    "author": emails.get(decided["user_id"], f"user {decided['user_id']}"),
                    "created_at": decided["created_at"], "note": decided["note"],
                    "changes": [f"changed from {DECISION_WORDS.get(c['from'], c['from'])} to "
                                f"{DECISION_WORDS.get(c['to'], c['to'])} by {emails.get(c['user_id'], '?')} on "
                                f"{when(c['ts'])}: {c['reason']}" for c in decided["changes"]]}
    notes = [Note(emails.get(n["user_id"], f"user {n['user_id']}"), n["created_at"], n["text"])
             for n in review["notes"]]
    return PdfReport(report, candidate.email, candidate.time_zone or default_zone, interview.started_at,
                     interview.completed_at, notes, decision)


@router.route("GET", "/api/interviews/{interview_id}/report.pdf",
              summary="The report of a completed interview as a PDF to file or forward (scores, evidence, key "
                      "clips, interventions, HR notes and decision); 503 when the server lacks the PDF font",
              errors=(404, 409, 503), content_type="application/pdf", tag="reports")
async def get_report_pdf(call: Call) -> web.Response:
    iid = call.int_param("interview_id")
    app = call.request.app
    settings = app[settings_key]
    await app[sessions_key].settled(iid, REPORT_WAIT_S)  # the last answers' scores
    thresholds = Thresholds.from_settings(settings)
    doc = await app[store_key].run(lambda db: pdf_input(db, call, iid, thresholds, settings.mail_time_zone))
    fonts = find_fonts()
    body = await asyncio.get_running_loop().run_in_executor(app[pdf_executor_key], render_pdf, doc, fonts)
    logger.info("report PDF of interview %s for user %s: %d bytes", iid, call.who.id, len(body))
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": filename_for(iid, doc.report["candidate"]["name"]),
                                 "Cache-Control": "no-store"})
