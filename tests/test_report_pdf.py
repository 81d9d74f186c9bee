"""A report as a PDF (`GET /api/interviews/{id}/report.pdf`): it opens with pypdf and says what
the report says (candidate, Korean names included, job, dates in UTC and the candidate's time
zone, overall, recommendation, dimensions with scores and evidence, clips, notes, decision);
409 before the interview is completed, 401/404 for the wrong people, 503 without the font.
Real sessions (transcript in, scores out), the real font and fpdf2."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from conftest import Api, login
from server.tables import Candidate, Decision, Interview, User
from test_scores_hold_up import PLANNING_SAFETY, TWO_QUESTIONS, interview, invite, new_job, report
from tests.test_compare import STRONG, WEAK


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


async def get_pdf(client: Any, hr: Api, iid: int) -> tuple[Any, bytes]:
    resp = await client.get(f"/api/interviews/{iid}/report.pdf", headers=hr.headers)
    return resp, await resp.read()


async def test_pdf_names_the_candidate_and_lists_what_the_report_says(client: Any, hr: Api, store: Any) -> None:
    _, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    kim = await invite(hr, tpl, "김민준")
    await interview(client, kim, STRONG)
    completed = datetime(2026, 12, 1, 21, 40, tzinfo=timezone.utc)

    def setup(db: Any) -> None:
        itv = db.get(Interview, kim)
        itv.completed_at = completed
        db.add(itv)
        person = db.get(Candidate, itv.candidate_id)
        person.time_zone = "Asia/Seoul"
        db.add(person)

    store.run_sync(setup)
    await hr.call("POST", f"/api/interviews/{kim}/notes", json={"text": "면접 태도가 좋았습니다. Strong on planning."},
                  expect=201)
    rep = await report(hr, kim)
    resp, data = await get_pdf(client, hr, kim)
    assert resp.status == 200 and resp.content_type == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="candor-report-{kim}.pdf"')  # no ASCII in the name
    assert "filename*=UTF-8''candor-report-" in disposition and "%EA%B9%80" in disposition  # 김
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None and reader.metadata.title == "Interview report: 김민준"
    text = pdf_text(data)
    assert "김민준" in text and "xn" not in text
    assert "xn" not in disposition
    email = "김민준@example.com"
    assert email in text and "Site engineer" in text
    assert "2026-12-01 21:40 UTC (2026-12-02 06:40 Asia/Seoul)" in text  # UTC and the candidate's zone
    assert f"{rep['overall']['score']:.1f} / 100" in text
    label = {"recommend": "Recommend", "second_interview": "Second interview",
             "not_recommended": "Not recommended"}[rep["recommendation"]["decision"]]
    assert label in text and rep["recommendation"]["reason"][:30] in " ".join(text.split())
    for d in rep["dimensions"]:
        assert f"{d['name']}: {d['score']:.1f}" in text
    assert text.count("(assessed; weight 1; no percentile)") == 2  # one interview: nobody to compare with
    assert "keywords heard: schedule, budget" in text  # top evidence
    assert rep["clips"] and all(c["reason"][:25] in " ".join(text.split()) for c in rep["clips"])
    assert "면접 태도가 좋았습니다. Strong on planning." in text and "hr@example.com" in text
    assert "Decision: not decided yet." in text
    assert "Nobody intervened" in text
    assert "by Candor" in text and "Generated 20" in text

    # A decision shows with who made it.
    def decide(db: Any) -> None:
        from sqlmodel import select

        user = db.exec(select(User).where(User.email == "hr@example.com")).one()
        db.add(Decision(interview_id=kim, user_id=user.id, decision="hire", note="Offer sent"))

    store.run_sync(decide)
    text = pdf_text((await get_pdf(client, hr, kim))[1])
    assert "Decision: Hire" in text and "Offer sent" in text


async def test_pdf_of_an_english_name_and_a_weak_interview(client: Any, hr: Api) -> None:
    _, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    ada = await invite(hr, tpl, "Ada Lovelace")
    await interview(client, ada, WEAK)
    rep = await report(hr, ada)
    resp, data = await get_pdf(client, hr, ada)
    assert resp.status == 200
    assert f'filename="candor-report-{ada}-ada-lovelace.pdf"' in resp.headers["Content-Disposition"]
    text = pdf_text(data)
    assert "Ada Lovelace" in text and "ada.lovelace@example.com" in text
    for d in rep["dimensions"]:
        shown = f"{d['name']}: {d['score']:.1f}" if d["score"] is not None else f"{d['name']}: not assessed"
        assert shown in text


async def test_pdf_refused_before_completion_and_to_the_wrong_people(
        client: Any, hr: Api, store: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from server import report_pdf

    _, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    waiting = await invite(hr, tpl, "Wes Waiting")
    resp, _ = await get_pdf(client, hr, waiting)
    assert resp.status == 409 and "completed" in (await resp.json())["error"]
    done = await invite(hr, tpl, "Dana Done")
    await interview(client, done, STRONG)
    assert (await client.get(f"/api/interviews/{done}/report.pdf")).status == 401
    other = await login(client, store, "other@example.com", "hr")
    resp, _ = await get_pdf(client, other, done)
    assert resp.status == 404 and (await resp.json())["error"] == f"interview {done} not found"
    assert (await get_pdf(client, hr, 987654))[0].status == 404
    # Without the font: a clear 503 saying what to install.
    monkeypatch.setattr(report_pdf, "FONT_REGULAR", tmp_path / "NanumGothic.ttf")
    resp, _ = await get_pdf(client, hr, done)
    body = await resp.json()
    assert resp.status == 503 and "fonts-nanum" in body["error"] and "NanumGothic.ttf" in body["error"]
    _, spec = await hr.call("GET", "/api/openapi.json", expect=200)
    op = spec["paths"]["/api/interviews/{interview_id}/report.pdf"]["get"]
    assert {"404", "409", "503"} <= set(op["responses"])


async def test_report_page_links_the_pdf_and_the_cookie_session_downloads_it(client: Any, hr: Api) -> None:
    from tests.test_report_page import page_login

    _, dims, tpl = await new_job(hr, PLANNING_SAFETY, TWO_QUESTIONS)
    iid = await invite(hr, tpl, "Pat Page")
    await interview(client, iid, STRONG)
    await page_login(client)
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert f'href="/api/interviews/{iid}/report.pdf"' in page and "Download PDF" in page
    resp = await client.get(f"/api/interviews/{iid}/report.pdf")  # the session cookie only
    assert resp.status == 200 and "Pat Page" in pdf_text(await resp.read())


def test_render_pdf_of_a_human_only_review_and_long_text() -> None:
    """No scores at all, a very long unbroken word: still a valid PDF that says why."""
    from server.report_pdf import Note, PdfReport, find_fonts, render_pdf

    rep = {"candidate": {"name": "이서연 (Seo-yeon Lee)"}, "job": {"title": "현장 엔지니어"}, "consent": False,
           "warnings": [], "overall": {"score": None, "coverage": 0.0}, "dimensions": [], "clips": [],
           "percentile": {"value": None, "count": 0, "text": "no AI scores"},
           "recommendation": {"decision": "second_interview", "reason": "no AI scores"},
           "interventions": [{"action": "pause", "note": "x" * 400, "seconds": None, "question_index": 0,
                              "user": "hr@example.com", "ts": datetime(2026, 12, 1, tzinfo=timezone.utc)}]}
    doc = PdfReport(rep, "lee@example.com", "", None, None,
                    [Note("hr@example.com", datetime(2026, 12, 1, tzinfo=timezone.utc), "사람이 검토함")])
    text = pdf_text(render_pdf(doc, find_fonts()))
    assert "이서연 (Seo-yeon Lee)" in text and "Human-only review" in text and "사람이 검토함" in text
    assert "Second interview" in text and "question 1" in text
