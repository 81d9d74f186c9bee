"""Jurisdiction rules and consent withdrawal in live interviews, all real: headless Chromium as the
candidate (fake camera with a real face, fake microphone with speech), WebRTC to the server
process, real Vosk and ONNX models; what was computed is checked in the database, not the UI.

- An EU job never computes smile/affect signals: the stored per-question signals and timelines
  carry none, while eye contact and presence are there (a default job on the same media does
  store smile_ratio, so the check can fail), and a rule on smile_ratio is refused.
- Withdrawing consent mid-interview stops analysis at once: nothing is stored for the time after
  it, the interview completes, the consent records show the answer, the notice version and the
  withdrawal, and the report is human-only.
"""
from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from server import jurisdictions
from tests.support.media import face_y4m, speech_wav
from tests.support.server import running_server
from tests.test_candidate_page import KOREAN_ANSWER, new_page, page_errors, wait_for_models, wait_state
from tests.test_e2e_interview import admin_login, api

RULES = [{"signal": "face_present_ratio", "op": ">=", "value": 0.5, "points": 5},
         {"signal": "eye_contact_ratio", "op": ">=", "value": 0.0, "points": 5}]


def make_interview(server: Any, token: str, jurisdiction: str, email: str, questions: int) -> tuple[int, str, int]:
    """A Korean job of that profile, `questions` questions; one invited candidate: (interview
    id, the candidate's link, job id)."""
    job = api(server, "POST", "/api/jobs", {
        "title": f"Engineer ({jurisdiction})", "language": "ko", "jurisdiction": jurisdiction,
        "dimensions": [{"name": "Presence", "keywords": ["프로젝트", "안전"], "rules": RULES}]}, token)
    dim = job["dimensions"][0]["id"]
    tpl = api(server, "POST", "/api/templates", {"job_id": job["id"], "name": "Live", "questions": [
        {"text": f"질문 {i + 1}: 프로젝트에 대해 말씀해 주세요.", "time_limit_s": 120,
         "dimensions": [{"dimension_id": dim, "weight": 1}]} for i in range(questions)]}, token)
    cand = api(server, "POST", "/api/candidates", {"name": "김민수", "email": email}, token)
    inv = api(server, "POST", "/api/invitations", {
        "template_id": tpl["id"], "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, token)["invitations"][0]
    return int(inv["interview_id"]), f"{server}/i/{inv['url'].rsplit('/', 1)[1]}", int(job["id"])


def join(page: Page, link: str) -> None:
    page.goto(f"{link}?raw_audio=1")
    page.click("#consent-yes")
    page.wait_for_function("() => (window.candor.stream !== null)")
    page.click("#join")
    wait_state(page, "live", timeout=45_000)


def next_question(page: Page, index: int) -> None:
    page.wait_for_function("() => (!document.getElementById('next').disabled)")
    page.click("#next")
    page.wait_for_function(f"() => (window.candor.question && window.candor.question.index === {index})",
                           timeout=20_000)


def finish(page: Page) -> None:
    page.wait_for_function("() => (!document.getElementById('next').disabled)")
    page.click("#next")
    page.click("#finish-yes")  # the last question asks before finishing
    wait_state(page, "finished", timeout=30_000)


def rows(server: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(server.data_dir / "candor.sqlite3")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def stored_at(value: str) -> datetime:
    """A time as SQLite holds it (UTC, with or without the offset)."""
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def wait_until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_an_eu_job_never_computes_smile_signals(launch_browser: Any, tmp_path: Path) -> None:
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        # A rule on smile_ratio is refused for an EU job, with the signal named.
        try:
            api(server, "POST", "/api/jobs", {"title": "x", "language": "ko", "jurisdiction": "eu", "dimensions": [
                {"name": "Warmth", "rules": [{"signal": "smile_ratio", "op": ">=", "value": 0.1, "points": 5}]}]},
                token)
            raise AssertionError("a smile rule was accepted for an EU job")
        except urllib.error.HTTPError as err:
            assert err.code == 422 and "smile_ratio" in json.load(err)["error"]
        eu_id, eu_link, _ = make_interview(server, token, "eu", "eu@example.com", questions=1)
        default_id, default_link, _ = make_interview(server, token, "default", "us@example.com", questions=1)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        for link in (eu_link, default_link):
            page = new_page(browser)
            try:
                join(page, link)
                time.sleep(6)  # frames are analysed at the analysis rate meanwhile
                finish(page)
                assert not page_errors(page)
            finally:
                page.context.close()
        # Each answer is stored once the recogniser has caught up with it.
        found = wait_until("both answers stored", lambda: (lambda r: r if len(r) == 2 else None)(rows(
            server, "select interview_id, signals, timeline from question_signals where interview_id in (?, ?)",
            eu_id, default_id)), timeout=60)
        signals = {iid: (json.loads(s), json.loads(t)) for iid, s, t in found}
        report = api(server, "GET", f"/api/interviews/{eu_id}/report", token=token)

    eu_signals, eu_timeline = signals[eu_id]
    assert eu_signals["frames:analysed_frames"] >= 5, eu_signals
    assert eu_signals["face_present_ratio"] >= 0.9 and "eye_contact_ratio" in eu_signals, eu_signals
    assert "smile_ratio" not in eu_signals and eu_signals["frames:smile_frames"] == 0, eu_signals
    assert eu_timeline and all(entry.get("smile") is None for entry in eu_timeline), eu_timeline
    assert any(entry.get("face") for entry in eu_timeline)
    assert report["analyses"]["expression"] is False
    # The same camera under the default profile: smiles are measured (the check above can fail).
    default_signals, default_timeline = signals[default_id]
    assert "smile_ratio" in default_signals, default_signals
    assert any(entry.get("smile") is not None for entry in default_timeline)


def test_withdrawal_mid_interview_stops_analysis_and_completes_human_only(launch_browser: Any,
                                                                          tmp_path: Path) -> None:
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        interview_id, link, _ = make_interview(server, token, "default", "minsu@example.com", questions=2)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            join(page, link)
            assert page.locator("#withdraw").is_visible()
            # The first answer is analysed: something recognised, frames analysed.
            page.wait_for_function("() => (window.candor.captions.length > 0)", timeout=60_000)
            next_question(page, 1)
            wait_until("the first answer's signals", lambda: rows(
                server, "select 1 from question_signals where interview_id = ? and question_index = 0",
                interview_id))
            time.sleep(3)  # the second answer is being analysed too
            page.click("#withdraw")
            assert page.locator("#withdraw-confirm").is_visible()
            page.click("#withdraw-yes")
            page.wait_for_function("() => (window.candor.withdrawn === true)", timeout=10_000)
            assert page.locator("#withdrawn-text").is_visible() and not page.locator("#withdraw").is_visible()
            captions_at_withdrawal = page.evaluate("window.candor.captions.length")
            time.sleep(8)  # media goes on: speech and frames that must not be analysed
            assert page.evaluate("window.candor.state") == "live"
            finish(page)
            captions_after = page.evaluate("window.candor.captions.length")
            assert not page_errors(page)
        finally:
            page.context.close()
        detail = api(server, "GET", f"/api/interviews/{interview_id}", token=token)
        report = api(server, "GET", f"/api/interviews/{interview_id}/report", token=token)
        withdrawn_at = stored_at(rows(server, "select ts from state_changes where interview_id = ? and code = ?",
                                      interview_id, "consent_withdrawn")[0][0])
        signals = {qi: (json.loads(s), json.loads(t), stored_at(u)) for qi, s, t, u in rows(
            server, "select question_index, signals, timeline, updated_at from question_signals "
                    "where interview_id = ?", interview_id)}
        segments = [(qi, stored_at(c)) for qi, c in rows(
            server, "select question_index, created_at from transcript_segments where interview_id = ?",
            interview_id)]
        scores = [(qi, stored_at(u)) for qi, u in rows(
            server, "select question_index, updated_at from scores where interview_id = ?", interview_id)]
        consent_rows = rows(server, "select kind, answer, notice_id, notice_version, withdrawn_at "
                                    "from consent_records where interview_id = ?", interview_id)

    # The interview went on and completed, human-only.
    assert detail["state"] == "completed" and detail["consent"] is False
    version = jurisdictions.PROFILES["default"].notice.version
    assert [(c["kind"], c["answer"], c["notice_id"], c["notice_version"]) for c in detail["consents"]] == [
        ("ai_analysis", True, "default", version)]
    assert detail["consents"][0]["withdrawn_at"] and detail["consents"][0]["ts"] < detail["consents"][0]["withdrawn_at"]
    assert consent_rows[0][:4] == ("ai_analysis", 1, "default", version) and consent_rows[0][4] is not None
    assert report["consent"] is False and report["dimensions"] == [] and report["clips"] == []
    # Before the withdrawal: the first answer was analysed.
    first, _, first_at = signals[0]
    assert first["frames:analysed_frames"] > 0 and first.get("word_count", 0) > 0, first
    assert first_at <= withdrawn_at
    # After it: the second answer is stored (its recording stays for the human review) with no
    # signal, no timeline, no score; nothing recognised was stored after the withdrawal.
    second, second_timeline, _ = signals[1]
    assert second == {} and second_timeline == [], second
    slack = timedelta(seconds=1)  # a write already on its way when the withdrawal came
    assert all(at <= withdrawn_at + slack for _, at in segments), (segments, withdrawn_at)
    assert any(qi == 0 for qi, _ in segments)
    assert all(qi != 1 and at <= withdrawn_at + slack for qi, at in scores), (scores, withdrawn_at)
    assert captions_after == captions_at_withdrawal  # no recognition after it, not even captions
