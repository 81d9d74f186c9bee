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
import io
import math
import re
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
    record(settings.data_dir, iid)
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
    q1 = next(e for e in pm["evidence"] if e.get("kind") == "question" and e["question_index"] == 0)
    assert q1["score"] > 0
    assert re.search(rf"Question 1: Tell us about a project\. Score {q1['score']:.1f} ?, weight 2", text)
    assert "Keywords heard: large project, schedule" in text
    assert "0:00–0:01 “large project”" in text
    assert "Rule fired: keyword_hits:schedule >= 1 -> +10 (value 1)" in text
    assert "Rule fired: eye_contact_ratio >= 0.6 -> +20" in text

    # Per question: signals in words, a small chart, the transcript.
    # A four-word answer is too little speech for a rate: no "2000 words a minute".
    assert "Speech rate no data (too little speech to measure)" in text
    assert "Eye contact 100% of analysed frames" in text
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

    # Clips: highlights and concerns with times, question, reason; a video per clip, and per
    # answer its full recording.
    for clip in report["clips"]:
        path = f"/api/interviews/{iid}/clips/{clip['id']}/media"
        assert f'<video controls preload="none" src="{path}" data-clip="{clip["id"]}"' in page
    for q in report["questions"]:
        path = f"/api/interviews/{iid}/questions/{q['index']}/attempts/{q['attempt']}/media"
        assert f'<video controls preload="none" src="{path}" data-clip="answer-{q["index"]}-0"' in page
    assert not re.search(r'class="unplayable" data-unplayable="[^"]+">', page)  # all shown, none unplayable
    assert "Concern" in text and "eye contact 0%, far below this candidate's average" in text
    assert "Not seen yet" in text and "✓ Seen" not in text
    # No inline script or style (the CSP forbids them); the config is JSON.
    assert " style=" not in page and "<style" not in page
    for script in re.findall(r"<script([^>]*)>", page):
        assert "src=" in script or 'type="application/json"' in script, script
    # The decision waits for the review.
    assert re.search(r'<button type="submit" class="button" id="decide" disabled', page)
    assert re.search(r"watch question 1: key clips? .* or its recording \(0:00\u20130:0\d\) "
                     r"watch question 2: key clips? .* or its recording", text), text
    assert "write a note" in text

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


async def test_decision_refused_until_every_answer_is_watched_and_a_note_written(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await completed_interview(client, hr, eye_contact_q1=False)
    record(settings.data_dir, iid)
    csrf = await page_login(client)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    by_q = {q: [c["id"] for c in report["clips"] if c["question_index"] == q] for q in (0, 1)}
    assert len(by_q[0]) == 1 and len(by_q[1]) == 2, by_q
    decide = {"decision": "hire", "note": "Strong", "csrf_token": csrf}
    status = lambda: store.run_sync(lambda db: db.get(Candidate, report["candidate"]["id"]).status)  # noqa: E731
    before = status()

    resp = await client.post(f"/interviews/{iid}/decision", data=decide, allow_redirects=False)
    text = text_of(await resp.text())
    assert resp.status == 409
    assert re.search(r"Not yet: watch every answer first: open its key clips or its full recording \(question 1: "
                     r"key clip 0:0\d\u20130:0\d or its recording \(0:00\u20130:0\d\); question 2: key clips "
                     r"0:0\d\u20130:0\d, 0:0\d\u20130:0\d or its recording", text), text
    assert "Not yet: write a review note first" in text and "c1-" not in text.split("Not yet")[1]
    assert 'value="hire" required checked' in await resp.text()  # the choice is kept
    assert status() == before != "hired"
    # Without CSRF nothing is decided either.
    resp = await client.post(f"/interviews/{iid}/decision", data={"decision": "hire"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(f"/interviews/{iid}/decision", data={"decision": "maybe", "csrf_token": csrf})
    assert resp.status == 422 and "Choose a decision" in text_of(await resp.text())

    await client.post(f"/interviews/{iid}/notes", data={"text": "Watched, fine.", "csrf_token": csrf})
    # Question 1's clip opened (with the page's session cookie): a real WebM from the recording.
    resp = await client.get(f"/api/interviews/{iid}/clips/{by_q[0][0]}/media")
    body = await resp.read()
    assert resp.status == 200 and body[:4] == b"\x1a\x45\xdf\xa3", resp.headers  # EBML: WebM
    first = report["clips"][[c["id"] for c in report["clips"]].index(by_q[0][0])]
    with av.open(io.BytesIO(clip_files.read_media(clip_files.clip_path(  # cached sealed on disk
            recording.recordings_root(settings.data_dir), iid, first["start_s"], first["end_s"])))) as c:
        assert c.streams.video and c.streams.audio
        assert float(c.duration or 0) / 1e6 >= 3.0 - 0.05
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert page.count("✓ Seen") == 1
    assert '<li id="missing-note" hidden>' in page
    assert 'data-missing-answer="0-0"' not in page and 'data-missing-answer="1-0"' in page
    # One of question 2's two clips is not enough.
    await (await client.get(f"/api/interviews/{iid}/clips/{by_q[1][0]}/media")).read()
    resp = await client.post(f"/interviews/{iid}/decision", data=decide, allow_redirects=False)
    refusal = text_of(await resp.text())
    assert resp.status == 409 and "question 2: key clip 0:0" in refusal and "question 1:" not in refusal
    assert "review note" not in refusal

    # Question 2's full recording instead of its other clip.
    resp = await client.get(f"/api/interviews/{iid}/questions/1/attempts/0/media", headers={"Range": "bytes=0-99"})
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
    assert "status hired" in cand.lower()
    assert store.run_sync(lambda db: sorted(v.clip_id for v in db.exec(select(ClipView)).all())) == \
        sorted([by_q[0][0], by_q[1][0], "answer-1-0"])
    # A different decision afterwards is a conflict, shown on the page.
    resp = await client.post(f"/interviews/{iid}/decision", data={**decide, "decision": "talent_pool"})
    assert resp.status == 409 and "A decision was already made: hire" in text_of(await resp.text())
    assert store.run_sync(lambda db: [d.decision for d in db.exec(select(Decision)).all()]) == ["hire"]


async def test_interventions_pause_skip_and_human_only(client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await reviewed_interview(client, hr)
    await page_login(client)
    text = text_of(await (await client.get(f"/interviews/{iid}/report")).text())
    assert re.search(r"hr@example.com pause 1 doorbell", text), text
    assert "hr@example.com message 1 Take your time" in text and "hr@example.com skip 2 out of time" in text
    assert re.search(r"Paused \d+ s during this answer \(time credited\)", text)
    assert "Skipped — not counted The question was skipped" in text
    assert "No vision timeline for this answer" in text  # the skipped question saw no frames

    # Human-only: said so prominently, no AI scores or clips; the answers' recordings are there
    # to play, and the decision waits for them as much as for a note.
    other = await reviewed_interview(client, hr, consent=False, email="grace@example.com")
    record(settings.data_dir, other)
    page = await (await client.get(f"/interviews/{other}/report")).text()
    text = text_of(page)
    assert 'id="human-only"' in page and "Human-only review." in text and "no AI scores" in text
    assert "dim-chart" not in page and "overall score" not in text and 'class="clip ' not in page
    assert "timeline-chart" not in page and "No vision timeline" not in text
    assert f'src="/api/interviews/{other}/questions/0/attempts/0/media" data-clip="answer-0-0"' in page
    assert "No recording to watch: the answer lasted" in text  # question 2, skipped at once
    assert re.search(r"watch question 1: its recording \(0:00\u20130:0\d\) write a note", text), text
    csrf = csrf_of(page)
    decide = {"decision": "talent_pool", "csrf_token": csrf}
    await client.post(f"/interviews/{other}/notes", data={"text": "Listened to both answers.", "csrf_token": csrf})
    resp = await client.post(f"/interviews/{other}/decision", data=decide)
    text = text_of(await resp.text())
    assert resp.status == 409 and re.search(
        r"The decision was not recorded Not yet: watch every answer first: open its key clips or its full "
        r"recording \(question 1: its recording \(0:00\u20130:0\d\)\)", text), text
    resp = await client.get(f"/api/interviews/{other}/questions/0/attempts/0/media")
    assert resp.status == 200 and (await resp.read())[:4] == b"\x1a\x45\xdf\xa3"
    resp = await client.post(f"/interviews/{other}/decision", data=decide, allow_redirects=False)
    assert resp.status == 303
    text = text_of(await (await client.get(f"/interviews/{other}/report")).text())
    assert "The candidate’s status is now In the talent pool" in text


# --- the whole path in Chromium ----------------------------------------------------------------

@pytest.mark.browser
def test_hr_reviews_a_real_interview_in_chromium(browser: Any, launch_browser: Any, tmp_path: Path) -> None:
    """A Chromium candidate answers two questions (real WebRTC, models and recording); HR opens
    the report from the job page, cannot decide until a note is written and every answer
    watched, plays each clip (and the recording of an answer without clips), decides, and sees
    the candidate's new status."""
    from tests.support.media import face_y4m, speech_wav
    from tests.support.server import running_server
    from tests.test_candidate_page import KOREAN_ANSWER, new_page, page_errors, take_two_question_interview, wait_for_models
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
            take_two_question_interview(candidate, link, first_s=1.0, second_s=6.0, until_caption=True)
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
            assert "watch question 1: key clip" in missing and "write a note" in missing, missing
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
            assert "The decision was not recorded" in refusal and "watch every answer first" in refusal
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
            # An answer without key clips: its full recording.
            left = hr.eval_on_selector_all("[data-missing-answer]:not([hidden])",
                                           "els => els.map(e => e.dataset.missingAnswer)")
            for key in left:
                video = hr.locator(f'video[data-clip="answer-{key}"]')
                video.scroll_into_view_if_needed()
                video.evaluate("v => { v.muted = true; return v.play(); }")
                hr.wait_for_function(
                    "id => { const v = document.querySelector(`video[data-clip=\"${id}\"]`);"
                    " return v.readyState >= 2 && (v.currentTime > 0.3 || v.ended); }", arg=f"answer-{key}",
                    timeout=20_000)
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
            assert "hired" in hr.inner_text("dl.facts").lower()
            assert not page_errors(hr)
        finally:
            hr.context.close()


def _completed_by_hand(base: str, data_dir: Path) -> int:
    """A completed interview on a running server, made through the API and then written into
    its database as a live session would have left it: question 1 live 0-10 s with a keyword
    said at 2 s, question 2 live 10-30 s with eye contact gone at 24-26 s; recorded until 12 s
    only (the connection dropped), so question 2's concern clip cannot be played."""
    import json as json_mod
    import urllib.request
    from datetime import datetime, timedelta, timezone

    from conftest import JOB
    from server.store import Store
    from server.tables import QuestionSignals, TranscriptSegment
    from tests.test_browser_hr import EMAIL, PASSWORD as HR_PASSWORD

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    token = ""

    def api(method: str, path: str, body: Any) -> Any:
        req = urllib.request.Request(f"{base}{path}", method=method, data=json_mod.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        with opener.open(req, timeout=30) as resp:
            return json_mod.load(resp)

    token = api("POST", "/api/login", {"email": EMAIL, "password": HR_PASSWORD})["token"]
    job = api("POST", "/api/jobs", JOB)
    dims = [d["id"] for d in job["dimensions"]]
    tpl = api("POST", "/api/templates", {"job_id": job["id"], "name": "T", "questions": [
        {"text": "Tell us about a project.", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
        {"text": "How do you stay safe?", "time_limit_s": 60, "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]})
    cand = api("POST", "/api/candidates", {"name": "Lin", "email": "lin@example.com"})
    inv = api("POST", "/api/invitations", {"template_id": tpl["id"], "candidate_ids": [cand["id"]],
                                           "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    iid = int(inv["invitations"][0]["interview_id"])

    def bucket(t: float, eye: float) -> dict[str, Any]:
        return {"t": t, "face": 1.0, "eye": eye, "smile": 0.5, "upright": 1.0}

    def complete(db: Any) -> None:
        interview = db.get(Interview, iid)
        interview.state, interview.consent, interview.question_index = "completed", True, 1
        interview.started_at = interview.completed_at = datetime.now(timezone.utc)
        db.add(interview)
        vision = {"face_present_ratio": 1.0, "multiple_faces_ratio": 0.0, "upright_ratio": 1.0}
        db.add(QuestionSignals(interview_id=iid, question_index=0, signals={**vision, "eye_contact_ratio": 0.9},
                               timeline=[bucket(t, 0.9) for t in range(0, 10, 2)], live_start_s=0.0, live_end_s=10.0))
        db.add(QuestionSignals(interview_id=iid, question_index=1, signals={**vision, "eye_contact_ratio": 0.2},
                               timeline=[bucket(t, 0.0 if t == 24 else 0.8) for t in range(10, 30, 2)],
                               live_start_s=10.0, live_end_s=30.0))
        words = [{"word": w, "start_s": a, "end_s": a + 0.4, "conf": 1.0}
                 for w, a in (("a", 1.5), ("large", 2.0), ("project", 2.5), ("on", 3.0), ("schedule", 3.5))]
        db.add(TranscriptSegment(interview_id=iid, question_index=0, text="a large project on schedule",
                                 start_s=1.5, end_s=3.9, words=words))

    store = Store(f"sqlite:///{data_dir / 'candor.sqlite3'}")
    try:
        store.run_sync(complete)
    finally:
        store.close()
    record(data_dir, iid, seconds=12.0)
    return iid


@pytest.mark.browser
def test_hr_acknowledges_an_unplayable_clip_and_plays_a_recording_in_chromium(browser: Any, tmp_path: Path) -> None:
    """The report page's review parts in Chromium: a concern clip that cannot be played shows
    why and is acknowledged with its button; an answer's full recording plays and is ticked;
    the decision button enables itself once every answer is watched and a note written."""
    from tests.support.server import running_server
    from tests.test_browser_hr import EMAIL, PASSWORD as HR_PASSWORD, add_hr_user
    from tests.test_candidate_page import new_page, page_errors

    add_hr_user(tmp_path / "server-data")
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as server:
        iid = _completed_by_hand(server, server.data_dir)
        hr = new_page(browser, width=1200, height=1000)
        try:
            hr.goto(f"{server}/login?next=/interviews/{iid}/report")
            hr.get_by_label("Email").fill(EMAIL)
            hr.get_by_label("Password").fill(HR_PASSWORD)
            hr.get_by_role("button", name="Log in").click()
            hr.wait_for_url(f"{server}/interviews/{iid}/report")
            decide = hr.locator("#decide")
            assert decide.is_disabled()
            missing = hr.inner_text("#review-missing")
            assert "watch question 1: key clip 0:00\u20130:06 or its recording (0:00\u20130:10)" in missing, missing
            assert "watch question 2: key clip 0:23\u20130:27 or its recording (0:10\u20130:30)" in missing, missing

            # The concern is centred on the drop (24-26 s), which was not recorded: it says why.
            concern = hr.locator("li.clip-concern")
            assert "0:23\u20130:27" in concern.inner_text()
            assert not concern.locator("video").count()
            reason = concern.locator(".unplayable").inner_text()
            assert "nothing was recorded at 0:23\u20130:27: the recording covers 0:00\u20130:12" in reason, reason
            with hr.expect_navigation():
                concern.get_by_role("button", name="Acknowledge: count it as seen").click()
            concern = hr.locator("li.clip-concern")
            assert "\u2713 Acknowledged" in concern.inner_text()
            assert not concern.get_by_role("button").count()
            assert hr.locator('[data-missing-answer="1-0"]').count() == 0
            assert decide.is_disabled()

            hr.get_by_label("Add a note").fill("Question 2's clip was not recorded; the start of it is fine.")
            hr.get_by_role("button", name="Add note").click()
            hr.wait_for_url(re.compile(r"/report#review$"))
            assert decide.is_disabled() and hr.locator("#missing-note").is_hidden()

            # Question 1's full recording plays (muted): ticked, and the decision is open.
            video = hr.locator('video[data-clip="answer-0-0"]')
            video.scroll_into_view_if_needed()
            video.evaluate("v => { v.muted = true; return v.play(); }")
            hr.wait_for_function(
                "() => { const v = document.querySelector('video[data-clip=\"answer-0-0\"]');"
                " return v.readyState >= 2 && (v.currentTime > 0.3 || v.ended); }", timeout=20_000)
            assert hr.inner_text('[data-seen-for="answer-0-0"]') == "\u2713 Seen"
            assert hr.evaluate("() => document.querySelector('video[data-clip=\"answer-0-0\"]').duration") == \
                pytest.approx(10.0, abs=0.2)
            assert decide.is_enabled() and hr.locator("#review-missing").is_hidden()
            hr.screenshot(path=str(tmp_path / "report_acknowledged.png"), full_page=True)
            hr.check("#decision-talent_pool")
            decide.click()
            hr.wait_for_url(re.compile(r"/report#review$"))
            assert "Talent pool" in hr.inner_text("#decision-made")
            assert not page_errors(hr)
        finally:
            hr.context.close()
