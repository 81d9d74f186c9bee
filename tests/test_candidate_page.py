"""The candidate's page (/i/{token}) in real headless Chromium against the real server.

What a test can rely on (static/interview.js, server/templates/interview.html):

- ``document.body.dataset.state`` and ``window.candor.state``: ``consent`` -> ``devices`` ->
  ``connecting`` -> ``live`` <-> ``paused`` / ``reconnecting`` -> ``finished``; ``closed`` (another
  window, abandoned, expired) and ``error`` (the server refused the offer) are final.
- Screens: ``#step-consent`` (buttons ``#consent-yes``, ``#consent-no``), ``#step-devices``
  (``#preview``, ``#mic-meter`` with ``data-level``/``data-peak`` 0-100, ``#device-error`` with
  ``data-error`` = missing|denied|in-use|unsupported|other, ``#device-error-text``,
  ``#device-retry``, ``#join``), ``#step-interview`` (``#status[data-state]``, ``#question-progress``
  "Question i of n", ``#question-text``, ``#countdown[data-remaining]``, ``#next`` "Next"/"Finish",
  ``#captions`` with ``.iv-caption-final`` lines and ``#caption-partial``, ``#hr-message-text``),
  ``#step-finished``, ``#step-closed`` (``#closed-title``, ``#closed-text``); ``#notice`` for
  problems (``data-kind`` = track|connect|busy|socket|media|server, the most important shown).
  ``#status`` holds ``#status-text`` (the page's state) and ``#status-detail`` (what the server's
  last code means, from the page's own ``CODE_TEXT`` table: the server's ``reason`` text is never
  shown).
- ``window.candor``: ``state, serverState, serverCode, serverReason, consent, question,
  remaining, captions, partial, lastMessage, messages, hrMessage, sent, pc, ws, stream, pcState,
  wsOpen, level, levelPeak, deviceError, deviceErrorName, offerError, offers, wsConnects,
  reconnects, closedReason, notices, events``.
- The server's messages: ``{"type": "state", "state", "code", "reason"}`` with the codes of
  server/interview_machine.py; the state sets (finished, resumable...) come in the page config.
- ``?raw_audio=1`` asks getUserMedia for unprocessed audio (no echo cancellation, noise
  suppression or gain control).

Tests that need the live path (offer and websocket) fake the browser's WebSocket and
RTCPeerConnection (an init script) and Playwright answers ``POST /offer`` (a scripted server:
the test says what the server says); the real-interview tests run everything for real.
"""
from __future__ import annotations

import json
import os
import math
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from server import jurisdictions
from server.interview_machine import TEXT
from tests.support.browser import CHROMIUM_ARGS, chromium_executable
from tests.support.media import face_y4m, speech_wav
from tests.support.server import REPO_ROOT, RunningServer, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

pytestmark = pytest.mark.browser

SERVER_ENV = {"CANDOR_LOAD_MODELS": "0"}
# The page sends the version of the notice it showed (server/jurisdictions.py).
NOTICE_VERSION = jurisdictions.PROFILES["default"].notice.version
KOREAN_ANSWER = "저는 큰 프로젝트의 일정을 관리했습니다. 안전 절차를 항상 지켰습니다."
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Invitation:
    server: RunningServer
    token: str
    email: str
    password: str

    @property
    def url(self) -> str:
        # The demo job is Korean (the default speech model's language), so its page would be in
        # Korean; these tests read the English words (test_i18n_browser.py covers Korean).
        return f"{self.server}/i/{self.token}?lang=en"


def seed_demo(data_dir: Path) -> dict[str, str]:
    """``python run.py demo`` in ``data_dir``: the HR login and the candidate's token."""
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "demo"], capture_output=True, text=True,
        cwd=REPO_ROOT, timeout=120, env={**os.environ, "CANDOR_DATA_DIR": str(data_dir), **SERVER_ENV},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    token = re.search(r"Invitation URL:\s*\S+/i/(\S+)", out)
    email = re.search(r"email:\s*(\S+)", out)
    password = re.search(r"password:\s*(\S+)", out)
    interview = re.search(r"interview (\d+)\)", out)
    assert token and email and password and interview, out
    return {"token": token.group(1), "email": email.group(1), "password": password.group(1),
            "interview_id": interview.group(1)}


@pytest.fixture(scope="module")
def invitation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Invitation]:
    """One server for the tests that never start the interview (its state stays "invited")."""
    tmp = tmp_path_factory.mktemp("candidate-page")
    demo = seed_demo(tmp / "server-data")  # running_server's data directory
    with running_server(tmp, env=SERVER_ENV) as server:
        yield Invitation(server, demo["token"], demo["email"], demo["password"])


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: $CANDOR_TEST_SCREENSHOTS if set (to look at them), else tmp_path."""
    path = Path(os.environ.get("CANDOR_TEST_SCREENSHOTS", tmp_path))
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch_without(playwright: Playwright, drop: tuple[str, ...], add: tuple[str, ...] = ()) -> Browser:
    """A Chromium of the test's own with some of the standard flags taken away."""
    args = [a for a in CHROMIUM_ARGS if a not in drop] + list(add)
    return playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=args)


def new_page(browser: Browser, width: int = 1100, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: page._candor_errors.append(str(exc)))  # type: ignore[attr-defined]
    page._candor_errors = []  # type: ignore[attr-defined]
    return page


def page_errors(page: Page) -> list[str]:
    return page._candor_errors  # type: ignore[attr-defined,no-any-return]


def state(page: Page) -> str:
    return str(page.evaluate("document.body.dataset.state"))


def wait_state(page: Page, expected: str, timeout: float = 15_000) -> None:
    page.wait_for_function("s => document.body.dataset.state === s", arg=expected, timeout=timeout)


def take_two_question_interview(page: Page, link: str, *, first_s: float, second_s: float,
                                until_caption: bool = False) -> None:
    """A candidate in real Chromium through a two-question interview: consent (AI-assisted),
    join, answer the first question (for `first_s`, after the first caption if `until_caption`),
    Next, `second_s` on the second, Finish and confirm."""
    page.goto(f"{link}{'&' if '?' in link else '?'}raw_audio=1")
    page.click("#consent-yes")
    page.wait_for_function("() => (window.candor.stream !== null)")
    page.click("#join")
    wait_state(page, "live", timeout=30_000)
    if until_caption:
        page.wait_for_function("() => (window.candor.captions.length > 0)", timeout=45_000)
    time.sleep(first_s)
    page.click("#next")
    page.wait_for_function("() => (window.candor.question && window.candor.question.index === 1)", timeout=20_000)
    page.wait_for_function("() => (!document.getElementById('next').disabled)")
    time.sleep(second_s)
    page.click("#next")
    page.click("#finish-yes")  # the last question asks before finishing
    wait_state(page, "finished", timeout=30_000)


# --- consent, devices, errors: no live path needed ---------------------------------------------


def test_consent_screen_explains_and_offers_both_choices(browser: Browser, invitation: Invitation,
                                                          screenshots: Path) -> None:
    page = new_page(browser)
    try:
        response = page.goto(invitation.url)
        assert response is not None and response.status == 200
        assert response.headers.get("referrer-policy") == "no-referrer"
        assert state(page) == "consent"
        consent = page.locator("#step-consent")
        assert consent.is_visible()
        assert not page.locator("#step-devices").is_visible()
        text = consent.inner_text()
        for words in ("Speech", "Face", "Posture", "eye contact", "reviews everything", "human-only"):
            assert words in text, words
        yes = page.get_by_role("button", name="I agree, start the AI-assisted interview")
        no = page.get_by_role("button", name="I prefer a human-only review")
        assert yes.is_visible() and no.is_visible()
        page.screenshot(path=str(screenshots / "consent.png"), full_page=True)

        # 360 px wide: nothing sticks out sideways, the buttons stay usable.
        page.set_viewport_size({"width": 360, "height": 780})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert no.bounding_box()["width"] <= 360  # type: ignore[index]
        page.screenshot(path=str(screenshots / "consent-360.png"), full_page=True)

        # Keyboard: the first choice is reachable and visibly focused.
        yes.focus()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        assert not page_errors(page)
    finally:
        page.context.close()


def test_device_check_shows_the_camera_and_a_moving_level(launch_browser: Any, invitation: Invitation,
                                                          screenshots: Path) -> None:
    browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER, tail_silence_s=1.0))
    page = new_page(browser)
    try:
        page.goto(invitation.url + "&raw_audio=1")
        page.click("#consent-no")
        wait_state(page, "devices")
        assert "human-only" in page.inner_text("#consent-summary")
        page.wait_for_function("() => (document.getElementById('preview').videoWidth > 0)")
        size = page.evaluate("[preview.videoWidth, preview.videoHeight]")
        assert size == [640, 480]
        assert page.evaluate("window.candor.consent") is False
        # The audio track really is unprocessed.
        settings = page.evaluate("window.candor.stream.getAudioTracks()[0].getSettings()")
        assert settings.get("echoCancellation") is False and settings.get("autoGainControl") is False
        # The meter moves with the spoken file: several different levels, a clear peak.
        levels = set()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (len(levels) < 5 or page.evaluate("candor.levelPeak") < 0.4):
            levels.add(int(page.get_attribute("#mic-meter", "data-level") or 0))
            time.sleep(0.15)
        assert len(levels) >= 5, levels
        assert page.evaluate("candor.levelPeak") >= 0.4
        assert page.locator("#join").is_enabled()
        assert page.locator("#device-error").is_hidden()
        page.wait_for_function("() => (window.candor.level > 0.3)")  # a spoken moment, for the picture
        page.screenshot(path=str(screenshots / "devices.png"), full_page=True)
        page.set_viewport_size({"width": 360, "height": 780})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(screenshots / "devices-360.png"), full_page=True)
        assert not page_errors(page)
    finally:
        page.context.close()


def test_no_camera_or_microphone_says_so_and_offers_retry(playwright: Playwright, invitation: Invitation,
                                                          screenshots: Path) -> None:
    # Without the fake-device flag this machine has no camera or microphone at all.
    browser = launch_without(playwright, ("--use-fake-device-for-media-stream",))
    try:
        page = new_page(browser)
        page.goto(invitation.url)
        page.click("#consent-yes")
        page.wait_for_selector("#device-error:not([hidden])")
        assert page.get_attribute("#device-error", "data-error") == "missing"
        assert "could not find" in page.inner_text("#device-error-text")
        assert page.locator("#join").is_disabled()
        page.screenshot(path=str(screenshots / "device-missing.png"), full_page=True)
        # Try again: the same clear answer (not a silent failure).
        page.click("#device-retry")
        page.wait_for_function("() => (window.candor.deviceError === 'missing')")
        assert page.locator("#device-error").is_visible()
        assert not page_errors(page)
    finally:
        browser.close()


def test_denied_camera_says_how_to_allow_it(playwright: Playwright, invitation: Invitation,
                                            screenshots: Path) -> None:
    browser = launch_without(playwright, ("--use-fake-ui-for-media-stream",),
                             ("--use-fake-ui-for-media-stream=deny",))
    try:
        page = new_page(browser)
        page.goto(invitation.url)
        page.click("#consent-yes")
        page.wait_for_selector("#device-error:not([hidden])")
        assert page.get_attribute("#device-error", "data-error") == "denied"
        assert "denied" in page.inner_text("#device-error-text")
        assert page.evaluate("candor.deviceErrorName") == "NotAllowedError"
        page.screenshot(path=str(screenshots / "device-denied.png"), full_page=True)
    finally:
        browser.close()


def test_camera_in_use_then_retry_succeeds(browser: Browser, invitation: Invitation) -> None:
    page = new_page(browser)
    try:
        # The first getUserMedia fails as when another program holds the camera; the next works.
        page.add_init_script("""
          (() => {
            const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
            let calls = 0;
            navigator.mediaDevices.getUserMedia = (c) => {
              window.__gumConstraints = c;
              return ++calls === 1
                ? Promise.reject(new DOMException("Could not start video source", "NotReadableError"))
                : real(c);
            };
          })();
        """)
        page.goto(invitation.url)
        page.click("#consent-yes")
        page.wait_for_selector("#device-error:not([hidden])")
        assert page.get_attribute("#device-error", "data-error") == "in-use"
        assert "in use" in page.inner_text("#device-error-text")
        constraints = page.evaluate("window.__gumConstraints")
        assert constraints["video"] == {"width": 640, "height": 480, "frameRate": 15}
        assert constraints["audio"] == {"echoCancellation": True, "noiseSuppression": True, "autoGainControl": True}
        page.click("#device-retry")
        page.wait_for_function("() => (document.getElementById('preview').videoWidth > 0)")
        assert page.locator("#device-error").is_hidden()
        assert page.locator("#join").is_enabled()
        assert page.evaluate("candor.deviceError") is None
    finally:
        page.context.close()


def test_the_deadline_is_shown_in_the_candidates_time_zone(browser: Browser, invitation: Invitation) -> None:
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(invitation.url)
        when = page.locator(".iv-sub time.when")
        utc = when.get_attribute("datetime") or ""
        shown = when.inner_text()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc), utc
        assert when.get_attribute("title", timeout=5000) and "UTC" in (when.get_attribute("title") or "")
        assert "UTC" not in shown and re.search(r"\b(EST|EDT)\b", shown), shown
        # The same moment: New York is 4 or 5 hours behind UTC.
        local_hour = int(re.search(r"(\d{1,2}):\d\d\s*(AM|PM)", shown).group(1)) % 12  # type: ignore[union-attr]
        local_hour += 12 if "PM" in shown else 0
        assert (int(utc[11:13]) - local_hour) % 24 in (4, 5), (utc, shown)
        assert not errors, errors
    finally:
        context.close()


def test_unknown_token_shows_the_not_found_page(page: Page, invitation: Invitation) -> None:
    response = page.goto(f"{invitation.server}/i/no-such-invitation-token")
    assert response is not None and response.status == 404
    assert page.inner_text("h1") == "This link does not open an interview"
    assert "newer link" in page.inner_text("main")
    assert page.locator("#step-consent").count() == 0
    # Said calmly: not in the red of an error.
    colour = page.evaluate("getComputedStyle(document.querySelector('main p')).color")
    assert colour != "rgb(179, 38, 30)", colour


def test_the_page_has_words_for_every_server_code() -> None:
    # The page turns the server's codes into words (CODE_TEXT in static/interview.js): every code
    # of server/interview_machine.py has an entry, so no state change falls back to server text.
    script = (REPO_ROOT / "static" / "interview.js").read_text(encoding="utf-8")
    table = script[script.index("const CODE_TEXT = {"):]
    table = table[:table.index("\n  };")]
    keys = set(re.findall(r"^\s+(\w+):", table, re.M))
    assert keys == set(TEXT), (set(TEXT) - keys, keys - set(TEXT))


# --- the live interview against a scripted server (fake WebSocket and RTCPeerConnection) ------

FAKES = r"""
(() => {
  const sockets = [];
  class FakeSocket extends EventTarget {
    static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
    constructor(url) {
      super();
      this.url = url; this.readyState = 0; this.sent = [];
      sockets.push(this);
      // A dead server (window.__fake.dead): the socket never opens.
      if (window.__fake.dead) setTimeout(() => this._closed(1006, ""), 20);
      else setTimeout(() => { this.readyState = 1; this.dispatchEvent(new Event("open")); }, 20);
    }
    send(data) {
      const msg = JSON.parse(data);
      this.sent.push(msg);
      // window.__fake.reply(msg) -> a message the server answers with at once (or null).
      const answer = window.__fake.reply && window.__fake.reply(msg);
      if (answer) setTimeout(() => this.receive(answer), 5);
    }
    close(code = 1000, reason = "") { this._closed(code, reason); }
    _closed(code, reason) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      const e = new Event("close"); e.code = code; e.reason = reason;
      this.dispatchEvent(e);
    }
    receive(msg) { const e = new Event("message"); e.data = JSON.stringify(msg); this.dispatchEvent(e); }
  }
  window.WebSocket = FakeSocket;

  const pcs = [];
  class FakePC extends EventTarget {
    constructor(config) {
      super();
      this.config = config; this.connectionState = "new"; this.iceGatheringState = "new";
      this.localDescription = null; this.remoteDescription = null; this.transceivers = [];
      pcs.push(this);
    }
    addTransceiver(track, init) {
      const params = {};
      const sender = { track, getParameters: () => ({ ...params }), setParameters: async (p) => { Object.assign(params, p); sender.params = p; } };
      const t = { sender, direction: init.direction, streams: init.streams };
      this.transceivers.push(t);
      return t;
    }
    getSenders() { return this.transceivers.map((t) => t.sender); }
    async createOffer() { return { type: "offer", sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" }; }
    async setLocalDescription(d) {
      this.localDescription = d;
      setTimeout(() => { this.iceGatheringState = "complete"; this.dispatchEvent(new Event("icegatheringstatechange")); }, 10);
    }
    async setRemoteDescription(d) {
      this.remoteDescription = d;
      setTimeout(() => this.setState("connected"), 10);
    }
    setState(s) { if (this.connectionState === "closed") return; this.connectionState = s; this.dispatchEvent(new Event("connectionstatechange")); }
    close() { this.connectionState = "closed"; }
  }
  window.RTCPeerConnection = FakePC;
  window.__fake = { sockets, pcs, ws: () => sockets[sockets.length - 1], pc: () => pcs[pcs.length - 1],
                    reply: null, dead: false };
})();
"""


ANSWER = {"type": "answer", "sdp": "v=0\r\nfake answer\r\n"}
# What the real server answers an offer with when it has no room (server/interview_machine.py).
BUSY = {"error": "the interview server is busy right now; your page will try again by itself"}


def scripted_page(browser: Browser, url: str, offer_status: int = 200,
                  offer_body: dict[str, Any] | None = None,
                  offer_replies: list[tuple[int, dict[str, Any]]] | None = None) -> Page:
    """The page against a scripted server. ``POST /offer`` is answered with ``offer_status`` and
    ``offer_body``, or with ``offer_replies`` in turn (the last one repeats); while the test says
    the server is dead (``server_dead(page, True)``) the offer's connection is refused."""
    page = new_page(browser)
    page.add_init_script(FAKES)
    offers: list[dict[str, Any]] = []
    replies = list(offer_replies or [(offer_status, offer_body if offer_body is not None else ANSWER)])
    dead = {"on": False}

    def answer(route: Any) -> None:
        if dead["on"]:
            route.abort("connectionrefused")
            return
        offers.append(json.loads(route.request.post_data or "null"))
        status, body = replies[min(len(offers), len(replies)) - 1]
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r".*/offer$"), answer)
    page._candor_offers = offers  # type: ignore[attr-defined]
    page._candor_dead = dead  # type: ignore[attr-defined]
    page.goto(url)
    page.evaluate("window.__samePage = true")  # gone if the page reloads
    return page


def server_dead(page: Page, dead: bool) -> None:
    """The scripted server is away (sockets do not open, offers are refused) or back."""
    page._candor_dead["on"] = dead  # type: ignore[attr-defined]
    page.evaluate("d => { window.__fake.dead = d; }", dead)


def offers_sent(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page._candor_offers  # type: ignore[attr-defined]
    return found


def server_state(state: str, code: str, reason: str | None = None) -> dict[str, Any]:
    """A state message as server/session.py sends it (the reason is the neutral TEXT)."""
    return {"type": "state", "state": state, "code": code, "reason": TEXT.get(code, "") if reason is None else reason}


def server_says(page: Page, message: dict[str, Any]) -> None:
    page.evaluate("m => window.__fake.ws().receive(m)", message)


def sent(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__fake.sockets.flatMap(s => s.sent)"))


def join(page: Page, consent: bool = True) -> None:
    page.click("#consent-yes" if consent else "#consent-no")
    page.wait_for_function("() => (window.candor.stream !== null)")
    page.click("#join")
    page.wait_for_function("() => (window.candor.wsOpen && window.candor.pcState === 'connected')")


def test_live_interview_flow_with_a_scripted_server(browser: Browser, invitation: Invitation,
                                                    screenshots: Path) -> None:
    page = scripted_page(browser, invitation.url)
    try:
        join(page, consent=True)
        assert state(page) == "connecting"
        # What went to the server: start with the consent, then an offer with ICE done.
        assert sent(page)[0] == {"type": "start", "consent": True, "notice_version": NOTICE_VERSION}
        ws_url = page.evaluate("window.__fake.ws().url")
        assert ws_url == invitation.url.split("?")[0].replace("http://", "ws://") + "/ws"
        offers = page._candor_offers  # type: ignore[attr-defined]
        assert len(offers) == 1 and offers[0]["type"] == "offer" and offers[0]["sdp"].startswith("v=0")
        pc = page.evaluate("""(() => { const pc = window.__fake.pc(); return {
            ice: pc.config.iceServers,
            kinds: pc.transceivers.map(t => t.sender.track.kind + ':' + t.direction),
            hint: pc.transceivers.find(t => t.sender.track.kind === 'video').sender.track.contentHint,
            pref: pc.transceivers.find(t => t.sender.track.kind === 'video').sender.params?.degradationPreference,
        }; })()""")
        pc["kinds"].sort()
        assert pc == {"ice": [], "kinds": ["audio:sendonly", "video:sendonly"], "hint": "detail",
                      "pref": "maintain-resolution"}
        assert page.evaluate("window.candor.pc === window.__fake.pc()")

        # Live, question 1 of 3 with a running countdown.
        server_says(page, server_state("connecting", "connecting"))
        server_says(page, server_state("live", "live"))
        said_at = time.monotonic()
        server_says(page, {"type": "question", "index": 0, "count": 3, "text": "자기소개를 해 주세요.",
                           "time_limit_s": 60, "remaining_s": 42})
        wait_state(page, "live")
        assert page.inner_text("#question-progress") == "Question 1 of 3"
        assert page.inner_text("#question-text") == "자기소개를 해 주세요."
        assert page.get_attribute("#question-text", "lang") == "ko"
        assert page.inner_text("#next") == "Next"
        first = int(page.get_attribute("#countdown", "data-remaining") or 0)
        # Counting down from the server's 42 s by the time that passed (a busy machine may take
        # seconds over the calls above), never from the 60 s limit.
        assert 42 - math.ceil(time.monotonic() - said_at) - 1 <= first <= 42
        page.wait_for_function("() => (Number(document.getElementById('countdown').dataset.remaining) <= 40)")

        # Captions: partial in grey, finals appended, only the last few lines kept.
        server_says(page, {"type": "caption", "text": "저는 큰", "final": False})
        assert page.inner_text("#caption-partial") == "저는 큰"
        for i in range(6):
            server_says(page, {"type": "caption", "text": f"line {i}", "final": True})
        lines = page.locator("#captions .iv-caption-final").all_inner_texts()
        assert lines == ["line 2", "line 3", "line 4", "line 5"]
        assert page.inner_text("#caption-partial") == ""
        assert page.evaluate("candor.captions.length") == 6

        # A message from HR is shown prominently, and stays while the question does (the
        # server sends the same question again after a reconnect).
        server_says(page, {"type": "message", "text": "Please speak a little louder."})
        assert page.locator("#hr-message").is_visible()
        assert page.inner_text("#hr-message-text") == "Please speak a little louder."
        page.screenshot(path=str(screenshots / "live.png"), full_page=True)

        # Paused by HR: the timer stops, Next is off, the page says so in its own words.
        server_says(page, server_state("paused", "paused_by_interviewer"))
        wait_state(page, "paused")
        frozen = page.evaluate("candor.remaining")
        time.sleep(1.2)
        assert page.evaluate("candor.remaining") == frozen
        assert page.locator("#next").is_disabled()
        assert "Paused" in page.inner_text("#status")
        assert "The interviewer paused the interview" in page.inner_text("#status-detail")
        page.screenshot(path=str(screenshots / "paused.png"), full_page=True)
        server_says(page, server_state("live", "resumed_by_interviewer"))
        wait_state(page, "live")
        assert page.inner_text("#status-detail") == "The interviewer resumed the interview."
        server_says(page, {"type": "question", "index": 0, "count": 3, "text": "자기소개를 해 주세요.",
                           "time_limit_s": 60, "remaining_s": 30})
        assert page.locator("#hr-message").is_visible()

        # Next: sent once, even on a double click; the button waits for the next question.
        page.locator("#next").dblclick()
        assert [m for m in sent(page) if m["type"] == "next"] == [{"type": "next"}]
        assert page.locator("#next").is_disabled()
        server_says(page, {"type": "question", "index": 2, "count": 3, "text": "Last one.",
                           "time_limit_s": 30, "remaining_s": 30})
        assert page.inner_text("#question-progress") == "Question 3 of 3"
        assert page.inner_text("#next") == "Finish"
        assert page.locator("#next").is_enabled()
        # Finishing cannot be undone: the button asks first, and "Keep answering" goes back.
        page.click("#next")
        assert page.locator("#finish-confirm").is_visible() and page.locator("#next").is_hidden()
        assert [m for m in sent(page) if m["type"] == "next"] == [{"type": "next"}]  # nothing sent yet
        assert page.evaluate("document.activeElement.id") == "finish-no"
        page.click("#finish-no")
        assert page.locator("#finish-confirm").is_hidden() and page.locator("#next").is_visible()
        page.click("#next")
        page.click("#finish-yes")
        assert [m for m in sent(page) if m["type"] == "next"] == [{"type": "next"}, {"type": "next"}]
        assert page.locator("#captions .iv-caption-final").count() == 0  # fresh for a new question
        # HR's message was about the last question: it goes with it.
        assert page.locator("#hr-message").is_hidden()
        assert page.evaluate("candor.hrMessage") is None

        # Done: the thank-you screen, media stopped, connections closed.
        server_says(page, {"type": "done"})
        wait_state(page, "finished")
        assert page.inner_text("#finished-title") == "Thank you, your interview is complete"
        assert page.evaluate("window.__fake.pc().connectionState") == "closed"
        assert page.evaluate("window.__fake.ws().readyState") == 3
        assert page.evaluate("candor.stream") is None
        page.screenshot(path=str(screenshots / "finished.png"), full_page=True)
        assert not page_errors(page)
    finally:
        page.context.close()


def test_reconnects_the_socket_and_the_media_keeping_the_camera(browser: Browser, invitation: Invitation) -> None:
    page = scripted_page(browser, invitation.url)
    try:
        join(page, consent=False)
        server_says(page, server_state("live", "live"))
        wait_state(page, "live")
        track_id = page.evaluate("candor.stream.getVideoTracks()[0].id")

        # The socket drops: reconnecting, then a new socket that says start again, same consent.
        page.evaluate("window.__fake.ws()._closed(1006, '')")
        wait_state(page, "reconnecting")
        page.wait_for_function("() => (window.__fake.sockets.length === 2 && window.candor.wsOpen)", timeout=5000)
        assert page.evaluate("window.__fake.ws().sent") == [{"type": "start", "consent": False, "notice_version": NOTICE_VERSION}]
        server_says(page, server_state("live", "joined"))
        wait_state(page, "live")

        # The media fails: a NEW peer connection with a new offer, the same camera track.
        page.evaluate("window.__fake.pc().setState('failed')")
        wait_state(page, "reconnecting")
        page.wait_for_function("() => (window.__fake.pcs.length === 2 && window.candor.pcState === 'connected')",
                               timeout=5000)
        assert len(page._candor_offers) == 2  # type: ignore[attr-defined]
        assert page.evaluate("window.__fake.pcs[0].connectionState") == "closed"
        assert page.evaluate("window.__fake.pc().transceivers.find(t => t.sender.track.kind === 'video').sender.track.id") == track_id
        assert page.evaluate("candor.stream.getVideoTracks()[0].readyState") == "live"
        wait_state(page, "live")

        # Opened in another window: the server says so (a code) and closes with that code as the
        # reason; no reconnect.
        server_says(page, server_state("closed", "opened_elsewhere"))
        page.evaluate("window.__fake.ws()._closed(1001, 'opened_elsewhere')")
        wait_state(page, "closed")
        assert "another window" in page.inner_text("#closed-title")
        assert page.evaluate("candor.closedReason") == "opened_elsewhere"
        time.sleep(1.5)
        assert page.evaluate("window.__fake.sockets.length") == 2
        assert not page_errors(page)
    finally:
        page.context.close()


def test_finish_chosen_while_the_socket_is_down_is_sent_when_it_is_back(browser: Browser,
                                                                       invitation: Invitation) -> None:
    """"Yes, finish" pressed during a blip is not lost: the page says it will finish, and sends
    it once the socket is back and the interview is live again on the same question."""
    page = scripted_page(browser, invitation.url)
    try:
        join(page)
        server_says(page, server_state("live", "live"))
        server_says(page, {"type": "question", "index": 1, "count": 2, "text": "Last one.",
                           "time_limit_s": 60, "remaining_s": 60})
        wait_state(page, "live")
        page.click("#next")
        assert page.locator("#finish-confirm").is_visible()
        # The socket drops while the confirmation is open, then the candidate confirms.
        server_dead(page, True)
        page.evaluate("window.__fake.ws()._closed(1006, '')")
        page.click("#finish-yes")
        assert "finishes as soon as the connection is back" in page.inner_text("#status-detail")
        assert [m for m in sent(page) if m["type"] == "next"] == []
        server_dead(page, False)
        page.wait_for_function("() => (window.__fake.sockets.length >= 2 && window.candor.wsOpen)", timeout=10_000)
        assert [m for m in sent(page) if m["type"] == "next"] == []  # not before the interview is live again
        server_says(page, server_state("live", "joined"))
        wait_state(page, "live")
        page.wait_for_function("() => (window.__fake.ws().sent.some(m => m.type === 'next'))", timeout=5_000)
        assert [m for m in sent(page) if m["type"] == "next"] == [{"type": "next"}]  # once
        server_says(page, {"type": "done"})
        wait_state(page, "finished")

        # A choice kept for a question the interview has moved past is dropped, not sent there.
        page2 = scripted_page(browser, invitation.url)
        try:
            join(page2)
            server_says(page2, server_state("live", "live"))
            server_says(page2, {"type": "question", "index": 0, "count": 2, "text": "First.",
                                "time_limit_s": 60, "remaining_s": 60})
            server_says(page2, {"type": "question", "index": 1, "count": 2, "text": "Last.",
                                "time_limit_s": 60, "remaining_s": 60, "last": True})
            wait_state(page2, "live")
            page2.click("#next")
            server_says(page2, server_state("paused", "paused_by_interviewer"))
            wait_state(page2, "paused")
            page2.click("#finish-yes")
            server_says(page2, {"type": "question", "index": 0, "count": 2, "text": "First, again.",
                                "time_limit_s": 60, "remaining_s": 60})
            server_says(page2, server_state("live", "resumed_by_interviewer"))
            wait_state(page2, "live")
            time.sleep(0.5)
            assert [m for m in sent(page2) if m["type"] == "next"] == []
            assert not page_errors(page2)
        finally:
            page2.context.close()
        assert not page_errors(page)
    finally:
        page.context.close()


def test_a_route_is_kept_through_a_refusal_and_dropped_after_three(browser: Browser, invitation: Invitation) -> None:
    """A full process names another (`route`): the page's sockets go `?via=` it. One that does
    not open (that process may answer 503 while the interview is still moving) is retried
    through the same route; three in a row send the page back to nginx's own choice."""
    page = scripted_page(browser, invitation.url)
    try:
        join(page)
        server_says(page, {"type": "state", "state": "connecting", "code": "capacity", "reason": "", "route": "w2"})
        page.wait_for_function("() => (window.__fake.ws().url.includes('?via=w2') && window.candor.wsOpen)",
                               timeout=5_000)
        server_dead(page, True)
        page.evaluate("window.__fake.ws()._closed(1006, '')")
        page.wait_for_function("() => (window.__fake.sockets.length >= 4)", timeout=10_000)
        urls = page.evaluate("window.__fake.sockets.map(s => s.url)")
        assert all("?via=w2" in u for u in urls[1:4]), urls  # the refused one and the next two
        assert page.evaluate("window.candor.route") == "w2"
        page.wait_for_function("() => (window.candor.route === null)", timeout=15_000)
        server_dead(page, False)
        page.wait_for_function("() => (window.candor.wsOpen)", timeout=15_000)
        assert "?via=" not in page.evaluate("window.__fake.ws().url")
        assert not page_errors(page)
    finally:
        page.context.close()


def test_offer_refused_is_shown(browser: Browser, invitation: Invitation, screenshots: Path) -> None:
    page = scripted_page(browser, invitation.url, offer_status=400,
                         offer_body={"error": "malformed or unsupported SDP: no media"})
    try:
        page.click("#consent-yes")
        page.wait_for_function("() => (window.candor.stream !== null)")
        page.click("#join")
        wait_state(page, "error")
        assert "malformed or unsupported SDP" in page.inner_text("#closed-text")
        assert page.evaluate("candor.offerError.status") == 400
        page.screenshot(path=str(screenshots / "offer-error.png"), full_page=True)
    finally:
        page.context.close()


def starts_sent(page: Page) -> int:
    return sum(1 for m in sent(page) if m["type"] == "start")


def test_server_busy_the_page_keeps_trying_and_gets_in_by_itself(browser: Browser, invitation: Invitation,
                                                                  screenshots: Path) -> None:
    # The server has no room: `start` is answered with code "capacity" and the offer with 503,
    # twice; the third offer gets in.
    page = scripted_page(browser, invitation.url, offer_replies=[(503, BUSY), (503, BUSY), (200, ANSWER)])
    try:
        page.evaluate("""() => { window.__fake.reply = (m) => m.type === 'start'
            ? {type: 'state', state: 'consented', code: 'capacity', reason: 'the interview server is busy; retrying'}
            : null; }""")
        page.click("#consent-yes")
        page.wait_for_function("() => (window.candor.stream !== null)")
        page.click("#join")
        # Plain words: busy, and the page keeps trying by itself.
        page.wait_for_selector("#notice:not([hidden])")
        notice = page.inner_text("#notice")
        assert "busy" in notice and "keeps trying by itself" in notice, notice
        assert page.get_attribute("#notice", "data-kind") == "busy"
        assert state(page) == "connecting"
        page.screenshot(path=str(screenshots / "server-busy.png"), full_page=True)
        # It retries the offer with backoff (about 1 s, then 2 s) and says start again each time.
        page.wait_for_function("() => (window.candor.offers >= 2)", timeout=5000)
        assert page.is_visible("#notice") and "busy" in page.inner_text("#notice")
        page.wait_for_function("() => (window.candor.offers >= 3 && window.candor.pcState === 'connected')", timeout=10_000)
        assert len(offers_sent(page)) == 3
        assert starts_sent(page) >= 3, sent(page)
        assert all(m == {"type": "start", "consent": True, "notice_version": NOTICE_VERSION} for m in sent(page) if m["type"] == "start")
        # In: the busy message goes; the server takes it from there.
        page.wait_for_selector("#notice", state="hidden")
        page.evaluate("window.__fake.reply = null")
        # The busy reply to the start sent with the last try may come after the offer's answer
        # (socket and HTTP race): out of date, it brings the message back no more.
        server_says(page, {"type": "state", "state": "consented", "code": "capacity",
                           "reason": "the interview server is busy; retrying"})
        page.wait_for_timeout(300)
        assert page.locator("#notice").is_hidden()
        assert page.evaluate("window.candor.pcState") == "connected"
        server_says(page, server_state("connecting", "connecting"))
        server_says(page, server_state("live", "live"))
        server_says(page, {"type": "question", "index": 0, "count": 2, "text": "Tell us about yourself.",
                           "time_limit_s": 60, "remaining_s": 60})
        wait_state(page, "live")
        assert page.evaluate("window.__samePage") is True  # no reload
        assert page.evaluate("window.__fake.sockets.length") == 1
        assert page.locator("#notice").is_hidden()
        assert not page_errors(page)
    finally:
        page.context.close()


def test_connect_timeout_says_what_to_try_and_keeps_retrying(browser: Browser, invitation: Invitation,
                                                            screenshots: Path) -> None:
    page = scripted_page(browser, invitation.url)
    try:
        join(page)
        server_says(page, server_state("connecting", "connecting"))
        assert len(offers_sent(page)) == 1
        starts = starts_sent(page)
        # ~20 s without media: the server gives up on this connection and goes back to consented.
        server_says(page, server_state("consented", "connect_timeout"))
        page.wait_for_selector("#notice:not([hidden])")
        notice = page.inner_text("#notice")
        for words in ("could not reach", "another network", "another browser",
                      "contact the company that invited you", "keeps trying"):
            assert words in notice, (words, notice)
        assert page.get_attribute("#notice", "data-kind") == "connect"
        assert state(page) == "connecting"
        page.screenshot(path=str(screenshots / "connect-timeout.png"), full_page=True)
        # A new connection (a new peer connection and offer), and start again, by itself.
        page.wait_for_function("() => (window.__fake.pcs.length === 2 && window.candor.pcState === 'connected')",
                               timeout=8000)
        assert len(offers_sent(page)) == 2
        assert starts_sent(page) == starts + 1
        assert page.evaluate("window.__fake.pcs[0].connectionState") == "closed"
        # Our side connected, but until the server has media the advice stays.
        server_says(page, server_state("connecting", "connecting"))
        time.sleep(0.5)
        assert page.is_visible("#notice") and "another network" in page.inner_text("#notice")
        # Still nothing: the server gives up again, the page tries again.
        server_says(page, server_state("consented", "connect_timeout"))
        page.wait_for_function("() => (window.__fake.pcs.length === 3)", timeout=8000)
        page.wait_for_function("() => (window.candor.pcState === 'connected')")
        assert len(offers_sent(page)) == 3
        # Media arrives: the advice goes.
        server_says(page, server_state("connecting", "connecting"))
        server_says(page, server_state("live", "live"))
        wait_state(page, "live")
        assert page.locator("#notice").is_hidden()
        assert page.evaluate("window.__samePage") is True
        assert not page_errors(page)
    finally:
        page.context.close()


def test_paused_shows_the_pages_own_words_never_the_servers_text(browser: Browser, invitation: Invitation) -> None:
    page = scripted_page(browser, invitation.url)
    try:
        join(page)
        server_says(page, server_state("live", "live"))
        server_says(page, {"type": "question", "index": 0, "count": 2, "text": "Tell us about yourself.",
                           "time_limit_s": 60, "remaining_s": 60})
        wait_state(page, "live")
        # The server sends a code and neutral text; even if a reason carried anything else (it
        # never carries HR's notes), the page shows only its own words for the code.
        secret = "NOTE-7731 candidate looks nervous"
        server_says(page, server_state("paused", "paused_by_interviewer",
                                       reason=f"paused by the interviewer: {secret}"))
        wait_state(page, "paused")
        status = page.inner_text("#status")
        assert page.inner_text("#status-text") == "Paused by the interviewer: the timer has stopped"
        assert page.inner_text("#status-detail") == (
            "The interviewer paused the interview. Please wait: it continues when they resume it.")
        assert status.split() == ("Paused by the interviewer: the timer has stopped "
                                  "The interviewer paused the interview. Please wait: it continues when they resume it."
                                  ).split()
        body = page.inner_text("body")
        assert "NOTE-7731" not in body and "nervous" not in body
        assert TEXT["paused_by_interviewer"] not in body  # the server's wording is not the page's
        assert page.locator("#notice").is_hidden()
        # A code the page does not know: nothing from the server's text either.
        server_says(page, server_state("paused", "some_new_code", reason=f"something else: {secret}"))
        time.sleep(0.2)
        assert page.inner_text("#status-detail") == ""
        assert "NOTE-7731" not in page.inner_text("body")
        assert page.evaluate("candor.serverCode") == "some_new_code"
        assert not page_errors(page)
    finally:
        page.context.close()


@pytest.mark.parametrize("old_connection", ["stays-connected", "fails"])
def test_server_gone_then_back_the_page_recovers_by_itself(browser: Browser, invitation: Invitation,
                                                           old_connection: str) -> None:
    # The server process is killed and, some seconds later, a fresh one listens again: it has
    # marked the interview interrupted. The old peer connection may still look connected (the
    # browser notices late) or fail; either way the page reconnects without a reload.
    page = scripted_page(browser, invitation.url)
    try:
        join(page)
        server_says(page, server_state("live", "live"))
        server_says(page, {"type": "question", "index": 0, "count": 2, "text": "Tell us about yourself.",
                           "time_limit_s": 60, "remaining_s": 50})
        wait_state(page, "live")

        server_dead(page, True)
        page.evaluate("window.__fake.ws()._closed(1006, '')")
        if old_connection == "fails":
            page.evaluate("window.__fake.pc().setState('failed')")
        wait_state(page, "reconnecting")
        time.sleep(6)  # away for a while: sockets do not open, offers are refused
        assert page.evaluate("window.__fake.sockets.length") >= 3
        if old_connection == "fails":
            # A new offer is tried (and refused) on the page's backoff: on a busy machine that
            # can take longer than the 6 s above.
            page.wait_for_function("() => (window.candor.offerError !== null)", timeout=15_000)
            assert "cannot be reached" in page.inner_text("#notice")
        else:
            assert len(offers_sent(page)) == 1  # nothing told the page its connection is gone
        assert state(page) == "reconnecting"

        # A fresh server: the next socket opens and says start again; the server says where the
        # interview stands (interrupted: it has no media), and sends the same question.
        server_dead(page, False)
        page.wait_for_function("() => (window.candor.wsOpen)", timeout=15_000)
        assert page.evaluate("window.__fake.ws().sent") == [{"type": "start", "consent": True, "notice_version": NOTICE_VERSION}]
        before = len(offers_sent(page))
        told_at = time.monotonic()
        server_says(page, server_state("interrupted", "joined"))
        server_says(page, {"type": "question", "index": 0, "count": 2, "text": "Tell us about yourself.",
                           "time_limit_s": 60, "remaining_s": 40})
        # A new offer promptly (not after the long backoff), a new connection.
        page.wait_for_function("n => window.candor.offers > n && window.candor.pcState === 'connected'",
                               arg=before, timeout=6000)
        assert time.monotonic() - told_at < 5
        assert len(offers_sent(page)) == before + 1
        server_says(page, server_state("live", "media_back"))
        wait_state(page, "live")
        assert page.inner_text("#status-detail") == "You are connected again: the same question continues."
        assert page.locator("#notice").is_hidden()
        assert page.evaluate("candor.question.index") == 0
        assert page.evaluate("window.__samePage") is True
        # Settled: no more offers while the server has media.
        time.sleep(4)
        assert len(offers_sent(page)) == before + 1
        assert not page_errors(page)
    finally:
        page.context.close()


# --- the whole interview for real, once the server has the live path --------------------------


def wait_for_models(server: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with _no_proxy.open(f"{server}/api/health", timeout=10) as response:
            if json.load(response).get("models_ready"):
                return
        if time.monotonic() > deadline:
            pytest.fail(f"models not ready after {timeout:.0f} s")
        time.sleep(0.5)


@pytest.mark.parametrize("consent", [True, False], ids=["ai-assisted", "human-only"])
def test_real_interview_end_to_end(launch_browser: Any, tmp_path: Path, screenshots: Path, consent: bool) -> None:
    demo = seed_demo(tmp_path / "server-data")
    # The AI-assisted interview needs the models (speech for captions); human-only needs none.
    with running_server(tmp_path, env={} if consent else SERVER_ENV, timeout=120) as server:
        if consent:
            wait_for_models(server)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            page.goto(f"{server}/i/{demo['token']}?lang=en&raw_audio=1")
            page.click("#consent-yes" if consent else "#consent-no")
            page.wait_for_function("() => (window.candor.stream !== null)")
            page.click("#join")
            page.wait_for_function("() => (window.candor.pcState === 'connected')", timeout=20_000)
            wait_state(page, "live", timeout=20_000)
            assert page.evaluate("candor.sent[0]") == {"type": "start", "consent": consent, "notice_version": NOTICE_VERSION}
            page.wait_for_function("() => (window.candor.question !== null)")
            count = page.evaluate("candor.question.count")
            assert count >= 1
            assert page.inner_text("#question-progress") == f"Question 1 of {count}"
            start = page.evaluate("candor.remaining")
            page.wait_for_function("r => window.candor.remaining <= r - 1", arg=start)  # the clock runs
            page.screenshot(path=str(screenshots / f"real-live-{'ai' if consent else 'human'}.png"), full_page=True)
            for index in range(count):
                page.wait_for_function(
                    "i => window.candor.question.index === i && !document.getElementById('next').disabled",
                    arg=index, timeout=15_000)
                if index == count - 1:
                    assert page.inner_text("#next") == "Finish"
                time.sleep(1.0)
                page.click("#next")
                if index == count - 1:
                    page.click("#finish-yes")  # finishing asks first
            wait_state(page, "finished", timeout=20_000)
            assert page.inner_text("#finished-title") == "Thank you, your interview is complete"
            assert [m["type"] for m in page.evaluate("candor.sent")].count("next") == count
            assert not page_errors(page)
        finally:
            page.context.close()
        with _no_proxy.open(urllib.request.Request(
                f"{server}/api/login", data=json.dumps({"email": demo["email"], "password": demo["password"]}).encode(),
                headers={"Content-Type": "application/json"}), timeout=10) as response:
            hr_token = json.load(response)["token"]
        # HR sees the interview completed.
        request = urllib.request.Request(f"{server}/api/interviews/{demo['interview_id']}",
                                         headers={"Authorization": f"Bearer {hr_token}"})
        with _no_proxy.open(request, timeout=10) as response:
            assert json.load(response)["state"] == "completed"


def test_real_interview_shows_live_captions(launch_browser: Any, tmp_path: Path, screenshots: Path) -> None:
    demo = seed_demo(tmp_path / "server-data")
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            page.goto(f"{server}/i/{demo['token']}?lang=en&raw_audio=1")
            page.click("#consent-yes")
            page.wait_for_function("() => (window.candor.stream !== null)")
            page.click("#join")
            wait_state(page, "live", timeout=20_000)
            # The spoken file (about 8 s, looped by Chromium) comes back as captions.
            page.wait_for_function("() => (window.candor.captions.length > 0)", timeout=40_000)
            assert page.locator("#captions .iv-caption-final").count() >= 1
            page.screenshot(path=str(screenshots / "real-captions.png"), full_page=True)
        finally:
            page.context.close()
