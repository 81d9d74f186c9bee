"""The report page `/interviews/{id}/report`: scores with their evidence, questions, key clips
with playable media, the recommendation, interventions, and HR's review through the page's forms
(notes and the decision, which the server refuses until every clip is open and a note written).

The aiohttp tests make the interview with `completed_interview` (a real session driven without
media) and give it a real recording made with server.recording's writers, so the clips are
rendered by the real `render_clip`. The Chromium test runs a whole interview with a Chromium
candidate (fake camera and microphone) against the real server, then reviews it as HR."""
from __future__ import annotations

import asyncio
import html
import math
import re
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlmodel import select

from conftest import PASSWORD, Api, invite, login
from server import clips as clip_files, recording
from server.session import State
from server.tables import Candidate, ClipView, Decision, Interview, ReviewNote
from server.web import SESSION_COOKIE
from tests.test_controls import FakeLink, FakePeer
from tests.test_reports import Sample, completed_interview
from analyzers.speech import Word
from server.sessions import sessions_key


# --- helpers ---------------------------------------------------------------------------------

def text_of(page: str) -> str:
    """The page's words: inline tags vanish, block tags separate."""
    page = re.sub(r"</?(strong|span|code|a|em)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def page_login(client: Any, email: str = "hr@example.com") -> str:
    """Log the test client in through the login form (a session cookie); the CSRF token."""
    resp = await client.post("/login", data={"email": email, "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    resp = await client.get("/jobs")
    return csrf_of(await resp.text())


def record(data_dir: Path, interview_id: int, seconds: float = 12.0) -> None:
    """A real recording on the interview clock from -1 s: a 440 Hz tone and 2 frames a second
    (a moving grey gradient), written with the recorder's own writers."""
    directory = recording.recording_dir(recording.recordings_root(data_dir), interview_id)
    audio = recording.AudioWriter(directory, -1.0)
    t = np.arange(int((seconds + 1) * recording.RATE)) / recording.RATE
    audio.write((3000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16).tobytes())
    audio.close()
    video = recording.VideoWriter(directory, -1.0)
    for i in range(int((seconds + 1) * 2)):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, :, 0] = (np.arange(320) + 20 * i) % 256
        img[:, :, 1] = 90
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        video.add(i / 2, recording.encode_jpeg(frame))
    video.close()


async def reviewed_interview(client: Any, hr: Api, *, consent: bool = True, email: str = "") -> int:
    """A completed interview with HR's interventions: question 0 answered with a pause and a
    message, question 1 skipped. Without consent: the same, not analysed."""
    iid = (await invite(hr, "Grace", email))[1] if email else (await invite(hr))[1]
    session = await client.app[sessions_key].session_for(iid)
    link, peer = FakeLink(), FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=consent)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE
    t = session.clock()
    words = (Word("large", t, t + 0.4, 1.0), Word("project", t + 0.5, t + 0.9, 1.0),
             Word("schedule", t + 1.0, t + 1.5, 1.0))
    session.on_transcript("large project schedule", True, t, t + 1.5, words)
    for _ in range(10):
        session.on_vision(Sample(), session.clock())
    await hr.call("POST", f"/api/interviews/{iid}/pause", json={"reason": "doorbell"}, expect=200)
    await asyncio.sleep(1.1)
    await hr.call("POST", f"/api/interviews/{iid}/resume", json={}, expect=200)
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "message", "note": "Take your time"},
                  expect=200)
    peer.media()
    await session.drain_writes()
    await session.candidate_next()
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "skip", "note": "out of time"},
                  expect=200)
    for _ in range(50):
        if session.state == State.COMPLETED:
            break
        await asyncio.sleep(0.05)
    assert session.state == State.COMPLETED
    return iid


# --- the page --------------------------------------------------------------------------------

async def test_report_page_shows_scores_evidence_clips_and_recommendation(client: Any, hr: Api, settings: Any) -> None:
    iid = await completed_interview(client, hr, eye_contact_q1=False)
    await page_login(client)
    resp = await client.get(f"/interviews/{iid}/report")
    page = await resp.text()
    assert resp.status == 200, page
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    text = text_of(page)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)

    # Header: who, which job, overall score, percentile sentence, a recommendation marked as such.
    assert "Ada" in text and "Site engineer" in text
    assert f"{report['overall_score']:.0f} overall score" in text
    assert "too few completed interviews for this job to compare" in text
    assert "advice, not a decision" in text
    rec = {"recommend": "Recommend", "second_interview": "Second interview",
           "not_recommended": "Not recommended"}[report["recommendation"]["decision"]]
    assert f"{rec} Why: {report['recommendation']['reason']}." in text

    # The bar chart: one bar per dimension, its width the score (360 px = 100 points).
    chart = re.search(r'<svg class="chart dim-chart".*?</svg>', page, re.S)
    assert chart, "no dimension chart"
    bars = re.findall(r'<rect class="bar" x="210" y="[\d.]+" width="([\d.]+)"', chart.group(0))
    assert [round(float(w) / 3.6, 1) for w in bars] == [d["score"] for d in report["dimensions"]]

    # Evidence: per question score and weight, keyword hits with their words and times, rules.
    pm = next(d for d in report["dimensions"] if d["name"] == "Project management")
    assert f"Project management — {pm['score']:.1f}" in text
    assert re.search(r"Question 1: Tell us about a project\. Score 51\.1 ?, weight 2", text)
    assert "Keywords heard: large project, schedule" in text
    assert "0:00–0:01 “large project”" in text
    assert "Rule fired: keyword_hits:schedule >= 1 -> +10 (value 1)" in text
    assert "Rule fired: eye_contact_ratio >= 0.6 -> +20" in text

    # Per question: signals in words, a small chart, the transcript.
    assert "Speech rate 109 words a minute" in text and "Eye contact 100% of analysed frames" in text
    assert "Eye contact 0% of analysed frames" in text  # question 2 looked away
    assert "Keywords heard large project ×1, schedule ×1, procedure ×1" in text
    assert len(re.findall(r'<svg class="chart signal-chart"', page)) == 2
    # Signals over time: per question a line per signal, a point per 2 s bucket, 0-100 % upwards.
    charts = re.findall(r'<svg class="chart timeline-chart".*?</svg>', page, re.S)
    assert len(charts) == 2
    for chart, q in zip(charts, report["questions"]):
        lines = dict(re.findall(r'<polyline class="series series-(\w+)" data-series="\w+" points="([^"]+)"', chart))
        assert set(lines) == {"eye", "smile", "upright", "face"}
        for key, points in lines.items():
            pts = [tuple(map(float, p.split(","))) for p in points.split()]
            assert len(pts) == len(q["timeline"]) == 3
            assert [y for _, y in pts] == [128 - 120 * b[key] for b in q["timeline"]]
            assert [x for x, _ in pts] == sorted(x for x, _ in pts)
        assert re.search(r'<text class="tick"[^>]*>\d+:\d\d</text>', chart)  # the time axis in mm:ss
    assert "Eye contact Smile Upright posture Face in view" in text  # the legend
    assert "128.0" in re.search(r'series-eye" data-series="eye" points="([^"]+)"', charts[1]).group(1)  # looked away
    assert text.count("large project schedule procedure") >= 2

    # Clips: highlights and concerns with times, question, reason; a video per clip.
    for clip in report["clips"]:
        path = f"/api/interviews/{iid}/clips/{clip['id']}/media"
        assert f'<video controls preload="none" src="{path}" data-clip="{clip["id"]}"' in page
    assert "Concern" in text and "eye contact 0%, far below this candidate's average" in text
    assert "Not seen yet" in text and "✓ Seen" not in text
    # No inline script or style (the CSP forbids them); the config is JSON.
    assert " style=" not in page and "<style" not in page
    for script in re.findall(r"<script([^>]*)>", page):
        assert "src=" in script or 'type="application/json"' in script, script
    # The decision waits for the review.
    assert re.search(r'<button type="submit" class="button" id="decide" disabled', page)
    assert "open the 3 clips not yet seen" in text and "write a note" in text

    # The job's and the candidate's pages link to the report.
    job_page = await (await client.get(f"/jobs/{report['job']['id']}")).text()
    cand_page = await (await client.get(f"/candidates/{report['candidate']['id']}")).text()
    assert f'href="/interviews/{iid}/report"' in job_page and f'href="/interviews/{iid}/report"' in cand_page


async def test_not_completed_unknown_and_invisible(client: Any, hr: Api, store: Any) -> None:
    _, iid = await invite(hr)
    resp = await client.get(f"/interviews/{iid}/report", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    await page_login(client)
    resp = await client.get(f"/interviews/{iid}/report")
    assert resp.status == 409
    assert "The report is ready when the interview is completed (now: Invited)" in text_of(await resp.text())
    for path in ("/interviews/999/report", "/interviews/abc/report", f"/interviews/{2**70}/report"):
        resp = await client.get(path)
        assert resp.status == 404, path
    # Another HR user does not see this job's interviews: 404, not 403.
    await login(client, store, "other@example.com")
    client.session.cookie_jar.clear()
    await page_login(client, "other@example.com")
    resp = await client.get(f"/interviews/{iid}/report")
    assert resp.status == 404 and "not found" in text_of(await resp.text())


async def test_note_form_needs_csrf(client: Any, hr: Api, store: Any) -> None:
    iid = await completed_interview(client, hr)
    csrf = await page_login(client)
    notes = lambda: store.run_sync(lambda db: len(db.exec(select(ReviewNote)).all()))  # noqa: E731
    resp = await client.post(f"/interviews/{iid}/notes", data={"text": "Looks good"}, allow_redirects=False)
    assert resp.status == 403 and "security token" in text_of(await resp.text())
    resp = await client.post(f"/interviews/{iid}/notes", data={"text": "Looks good", "csrf_token": "wrong"},
                             allow_redirects=False)
    assert resp.status == 403 and notes() == 0
    resp = await client.post(f"/interviews/{iid}/notes", data={"text": "   ", "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 422 and "Write something in the note" in text_of(await resp.text())
    resp = await client.post(f"/interviews/{iid}/notes", data={"text": "Clear on <schedule>.\nGood.",
                                                               "csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/interviews/{iid}/report#review"
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert "Clear on &lt;schedule&gt;.\nGood." in page and "hr@example.com" in text_of(page)
    assert notes() == 1
    # A note on an interview that is not completed is refused by the same rule as the API.
    _, live = await invite(hr, "Grace", "grace@example.com")
    resp = await client.post(f"/interviews/{live}/notes", data={"text": "x", "csrf_token": csrf})
    assert resp.status == 409


async def test_decision_refused_until_every_clip_is_open_and_a_note_written(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await completed_interview(client, hr, eye_contact_q1=False)
    record(settings.data_dir, iid)
    csrf = await page_login(client)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    clips = [c["id"] for c in report["clips"]]
    assert len(clips) == 3
    decide = {"decision": "hire", "note": "Strong", "csrf_token": csrf}
    status = lambda: store.run_sync(lambda db: db.get(Candidate, report["candidate"]["id"]).status)  # noqa: E731

    resp = await client.post(f"/interviews/{iid}/decision", data=decide, allow_redirects=False)
    text = text_of(await resp.text())
    assert resp.status == 409
    assert "Not yet: open every key clip first (3 not seen" in text and "Not yet: write a review note first" in text
    assert 'value="hire" required checked' in await resp.text()  # the choice is kept
    assert status() == "invited"
    # Without CSRF nothing is decided either.
    resp = await client.post(f"/interviews/{iid}/decision", data={"decision": "hire"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(f"/interviews/{iid}/decision", data={"decision": "maybe", "csrf_token": csrf})
    assert resp.status == 422 and "Choose a decision" in text_of(await resp.text())

    await client.post(f"/interviews/{iid}/notes", data={"text": "Watched, fine.", "csrf_token": csrf})
    # One clip opened (with the page's session cookie): a real WebM rendered from the recording.
    resp = await client.get(f"/api/interviews/{iid}/clips/{clips[0]}/media")
    body = await resp.read()
    assert resp.status == 200 and body[:4] == b"\x1a\x45\xdf\xa3", resp.headers  # EBML: WebM
    with av.open(str(clip_files.clip_path(recording.recordings_root(settings.data_dir), iid,
                                         report["clips"][0]["start_s"], report["clips"][0]["end_s"]))) as c:
        assert c.streams.video and c.streams.audio
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert page.count("✓ Seen") == 1 and "open the 2 clips not yet seen" in text_of(page)
    assert '<li id="missing-note" hidden>' in page and '<li id="missing-clips">' in page
    resp = await client.post(f"/interviews/{iid}/decision", data=decide, allow_redirects=False)
    assert resp.status == 409 and "(2 not seen" in text_of(await resp.text())
    assert "review note" not in text_of(await resp.text())

    for clip in clips[1:]:
        resp = await client.get(f"/api/interviews/{iid}/clips/{clip}/media", headers={"Range": "bytes=0-99"})
        assert resp.status in (200, 206)
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert page.count("✓ Seen") == 3
    assert re.search(r'id="decide">Record decision', page)  # enabled
    resp = await client.post(f"/interviews/{iid}/decision", data=decide, allow_redirects=False)
    assert resp.status == 303, text_of(await resp.text())
    page = text_of(await (await client.get(f"/interviews/{iid}/report")).text())
    assert "Hire Decided by hr@example.com" in page and "Strong" in page
    assert "The candidate’s status is now Hired" in page and status() == "hired"
    cand = text_of(await (await client.get(f"/candidates/{report['candidate']['id']}")).text())
    assert "Status hired" in cand
    assert store.run_sync(lambda db: len(db.exec(select(ClipView)).all())) == 3
    # A different decision afterwards is a conflict, shown on the page.
    resp = await client.post(f"/interviews/{iid}/decision", data={**decide, "decision": "talent_pool"})
    assert resp.status == 409 and "A decision was already made: hire" in text_of(await resp.text())
    assert store.run_sync(lambda db: [d.decision for d in db.exec(select(Decision)).all()]) == ["hire"]


async def test_interventions_pause_skip_and_human_only(client: Any, hr: Api, store: Any) -> None:
    iid = await reviewed_interview(client, hr)
    await page_login(client)
    text = text_of(await (await client.get(f"/interviews/{iid}/report")).text())
    assert re.search(r"hr@example.com pause 1 doorbell", text), text
    assert "hr@example.com message 1 Take your time" in text and "hr@example.com skip 2 out of time" in text
    assert re.search(r"Paused \d+ s during this answer \(time credited\)", text)
    assert "Skipped — not counted The question was skipped" in text
    assert "No vision timeline for this answer" in text  # the skipped question saw no frames

    # Human-only: said so prominently, no AI scores or clips; a note is all the review needs.
    other = await reviewed_interview(client, hr, consent=False, email="grace@example.com")
    page = await (await client.get(f"/interviews/{other}/report")).text()
    text = text_of(page)
    assert 'id="human-only"' in page and "Human-only review." in text and "no AI scores" in text
    assert "dim-chart" not in page and "<video" not in page and "overall score" not in text
    assert "timeline-chart" not in page and "No vision timeline" not in text
    assert '<li id="missing-clips" hidden>' in page and '<li id="missing-note">' in page
    csrf = csrf_of(page)
    decide = {"decision": "talent_pool", "csrf_token": csrf}
    resp = await client.post(f"/interviews/{other}/decision", data=decide)
    text = text_of(await resp.text())
    assert resp.status == 409 and "The decision was not recorded Not yet: write a review note first" in text
    await client.post(f"/interviews/{other}/notes", data={"text": "Listened to both answers.", "csrf_token": csrf})
    resp = await client.post(f"/interviews/{other}/decision", data=decide, allow_redirects=False)
    assert resp.status == 303
    text = text_of(await (await client.get(f"/interviews/{other}/report")).text())
    assert "The candidate’s status is now In the talent pool" in text



# --- the whole path in Chromium ----------------------------------------------------------------

@pytest.mark.browser
def test_hr_reviews_a_real_interview_in_chromium(browser: Any, launch_browser: Any, tmp_path: Path) -> None:
    """A Chromium candidate answers two questions (real WebRTC, models and recording); HR opens
    the report from the job page, cannot decide until a note is written and every clip played,
    plays each clip, decides, and sees the candidate's new status."""
    from tests.support.media import face_y4m, speech_wav
    from tests.support.server import running_server
    from tests.test_candidate_page import KOREAN_ANSWER, new_page, page_errors, wait_for_models, wait_state
    from tests.test_e2e_interview import admin_login, api, make_interview

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        iid, link = make_interview(server, token)
        detail = api(server, "GET", f"/api/interviews/{iid}", token=token)

        candidate = new_page(launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER)))
        try:
            candidate.goto(f"{link}?raw_audio=1")
            candidate.click("#consent-yes")
            candidate.wait_for_function("() => (window.candor.stream !== null)")
            candidate.click("#join")
            wait_state(candidate, "live", timeout=30_000)
            candidate.wait_for_function("() => (window.candor.captions.length > 0)", timeout=45_000)
            time.sleep(1.0)
            candidate.click("#next")
            candidate.wait_for_function("() => (window.candor.question && window.candor.question.index === 1)",
                                        timeout=20_000)
            candidate.wait_for_function("() => (!document.getElementById('next').disabled)")
            time.sleep(6.0)
            candidate.click("#next")
            wait_state(candidate, "finished", timeout=30_000)
            assert not page_errors(candidate)
        finally:
            candidate.context.close()
        report = api(server, "GET", f"/api/interviews/{iid}/report", token=token)
        clips = [c["id"] for c in report["clips"]]
        assert clips, report  # at least the rule on face presence makes a highlight

        # HR logs in through the page and opens the report from the job's interview list.
        log = server.log()
        email = re.search(r"^\s+email\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
        password = re.search(r"^\s+password\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
        hr = new_page(browser, width=1200, height=1000)
        try:
            hr.goto(f"{server}/login")
            hr.get_by_label("Email").fill(email)
            hr.get_by_label("Password").fill(password)
            hr.get_by_role("button", name="Log in").click()
            hr.wait_for_url(f"{server}/jobs")
            hr.goto(f"{server}/jobs/{detail['job']['id']}")
            hr.get_by_role("link", name="Report").click()
            hr.wait_for_url(f"{server}/interviews/{iid}/report")
            assert "advice, not a decision" in hr.inner_text("#recommendation").lower()
            decide = hr.locator("#decide")
            assert decide.is_disabled()
            missing = hr.inner_text("#review-missing")
            n = len(clips)
            assert f"open the {n} clip{'s' if n != 1 else ''} not yet seen" in missing and "write a note" in missing
            hr.locator("details.dimension summary").first.click()
            hr.screenshot(path=str(shots / "report_before.png"), full_page=True)

            # A note: the page comes back with it; the clips still block the decision.
            hr.get_by_label("Add a note").fill("Answers on schedule and safety were concrete.")
            hr.get_by_role("button", name="Add note").click()
            hr.wait_for_url(re.compile(r"/report#review$"))
            assert "Answers on schedule" in hr.inner_text("#notes")
            assert decide.is_disabled() and hr.locator("#missing-note").is_hidden()
            # Sent anyway (the button bypassed): the server refuses with the reason.
            hr.check("#decision-hire")
            with hr.expect_navigation():
                hr.evaluate("document.getElementById('decision').submit()")
            refusal = hr.inner_text("#error-summary")
            assert "The decision was not recorded" in refusal and "open every key clip first" in refusal
            assert not hr.locator("#decision-made").count()

            # Every clip plays (muted): data loads, time advances, the tick appears.
            for clip in clips:
                video = hr.locator(f'video[data-clip="{clip}"]')
                video.scroll_into_view_if_needed()
                video.evaluate("v => { v.muted = true; return v.play(); }")
                hr.wait_for_function(
                    "id => { const v = document.querySelector(`video[data-clip=\"${id}\"]`);"
                    " return v.readyState >= 2 && (v.currentTime > 0.3 || v.ended); }", arg=clip, timeout=20_000)
                assert hr.inner_text(f'[data-seen-for="{clip}"]') == "✓ Seen"
            hr.screenshot(path=str(shots / "report_clips_seen.png"), full_page=True)
            assert decide.is_enabled() and hr.locator("#review-missing").is_hidden()
            assert hr.locator("#error-summary").is_hidden()  # the refusal no longer applies
            hr.check("#decision-hire")
            hr.get_by_label("Note with the decision (optional)").fill("Offer at level 2.")
            decide.click()
            hr.wait_for_url(re.compile(r"/report#review$"))
            assert "Hire" in hr.inner_text("#decision-made") and hr.inner_text("#decision-status") == "Hired"
            assert hr.inner_text("#candidate-status") == "Hired"
            hr.screenshot(path=str(shots / "report_decided.png"), full_page=True)
            hr.goto(f"{server}/candidates/{detail['candidate']['id']}")
            assert "hired" in hr.inner_text("dl.facts")
            assert not page_errors(hr)
        finally:
            hr.context.close()
