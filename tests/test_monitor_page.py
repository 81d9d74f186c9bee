"""HR's live monitoring panel (/monitor) in real headless Chromium against the real server.

What a test can rely on (static/monitor.js, server/templates/hr_monitor.html):

- ``#feed-status[data-state]``: connecting | open | reconnecting. ``#monitor[data-loaded]`` is
  "true" after the first snapshot; ``#mon-empty`` ("No live interviews right now") shows when
  there is no card.
- ``#mon-cards`` holds one ``article.mon-card#interview-{id}[data-interview-id][data-state]`` per
  interview, sorted interrupted, live, paused, connecting...; finished ones get ``.mon-finished``
  and leave after ``finished_linger_s`` (``?linger=N`` overrides).
- Parts (``[data-part=...]``): candidate, job, state (the badge), reason, alert (shown when
  interrupted), question ("Question i of n"), answered ("a/n answered"), question-text, time
  ("m:ss / m:ss"), time-bar (role=progressbar), transcript (``li.mon-line-final``), partial,
  keywords, scores (``li[data-dimension-id]`` with ``.mon-score-value``, ``.mon-bar-fill``,
  ``svg.mon-spark polyline``), no-scores, thumb (img), thumb-placeholder, error (role=alert),
  done (role=status), interventions (``li[data-action]``), intervention-count. Signals:
  ``[data-signal=eye_contact_ratio|smile_ratio|upright_ratio|face_present_ratio|speech_rate_wpm|
  word_count]``; connection: ``[data-conn=link|bitrate|loss|frames|audio|video|asr]``, ``.mon-bad``
  when unhealthy (media not seen for more than 3 s...).
- Buttons ``button[data-action=pause|resume|message|extend|skip|redo|end]``; they open
  ``#action-dialog`` (``#action-note``, ``#action-seconds``, ``#action-submit``,
  ``#action-cancel``, ``#action-error``); Resume posts at once.
- ``#mon-announcer`` (aria-live polite) says state changes.
- ``window.candorMonitor``: ``stats`` (events, snapshots, renders, cardRenders, connects, closes, retries,
  feed), ``ids()`` (card order), ``card(id)`` (the model), ``socket()``.

The scripted tests answer the page's websocket from the test (Playwright's
``page.route_web_socket``) and its API calls with ``page.route``; the last test runs a real
interview (Chromium candidate with fake camera and microphone) and HR pauses and resumes it.
"""
from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.support.media import face_y4m, speech_wav
from tests.support.server import RunningServer, running_server
from tests.test_browser_hr import EMAIL, PASSWORD, add_hr_user
from tests.test_candidate_page import (  # noqa: F401  (screenshots is a fixture)
    KOREAN_ANSWER, SERVER_ENV, new_page, page_errors, screenshots, seed_demo, wait_for_models, wait_state,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocketRoute

pytestmark = pytest.mark.browser


def log_in(context: BrowserContext, base: str, email: str = EMAIL, password: str = PASSWORD) -> None:
    """Log in through the login page (the session cookie then belongs to the context)."""
    page = context.new_page()
    page.goto(f"{base}/login?next=/monitor")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/monitor")
    page.close()


@pytest.fixture(scope="module")
def hr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server (no models) with an HR user, for the scripted tests."""
    tmp = tmp_path_factory.mktemp("monitor-page")
    add_hr_user(tmp / "server-data")
    with running_server(tmp, env=SERVER_ENV) as server:
        yield server


class Feed:
    """The page's /ws/monitor, answered by the test."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[WebSocketRoute] = []
        self.seq = itertools.count(1)
        page.route_web_socket(re.compile(r"/ws/monitor$"), lambda ws: self.routes.append(ws))

    def wait(self, count: int = 1) -> WebSocketRoute:
        deadline = time.monotonic() + 10
        while len(self.routes) < count:
            assert time.monotonic() < deadline, f"the page opened {len(self.routes)} sockets, not {count}"
            self.page.wait_for_timeout(20)
        return self.routes[count - 1]

    def send(self, message: dict[str, Any]) -> None:
        self.routes[-1].send(json.dumps(message))

    def event(self, kind: str, interview_id: int, **fields: Any) -> None:
        self.send({"type": kind, "interview_id": interview_id, "ts": time.time(), "seq": next(self.seq), **fields})


def monitor_page(browser: Browser, server: str, query: str = "", width: int = 1300) -> tuple[Page, Feed, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(10_000)
    log_in(context, server)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    feed = Feed(page)
    # Thumbnails: none yet for every interview (the server answers 404 until a frame arrives).
    page.route(re.compile(r"/thumbnail\.jpg"), lambda r: r.fulfill(status=404, json={"error": "no picture yet"}))
    page.goto(f"{server}/monitor{query}")
    feed.wait()
    return page, feed, console


def card(page: Page, interview_id: int) -> Any:
    return page.locator(f"#interview-{interview_id}")


def part(page: Page, interview_id: int, name: str) -> str:
    return page.locator(f"#interview-{interview_id} [data-part='{name}']").inner_text()


def csp_problems(console: list[str]) -> list[str]:
    return [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")]


def live_interview(interview_id: int, candidate: str, state: str = "live", **extra: Any) -> dict[str, Any]:
    return {
        "interview_id": interview_id, "job_id": 1, "job_title": "Site engineer", "candidate": candidate,
        "state": state, "reason": "media connected", "consent": True, "question_index": 0,
        "question_count": 3, "answered": 0, "elapsed_s": 10.0, "time_limit_s": 60.0,
        "question_text": "Tell us about a project.", "transcript": [], "partial": None, "signals": None,
        "scores": None, "connection": None, "interventions": [], **extra,
    }


def test_snapshot_and_events_draw_the_cards(browser: Browser, hr_server: RunningServer, screenshots: Path) -> None:  # noqa: F811
    page, feed, console = monitor_page(browser, hr_server)
    try:
        page.wait_for_function("() => document.getElementById('feed-status').dataset.state === 'open'")
        nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Live")
        assert nav.get_attribute("aria-current") == "page"
        config = json.loads(page.inner_text("#monitor-config"))
        assert config["csrf_token"]

        feed.send({"type": "snapshot", "interviews": [
            live_interview(11, "Ada Lovelace", transcript=[
                {"question_index": 0, "text": f"final line {i}", "final": True, "start_s": i, "end_s": i + 1}
                for i in range(7)], partial="and then",
                signals={"question_index": 0, "eye_contact_ratio": 0.72, "smile_ratio": 0.1, "upright_ratio": 0.9,
                         "face_present_ratio": 1.0, "speech_rate_wpm": 131.4, "word_count": 54,
                         "keyword_hits:schedule": 2, "keyword_hits:procedure": 0},
                scores=[{"dimension_id": 1, "name": "Project management", "score": 40},
                        {"dimension_id": 2, "name": "Safety", "score": 65}],
                connection={"peer_state": "connected", "ice_state": "completed", "frames_received": 300,
                            "frames_analysed": 80, "frames_dropped": 12, "audio_seconds": 42.0,
                            "last_audio_s_ago": 0.1, "last_video_s_ago": 0.2, "bitrate_kbps": 812.0,
                            "packet_loss": 0.004, "packets_lost": 3, "video_size": "640x480",
                            "asr_rtf": 0.21, "asr_lag_s": 0.4},
                interventions=[{"action": "message", "note": "Please speak up", "seconds": None,
                                "user": "hr@x.example", "ts": time.time() - 30}]),
            live_interview(12, "Bob Builder", state="interrupted", reason="no audio or video for 6 s",
                           interrupted_for_s=12.0),
            live_interview(13, "Chen Wei", state="paused", reason="HR paused"),
            live_interview(14, "Done Already", state="completed"),
        ]})
        page.wait_for_function("() => window.candorMonitor.ids().length === 3")
        assert page.locator("#mon-empty").is_hidden()
        # Interrupted first, then live, then paused; the finished one is not shown.
        assert page.evaluate("window.candorMonitor.ids()") == [12, 11, 13]

        # The interrupted interview says so loudly, with the reason and for how long.
        bob = card(page, 12)
        assert bob.get_attribute("data-state") == "interrupted"
        alert = bob.locator("[data-part=alert]")
        assert alert.is_visible()
        assert re.match(r"Connection lost 0:1\d ago: no audio or video for 6 s", alert.inner_text()), alert.inner_text()
        assert part(page, 12, "state") == "Connection lost"

        # Ada's card: header, progress, transcript (last 5 finals, partial), signals, scores,
        # connection, interventions.
        assert part(page, 11, "candidate") == "Ada Lovelace"
        assert part(page, 11, "job") == "Site engineer"
        assert part(page, 11, "state") == "Live now"
        assert part(page, 11, "question") == "Question 1 of 3"
        assert part(page, 11, "answered") == "0/3 answered"
        assert part(page, 11, "question-text") == "Tell us about a project."
        lines = card(page, 11).locator(".mon-line-final:not([hidden])").all_inner_texts()
        assert lines == [f"final line {i}" for i in range(2, 7)]
        assert part(page, 11, "partial") == "and then"
        sig = lambda name: card(page, 11).locator(f"[data-signal={name}]").inner_text()  # noqa: E731
        assert (sig("eye_contact_ratio"), sig("smile_ratio"), sig("upright_ratio"), sig("face_present_ratio"),
                sig("speech_rate_wpm"), sig("word_count")) == ("72%", "10%", "90%", "100%", "131 wpm", "54")
        assert part(page, 11, "keywords") == "schedule ×2"
        safety = card(page, 11).locator("[data-part=scores] li[data-dimension-id='2']")
        assert safety.locator(".mon-score-value").inner_text() == "65"
        assert "Safety" in safety.inner_text()
        conn = lambda name: card(page, 11).locator(f"[data-conn={name}]")  # noqa: E731
        assert conn("bitrate").inner_text() == "812 kbps"
        assert conn("loss").inner_text() == "0.4% (3 lost)"
        assert conn("frames").inner_text() == "80 analysed of 300 received · 12 skipped by design"
        assert conn("video").inner_text().endswith("640×480")
        assert "mon-bad" not in (conn("audio").get_attribute("class") or "")
        assert part(page, 11, "intervention-count") == "1"
        assert "Please speak up" in (card(page, 11).locator("[data-part=interventions]").text_content() or "")
        assert part(page, 11, "intervention-latest") == "latest: Message “Please speak up”"
        # Paused: the Resume button instead of Pause.
        assert card(page, 13).locator("button[data-action=resume]").is_visible()
        assert card(page, 13).locator("button[data-action=pause]").is_hidden()

        # Events update the card.
        feed.event("progress", 11, question_index=1, question_count=3, answered=1, elapsed_s=3.0,
                   time_limit_s=90.0, question_text="How do you stay safe?")
        page.wait_for_function("() => document.querySelector('#interview-11 [data-part=question]').textContent === 'Question 2 of 3'")
        assert part(page, 11, "answered") == "1/3 answered"
        assert part(page, 11, "question-text") == "How do you stay safe?"
        # While live, the time used counts on between updates.
        page.wait_for_function("() => document.querySelector('#interview-11 [data-part=time]').textContent.startsWith('0:05 / 1:30')", timeout=4000)
        feed.event("transcript", 11, question_index=1, text="I always", final=False, start_s=50.0, end_s=None)
        page.wait_for_function("() => document.querySelector('#interview-11 [data-part=partial]').textContent === 'I always'")
        feed.event("transcript", 11, question_index=1, text="I always follow the procedure", final=True,
                   start_s=50.0, end_s=52.5)
        page.wait_for_function("() => document.querySelector('#interview-11 [data-part=partial]').textContent === ''")
        assert card(page, 11).locator(".mon-line-final:not([hidden])").all_inner_texts()[-1] == "I always follow the procedure"
        feed.event("signals", 11, question_index=1, final=False, signals={
            "eye_contact_ratio": 0.5, "smile_ratio": 0.25, "upright_ratio": 0.8, "face_present_ratio": 0.98,
            "speech_rate_wpm": 110, "word_count": 5, "keyword_hits:procedure": 1})
        page.wait_for_function("() => document.querySelector('#interview-11 [data-signal=eye_contact_ratio]').textContent === '50%'")
        assert part(page, 11, "keywords") == "procedure ×1"
        page.wait_for_timeout(1000)  # a second later: a new point on the sparkline
        feed.event("scores", 11, scores=[{"dimension_id": 1, "name": "Project management", "score": 40},
                                         {"dimension_id": 2, "name": "Safety", "score": 75}])
        page.wait_for_function("() => document.querySelector('#interview-11 li[data-dimension-id=\"2\"] .mon-score-value').textContent === '75'")
        assert page.evaluate("window.candorMonitor.card(11).history[2]") == [65, 75]
        points = safety.locator("polyline").get_attribute("points") or ""
        assert len(points.split()) == 2
        feed.event("connection", 11, peer_state="connected", ice_state="completed", frames_received=330,
                   frames_analysed=90, frames_dropped=12, audio_seconds=44.0, last_audio_s_ago=0.3,
                   last_video_s_ago=4.2, bitrate_kbps=640.0, packet_loss=0.0, packets_lost=3,
                   video_size="640x480", asr_rtf=0.2, asr_lag_s=0.3)
        expect(conn("frames")).to_have_text("90 analysed of 330 received · 12 skipped by design")
        expect(conn("video")).to_have_class(re.compile("mon-bad"))  # not seen for more than 3 s
        # From the second timed report on, the analysed rate between the two.
        page.wait_for_timeout(500)
        feed.event("connection", 11, peer_state="connected", ice_state="completed", frames_received=345,
                   frames_analysed=93, frames_dropped=12, audio_seconds=45.0, last_audio_s_ago=0.3,
                   last_video_s_ago=4.7, bitrate_kbps=640.0, packet_loss=0.0, packets_lost=3,
                   video_size="640x480", asr_rtf=0.2, asr_lag_s=0.3)
        expect(conn("frames")).to_have_text(re.compile(r"^93 analysed of 345 received \(\d+\.\d/s\) · 12 skipped by design$"))
        assert "mon-bad" not in (conn("audio").get_attribute("class") or "")
        feed.event("intervention", 11, action="extend", note="slow start", seconds=60, user="hr@x.example",
                   question_index=1)
        page.wait_for_function("() => document.querySelector('#interview-11 [data-part=intervention-count]').textContent === '2'")
        assert "Extended by 60 s" in (card(page, 11).locator("[data-part=interventions] li").first.text_content() or "")
        assert part(page, 11, "intervention-latest") == "latest: Extended by 60 s “slow start”"
        page.screenshot(path=str(screenshots / "monitor-cards.png"), full_page=True)

        # Ada's media is lost: her card moves to the top, is announced, and shows how long ago.
        feed.event("state", 11, state="interrupted", previous="live", reason="connection lost (ICE failed)")
        page.wait_for_function("() => window.candorMonitor.ids()[0] === 11 || window.candorMonitor.ids()[1] === 11")
        assert page.evaluate("window.candorMonitor.ids()")[:2] in ([11, 12], [12, 11])
        page.wait_for_function("() => document.getElementById('mon-announcer').textContent.includes('Ada Lovelace: Connection lost')")
        assert page.get_attribute("#mon-announcer", "aria-live") == "polite"
        assert "connection lost (ICE failed)" in card(page, 11).locator("[data-part=alert]").inner_text()
        feed.event("state", 11, state="live", previous="interrupted", reason="media back")
        page.wait_for_function("() => document.querySelector('#interview-11').dataset.state === 'live'")
        assert card(page, 11).locator("[data-part=alert]").is_hidden()

        # An interview we never heard of: its header comes from the API.
        page.route(re.compile(r"/api/interviews/20$"), lambda r: r.fulfill(json={
            "id": 20, "state": "connecting", "question_index": 0, "question_count": 4, "consent": False,
            "job": {"id": 1, "title": "Site engineer"}, "candidate": {"id": 5, "name": "Dana Scully"}}))
        feed.event("state", 20, state="connecting", previous="consented", reason="waiting for camera and microphone")
        page.wait_for_function("() => document.querySelector('#interview-20 [data-part=candidate]')?.textContent === 'Dana Scully'")
        assert part(page, 20, "answered") == "0/4 answered"
        assert card(page, 20).locator("[data-part=human]").is_visible()
        # Human-only review: no signals or scores are shown (nothing is analysed, not "0 wpm").
        assert card(page, 20).locator("[data-signal=speech_rate_wpm]").is_hidden()
        assert card(page, 20).locator("[data-part=no-scores]").is_hidden()
        assert card(page, 11).locator("[data-signal=speech_rate_wpm]").is_visible()
        # No picture yet: a placeholder.
        assert card(page, 11).locator("[data-part=thumb-placeholder]").is_visible()
        assert card(page, 11).locator("img[data-part=thumb]").is_hidden()

        # The interview ends: the card fades and stays for a while.
        feed.event("state", 13, state="completed", previous="paused", reason="ended by HR")
        page.wait_for_function("() => document.querySelector('#interview-13').classList.contains('mon-finished')")
        page.wait_for_function("() => window.candorMonitor.ids().at(-1) === 13")  # finished ones go last
        assert card(page, 13).locator("button[data-action=end]").is_disabled()
        # A completed card leads to its report; a live one has no such link.
        report = card(page, 13).get_by_role("link", name="Open the report")
        assert report.is_visible() and report.get_attribute("href") == "/interviews/13/report"
        assert card(page, 11).get_by_role("link", name="Open the report").count() == 0 or \
            card(page, 11).get_by_role("link", name="Open the report").is_hidden()
        # Times in the intervention log are 24-hour, in the viewer's zone like the rest of the HR pages.
        when = card(page, 11).locator("[data-part=interventions] li span").first.text_content() or ""
        assert re.match(r"^\d\d:\d\d:\d\d (UTC|GMT[+-]\d+) · hr@x\.example$", when), when
        page.screenshot(path=str(screenshots / "monitor-events.png"), full_page=True)
        assert not csp_problems(console), console
    finally:
        page.context.close()


def test_controls_post_with_the_csrf_token_and_show_errors(browser: Browser, hr_server: RunningServer, screenshots: Path) -> None:  # noqa: F811
    page, feed, console = monitor_page(browser, hr_server)
    try:
        feed.send({"type": "snapshot", "interviews": [live_interview(31, "Ada Lovelace")]})
        page.wait_for_function("() => window.candorMonitor.ids().length === 1")
        csrf = json.loads(page.inner_text("#monitor-config"))["csrf_token"]
        posts: list[tuple[str, dict[str, str], Any]] = []
        answers: dict[str, tuple[int, dict[str, Any]]] = {
            "pause": (200, {"state": "paused"}),
            "resume": (200, {"state": "live"}),
            "intervene": (409, {"error": "there is no question to skip now"}),
        }

        def api(route: Route) -> None:
            request = route.request
            action = request.url.rsplit("/", 1)[1]
            posts.append((action, request.headers, json.loads(request.post_data or "null")))
            status, body = answers[action]
            route.fulfill(status=status, json=body)

        page.route(re.compile(r"/api/interviews/31/(pause|resume|intervene)$"), api)
        ada = card(page, 31)

        # Pause asks for a (optional) reason, then posts it with the CSRF header.
        ada.get_by_role("button", name="Pause (Ada Lovelace)").click()
        dialog = page.locator("#action-dialog")
        assert dialog.is_visible()
        assert page.inner_text("#action-title") == "Pause the interview"
        assert page.evaluate("document.activeElement.id") == "action-note"
        page.fill("#action-note", "checking the audio")
        page.screenshot(path=str(screenshots / "monitor-pause-dialog.png"))
        page.click("#action-submit")
        page.wait_for_function("() => document.querySelector('#interview-31').dataset.state === 'paused'")
        assert dialog.is_hidden()
        action, headers, body = posts[-1]
        assert action == "pause" and body == {"reason": "checking the audio"}
        assert headers["x-csrf-token"] == csrf
        assert headers["content-type"] == "application/json"
        expect(ada.locator("[data-part=done]")).to_have_text("Paused.")
        # Now Resume, which posts at once, with an empty body.
        resume = ada.locator("button[data-action=resume]")
        expect(resume).to_be_visible()
        expect(ada.locator("button[data-action=pause]")).to_be_hidden()
        resume.click()
        page.wait_for_function("() => document.querySelector('#interview-31').dataset.state === 'live'")
        assert posts[-1][0] == "resume" and posts[-1][2] == {} and posts[-1][1]["x-csrf-token"] == csrf
        expect(ada.locator("[data-part=done]")).to_have_text("Resumed.")

        # Skip needs a reason: without one nothing is sent.
        count = len(posts)
        ada.locator("button[data-action=skip]").click()
        page.click("#action-submit")
        assert page.inner_text("#action-error") == "Reason is required."
        assert page.get_attribute("#action-note", "aria-invalid") == "true"
        assert len(posts) == count
        # With a reason: the server refuses, and the page says why (dialog and card).
        page.fill("#action-note", "candidate asked")
        page.click("#action-submit")
        page.wait_for_selector("#action-error:has-text('there is no question to skip now')")
        assert posts[-1][2] == {"action": "skip", "note": "candidate asked"}
        error = ada.locator("[data-part=error]")
        expect(error).to_contain_text("Could not skip: there is no question to skip now")
        expect(error).to_be_visible()
        assert error.get_attribute("role") == "alert"
        page.screenshot(path=str(screenshots / "monitor-error.png"))
        page.click("#action-cancel")
        assert dialog.is_hidden()
        # Focus goes back to the button that opened the dialog.
        assert page.evaluate("document.activeElement.dataset.action") == "skip"

        # Extend asks for seconds (60 by default); Message sends its text as the note.
        answers["intervene"] = (200, {"state": "live"})
        ada.locator("button[data-action=extend]").click()
        assert page.locator("#action-seconds").is_visible()
        assert page.input_value("#action-seconds") == "60"
        page.fill("#action-seconds", "90")
        page.click("#action-submit")
        page.wait_for_function("() => document.getElementById('action-dialog').open === false")
        assert posts[-1][2] == {"action": "extend", "seconds": 90}
        expect(ada.locator("[data-part=error]")).to_be_hidden()
        ada.locator("button[data-action=message]").click()
        assert page.locator("#action-seconds").is_hidden()
        page.fill("#action-note", "Please move closer to the microphone.")
        page.click("#action-submit")
        page.wait_for_function("() => document.getElementById('action-dialog').open === false")
        assert posts[-1][2] == {"action": "message", "note": "Please move closer to the microphone."}
        ada.locator("button[data-action=redo]").click()
        page.fill("#action-note", "the answer was cut off")
        page.click("#action-submit")
        page.wait_for_function("() => document.getElementById('action-dialog').open === false")
        assert posts[-1][2] == {"action": "redo", "note": "the answer was cut off"}

        # Keyboard: the buttons are reachable and visibly focused.
        ada.locator("button[data-action=extend]").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.action") == "skip"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

        # End asks for confirmation (and a reason); Escape cancels without a request.
        count = len(posts)
        ada.locator("button[data-action=end]").click()
        assert page.inner_text("#action-title") == "End this interview now?"
        assert "cannot be undone" in page.inner_text("#action-help")
        assert page.inner_text("#action-submit") == "End interview"
        page.screenshot(path=str(screenshots / "monitor-end-dialog.png"))
        page.keyboard.press("Escape")
        assert dialog.is_hidden() and len(posts) == count
        answers["intervene"] = (200, {"state": "completed"})
        ada.locator("button[data-action=end]").click()
        page.fill("#action-note", "candidate left the room")
        page.click("#action-submit")
        page.wait_for_function("() => document.querySelector('#interview-31').classList.contains('mon-finished')")
        assert posts[-1][2] == {"action": "end", "note": "candidate left the room"}

        assert not csp_problems(console), console
    finally:
        page.context.close()


def test_media_that_does_not_connect_is_a_warning_on_the_card(browser: Browser, hr_server: RunningServer) -> None:  # noqa: F811
    page, feed, console = monitor_page(browser, hr_server)
    try:
        page.route(re.compile(r"/thumbnail\.jpg"), lambda r: r.fulfill(status=404, json={"error": "no picture yet"}))
        feed.send({"type": "snapshot", "interviews": [
            live_interview(41, "Ada Lovelace", state="connecting", reason="waiting for camera and microphone"),
            live_interview(42, "Bob Builder", state="consented", code="connect_timeout",
                           reason="camera and microphone could not connect"),
        ]})
        page.wait_for_function("() => window.candorMonitor.ids().length === 2")
        bob = card(page, 42).locator("[data-part=alert]")
        expect(bob).to_be_visible()
        assert "could not connect" in bob.inner_text() and "mon-alert-warn" in (bob.get_attribute("class") or "")
        assert "(camera and microphone could not connect)" in bob.inner_text()  # the server's reason
        # Connecting since 20 s (the state event's time): a warning with what it may mean.
        feed.event("state", 41, state="connecting", previous="consented", reason="waiting", code="offer")
        ada = card(page, 41).locator("[data-part=alert]")
        assert ada.is_hidden()
        feed.send({"type": "state", "interview_id": 43, "state": "connecting", "previous": "consented",
                   "reason": "waiting", "ts": time.time() - 20, "seq": 999})
        late = card(page, 43).locator("[data-part=alert]")
        expect(late).to_have_text(re.compile(r"^Camera and microphone not connected after 0:2\d"))
        assert "mon-alert-warn" in (late.get_attribute("class") or "")
        # The badge of a connecting interview is not green like a live one.
        colour = page.evaluate("getComputedStyle(document.querySelector('#interview-43 [data-part=state]')).color")
        live_colour = page.evaluate("getComputedStyle(document.querySelector('.state-live') || document.body).color")
        assert colour != "rgb(30, 123, 52)", (colour, live_colour)
        # No thumbnail is asked for before any video arrived (each ask would be a 404).
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if "thumbnail" in r.url else None)
        page.wait_for_timeout(2500)
        assert requests == [], requests
        assert not csp_problems(console), console
    finally:
        page.context.close()


def test_reconnects_after_too_slow_and_takes_a_fresh_snapshot(browser: Browser, hr_server: RunningServer, screenshots: Path) -> None:  # noqa: F811
    page, feed, console = monitor_page(browser, hr_server, query="?linger=1")
    try:
        # Before the first snapshot: no empty-state claim yet.
        assert page.locator("#mon-empty").is_hidden()
        feed.send({"type": "snapshot", "interviews": [live_interview(41, "Ada Lovelace"),
                                                      live_interview(42, "Bob Builder")]})
        page.wait_for_function("() => window.candorMonitor.ids().length === 2")
        feed.routes[-1].close(code=1013, reason="too slow: reconnect")
        feed.wait(2)  # reconnected (quickly: 1013 means "catch up", not "go away")
        assert page.evaluate("window.candorMonitor.stats.closes[0].code") == 1013
        retry = page.evaluate("window.candorMonitor.stats.retries[0]")
        assert retry["code"] == 1013 and retry["delay"] <= 400 and "fell behind" in retry["text"]
        assert page.locator("#mon-analyzers").is_hidden()  # every analyser was ready
        # The fresh snapshot is the truth: Bob is gone, Ada's state is new; and the speech model
        # is down (vision still runs), which HR is told in words.
        feed.send({"type": "snapshot", "interviews": [live_interview(41, "Ada Lovelace", state="paused")],
                   "analyzers": {"vision": {"status": "ready"},
                                 "speech": {"ko": {"status": "failed", "errors": ["missing"]}}}})
        expect(card(page, 41)).to_have_attribute("data-state", "paused")
        expect(page.locator("#mon-analyzers")).to_contain_text('Speech recognition for "ko" is off')
        assert "Video analysis" not in page.inner_text("#mon-analyzers")
        assert page.evaluate("window.candorMonitor.ids()") == [41]
        assert page.evaluate("window.candorMonitor.stats.connects") == 2
        # Ada finishes; with ?linger=1 her card leaves after a second; then the empty state.
        feed.event("state", 41, state="completed", previous="paused", reason="all questions done")
        page.wait_for_function("() => window.candorMonitor.ids().length === 0", timeout=5000)
        assert page.locator("#mon-empty").is_visible()
        assert "No live interviews right now" in page.inner_text("#mon-empty")
        page.screenshot(path=str(screenshots / "monitor-empty.png"), full_page=True)
        # session opened with a description: a card at once.
        feed.event("session", 43, event="opened", interview=live_interview(43, "Chen Wei", state="consented"))
        page.wait_for_function("() => document.querySelector('#interview-43 [data-part=candidate]')?.textContent === 'Chen Wei'")
        assert page.evaluate("window.candorMonitor.ids()") == [43]
        feed.event("session", 43, event="closed", state="abandoned")
        page.wait_for_function("() => window.candorMonitor.ids().length === 0", timeout=5000)
        assert not csp_problems(console), console
    finally:
        page.context.close()


def test_ten_busy_interviews_stay_responsive(browser: Browser, hr_server: RunningServer, screenshots: Path) -> None:  # noqa: F811
    page, feed, console = monitor_page(browser, hr_server, width=1400)
    try:
        ids = list(range(101, 111))
        feed.send({"type": "snapshot", "interviews": [live_interview(i, f"Candidate {i}") for i in ids]})
        page.wait_for_function("() => window.candorMonitor.ids().length === 10")
        before = page.evaluate("({...window.candorMonitor.stats})")
        # About 5 events a second for each of 10 interviews, for 3 seconds (in bursts of 10).
        sent = 0
        started = time.monotonic()
        for tick in range(30):
            for n, i in enumerate(ids):
                kind = ("transcript", "signals", "scores", "progress", "connection")[(tick + n) % 5]
                if kind == "transcript":
                    feed.event(kind, i, question_index=0, text=f"words {tick}", final=tick % 3 == 0, start_s=tick, end_s=tick + 1)
                elif kind == "signals":
                    feed.event(kind, i, question_index=0, final=False, signals={"eye_contact_ratio": tick / 100})
                elif kind == "scores":
                    feed.event(kind, i, scores=[{"dimension_id": 1, "name": "Safety", "score": tick}])
                elif kind == "progress":
                    feed.event(kind, i, question_index=0, question_count=3, answered=0, elapsed_s=tick / 10, time_limit_s=60)
                else:
                    feed.event(kind, i, peer_state="connected", ice_state="completed", frames_received=tick * 10,
                               frames_analysed=tick * 3, frames_dropped=0, audio_seconds=tick, last_audio_s_ago=0.1,
                               last_video_s_ago=0.1, bitrate_kbps=500, packet_loss=0, packets_lost=0)
                sent += 1
            time.sleep(max(0.0, started + (tick + 1) * 0.1 - time.monotonic()))
        # The page keeps up: every card shows the last values, and redraws were coalesced.
        page.wait_for_function("(n) => window.candorMonitor.stats.events >= n", arg=before["events"] + sent)
        page.wait_for_timeout(100)
        stats = page.evaluate("({...window.candorMonitor.stats})")
        renders = stats["renders"] - before["renders"]
        assert renders < sent / 2, (renders, sent)
        # A frame a few ms at most: ask the page how long a frame took while busy.
        lag = page.evaluate("""() => new Promise(done => {
            const t0 = performance.now(); requestAnimationFrame(() => done(performance.now() - t0)); })""")
        assert lag < 200, lag
        for i in ids:
            assert page.evaluate("i => window.candorMonitor.card(i).signals.eye_contact_ratio", i) is not None
        assert card(page, 101).locator("[data-part=scores] .mon-score-value").inner_text() in {"25", "26", "27", "28", "29"}
        page.screenshot(path=str(screenshots / "monitor-ten.png"), full_page=False)
        assert not csp_problems(console), console
    finally:
        page.context.close()


# --- for real: a candidate in Chromium with fake media, HR on /monitor --------------------------


def test_hr_watches_pauses_and_resumes_a_real_interview(launch_browser: Any, tmp_path: Path,
                                                        screenshots: Path) -> None:  # noqa: F811
    demo = seed_demo(tmp_path / "server-data")
    interview_id = int(demo["interview_id"])
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        hr_context = browser.new_context(viewport={"width": 1400, "height": 1000})
        hr_context.set_default_timeout(15_000)
        candidate = new_page(browser)
        try:
            log_in(hr_context, server, demo["email"], demo["password"])
            hr = hr_context.new_page()
            console: list[str] = []
            hr.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            hr.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            hr.goto(f"{server}/monitor")
            expect(hr.locator("#feed-status")).to_have_attribute("data-state", "open")
            expect(hr.locator("#mon-empty")).to_be_visible()

            candidate.goto(f"{server}/i/{demo['token']}?lang=en&raw_audio=1")  # the demo job is Korean
            candidate.click("#consent-yes")
            candidate.wait_for_function("() => window.candor.stream !== null")
            candidate.click("#join")
            wait_state(candidate, "live", timeout=30_000)

            # HR sees the interview arrive, live, with its question, progress and media.
            ada = hr.locator(f"#interview-{interview_id}")
            expect(ada).to_have_attribute("data-state", "live", timeout=15_000)
            count = candidate.evaluate("candor.question.count")
            expect(ada.locator("[data-part=question]")).to_have_text(f"Question 1 of {count}")
            expect(ada.locator("[data-part=answered]")).to_have_text(f"0/{count} answered")
            expect(ada.locator("[data-part=question-text]")).to_have_text(candidate.inner_text("#question-text"))
            # Frames are analysed at a few a second: the rate shows once two reports came.
            expect(ada.locator("[data-conn=frames]")).to_have_text(
                re.compile(r"^[1-9]\d* analysed of \d+ received \([1-9]\d*\.\d/s\)"), timeout=10_000)
            expect(ada.locator("img[data-part=thumb]")).to_be_visible(timeout=10_000)
            # The spoken answer comes back as transcript lines (real Vosk).
            expect(ada.locator(".mon-line-final:not([hidden])").first).to_be_visible(timeout=45_000)
            expect(ada.locator("[data-signal=face_present_ratio]")).to_have_text(re.compile(r"\d+%"))
            hr.screenshot(path=str(screenshots / "monitor-real-live.png"), full_page=True)

            # Pause from the panel: the candidate's page shows paused.
            ada.locator("button[data-action=pause]").click()
            hr.fill("#action-note", "checking the audio")
            hr.click("#action-submit")
            wait_state(candidate, "paused", timeout=10_000)
            expect(ada).to_have_attribute("data-state", "paused")
            # HR's note is HR's: the candidate's socket and page never carry it.
            seen_by_candidate = candidate.content() + candidate.evaluate("JSON.stringify(window.candor.messages)")
            assert "checking the audio" not in seen_by_candidate
            assert "paused" in candidate.inner_text("#status").lower()
            expect(ada.locator("button[data-action=resume]")).to_be_visible()
            expect(ada.locator("[data-part=error]")).to_be_hidden()
            hr.screenshot(path=str(screenshots / "monitor-real-paused.png"), full_page=True)

            # Resume: live again on both sides; the pause is in the interventions.
            ada.locator("button[data-action=resume]").click()
            wait_state(candidate, "live", timeout=10_000)
            expect(ada).to_have_attribute("data-state", "live")
            expect(ada.locator("[data-part=interventions] li[data-action=pause]")).to_have_count(1)
            assert "checking the audio" in (ada.locator("[data-part=interventions]").text_content() or "")

            # HR ends the interview: the finished card leads to its report, which opens.
            ada.locator("button[data-action=end]").click()
            hr.fill("#action-note", "enough for a first round")
            hr.click("#action-submit")
            expect(ada).to_have_attribute("data-state", "completed", timeout=15_000)
            report = ada.get_by_role("link", name="Open the report")
            expect(report).to_be_visible()
            report.click()
            hr.wait_for_url(re.compile(r"/interviews/\d+/report$"), timeout=30_000)
            assert "Report" in hr.title()
            assert not page_errors(candidate)
            assert not csp_problems(console), console  # (a 404 thumbnail before the first frame is fine)
        finally:
            candidate.context.close()
            hr_context.close()
