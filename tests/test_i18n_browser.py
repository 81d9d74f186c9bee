"""The pages in Chinese and Korean in real headless Chromium against the real server: an HR
user chooses 简体中文 on their account page, visits the main HR pages (candidates, a candidate,
the links page, the live panel, a report, the results board, a comparison, their account, an
error page) and finds no English word in what the page shows; switches to 한국어 and sees the
change; a candidate opens the link of a Korean job and reads it in Korean, before and after
choosing how to take the interview. The job pages (list, one job, the new-job form with its rule
builder, the edit form) and the template pages (one template, the builder with the question
bank's suggestions, the builder editing a template) are checked too. Data the test puts in
(names, emails, titles) is in the pages' language or taken out before looking."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.server import running_server
from tests.test_browser_hr import EMAIL, PASSWORD, add_hr_user

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

# Words that are the same in every language: the product, file formats and programs named by
# their own names. All-capital abbreviations (PDF, CSV, UTC, GMT) are let through as well.
SAME_IN_EVERY_LANGUAGE = {"Candor", "Excel", "JavaScript", "Chrome", "Edge", "Firefox", "Safari", "https", "sha"}
EMAIL_RE = re.compile(r"[\w.+-]+@[\w.-]+")
# Text a page shows that stays English on purpose: scoring rules in their syntax, in <code>
# (signal names such as eye_contact_ratio are identifiers HR types, the same in every language).
# The report's computed sentences (warnings, reasons, percentile, gaps, clips, evidence lines,
# "watch ...") are translated when shown (server/report_words.py) and are checked here.
NOT_YET_TRANSLATED = "code"
# The language menu names each language in itself (English is "English" on every page).
OWN_NAMES = "select#language"
JOB = {
    "title": "现场工程师", "language": "ko",
    "dimensions": [
        {"name": "项目管理", "keywords": ["大型项目"],
         "rules": [{"signal": "keyword_hits:大型项目", "op": ">=", "value": 1, "points": 10}]},
        {"name": "安全意识", "keywords": ["规程"]},
    ],
}
QUESTIONS = ("请介绍一个您负责过的项目。", "您如何保证现场安全？")
CANDIDATES = (("李雷", "li.lei@example.com"), ("韩梅梅", "han.meimei@example.com"))


def english_words(text: str, data: tuple[str, ...] = ()) -> list[str]:
    for value in data:
        text = text.replace(value, " ")
    text = EMAIL_RE.sub(" ", text)
    words = re.findall(r"[A-Za-z][A-Za-z'’]+", text)
    return [w for w in words if w not in SAME_IN_EVERY_LANGUAGE and not w.isupper()]


def shown_text(page: Page) -> str:
    """What the page shows (hidden parts are not in innerText), less the parts listed above."""
    return str(page.evaluate(
        "(sel) => { for (const e of document.querySelectorAll(sel)) e.style.display = 'none';"
        " return document.body.innerText; }", NOT_YET_TRANSLATED + ", " + OWN_NAMES))


def seed(base: str, data_dir: Path) -> dict[str, Any]:
    """Through the API: a Korean-language job with Chinese words, a template, two candidates
    invited; both interviews then written into the database as completed ones are left."""
    from server.store import Store
    from server.tables import Interview, QuestionSignals, TranscriptSegment

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    token = ""

    def api(method: str, path: str, body: Any) -> Any:
        req = urllib.request.Request(f"{base}{path}", method=method, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        with opener.open(req, timeout=30) as resp:
            return json.load(resp)

    token = api("POST", "/api/login", {"email": EMAIL, "password": PASSWORD})["token"]
    job = api("POST", "/api/jobs", JOB)
    dims = [d["id"] for d in job["dimensions"]]
    tpl = api("POST", "/api/templates", {"job_id": job["id"], "name": "标准面试", "questions": [
        {"text": QUESTIONS[0], "time_limit_s": 60, "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
        {"text": QUESTIONS[1], "time_limit_s": 60, "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]})
    ids = [api("POST", "/api/candidates", {"name": n, "email": e})["id"] for n, e in CANDIDATES]
    inv = api("POST", "/api/invitations", {"template_id": tpl["id"], "candidate_ids": ids,
                                           "deadline": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()})
    interviews = [int(i["interview_id"]) for i in inv["invitations"]]
    links = [str(i["url"]) for i in inv["invitations"]]

    def complete(db: Any) -> None:
        for iid in interviews:
            interview = db.get(Interview, iid)
            interview.state, interview.consent, interview.question_index = "completed", True, 1
            interview.started_at = interview.completed_at = datetime.now(timezone.utc)
            db.add(interview)
            signals = {"face_present_ratio": 1.0, "multiple_faces_ratio": 0.0, "upright_ratio": 0.9,
                       "eye_contact_ratio": 0.8, "smile_ratio": 0.3}
            for q, (start, end) in enumerate(((0.0, 10.0), (10.0, 20.0))):
                db.add(QuestionSignals(interview_id=iid, question_index=q, signals=signals, live_start_s=start,
                                       live_end_s=end, timeline=[{"t": t, "face": 1.0, "eye": 0.8, "smile": 0.3,
                                                                   "upright": 0.9} for t in range(int(start), int(end), 2)]))
            db.add(TranscriptSegment(interview_id=iid, question_index=0, text="我负责过一个大型项目", start_s=1.0,
                                     end_s=4.0, words=[{"word": "大型项目", "start_s": 2.0, "end_s": 3.0, "conf": 1.0}]))

    store = Store(f"sqlite:///{data_dir / 'candor.sqlite3'}")
    try:
        store.run_sync(complete)
    finally:
        store.close()
    # A third candidate, still invited: the link the candidate test opens (Korean job).
    third = api("POST", "/api/candidates", {"name": "김민수", "email": "minsu@example.com"})
    open_inv = api("POST", "/api/invitations", {
        "template_id": tpl["id"], "candidate_ids": [third["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()})
    return {"job": job["id"], "template": tpl["id"], "candidates": ids, "interviews": interviews,
            "links": links, "open_link": open_inv["invitations"][0]["url"]}


def hr_pages(seeded: dict[str, Any]) -> list[str]:
    a, b = seeded["interviews"]
    return [
        "/candidates", f"/candidates/{seeded['candidates'][0]}", f"/invitations?interviews={a},{b}", "/monitor",
        f"/interviews/{a}/report", f"/jobs/{seeded['job']}/results",
        f"/jobs/{seeded['job']}/compare?interviews={a}&interviews={b}", "/account", "/candidates/999999",
        "/jobs", f"/jobs/{seeded['job']}", "/jobs/new", f"/jobs/{seeded['job']}/edit",
        # The template pages: one template (questions, invite form, versions), the builder with the
        # question bank's suggestions for a job family, and the builder editing the template.
        f"/templates/{seeded['template']}", f"/jobs/{seeded['job']}/templates/new?family=engineering",
        f"/templates/{seeded['template']}/edit",
    ]


def check_pages(page: Page, base: str, paths: list[str], data: tuple[str, ...], lang: str, shots: Path) -> None:
    for n, path in enumerate(paths):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status in (200, 404), (path, response and response.status)
        assert page.get_attribute("html", "lang") == lang, path
        if path == "/monitor":  # the script has connected and written its own words
            page.wait_for_function("() => document.getElementById('feed-status').dataset.state === 'open'")
        page.screenshot(path=str(shots / f"{lang}-{n:02d}-{path.strip('/').split('?')[0].replace('/', '-')}.png"),
                        full_page=True)
        left = english_words(shown_text(page), data)
        assert not left, f"{path} in {lang}: English left: {sorted(set(left))}"


@pytest.mark.parametrize("lang", ["zh-cn", "ko"])
def test_chinese_and_korean_have_a_font(lang: str) -> None:
    """fonts-noto-cjk (installed by ./candor) draws Han and Hangul in the screenshots; without it
    they are empty boxes."""
    fc_match = shutil.which("fc-match")
    assert fc_match, "fontconfig's fc-match is missing"
    family = subprocess.run([fc_match, "-f", "%{family}", f":lang={lang}"], capture_output=True, text=True,
                            check=True).stdout
    assert "CJK" in family or "Nanum" in family, f"no font for {lang} (fc-match :lang={lang} gives {family!r})"


def test_hr_pages_and_the_candidate_page_in_chinese_and_korean(browser: Browser, tmp_path: Path) -> None:
    # Screenshots of every page checked, kept as artefacts like tests/test_screenshots.py's.
    shots = Path(os.environ.get("CANDOR_TEST_SCREENSHOTS", tmp_path)) / "languages"
    shots.mkdir(parents=True, exist_ok=True)
    add_hr_user(tmp_path / "server-data")
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as server:
        seeded = seed(server, server.data_dir)
        data = (*JOB["title"].split(), *QUESTIONS, "标准面试", *(n for n, _ in CANDIDATES), "项目管理", "安全意识",
                "大型项目", "规程",
                # The new-job form names each interview language with its code ("한국어 (ko)").
                *(f"({code})" for code in ("ko", "en", "ja", "zh", "de", "fr", "es")),
                # The invite form's deadline names the viewer's time zone by its IANA identifier (hr.js).
                "Asia/Shanghai")
        # A browser that asks for English: the user's choice must win over it.
        context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US",
                                      timezone_id="Asia/Shanghai")
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server}/login?next=/account")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{server}/account")
            assert page.get_attribute("html", "lang") == "en"

            page.get_by_label("Language of your pages").select_option("zh_CN")
            page.get_by_role("button", name="Save language").click()
            page.wait_for_url(f"{server}/account?done=language")
            assert page.inner_text("#done-notice") == "您的语言设置已保存。"
            check_pages(page, server, hr_pages(seeded), data, "zh-CN", shots)
            # The invite form's deadline is typed in the viewer's zone: hr.js rewrites the label's
            # "(UTC)", which the translation keeps as written for that.
            page.goto(f"{server}/templates/{seeded['template']}")
            assert page.inner_text("label[for=deadline]") == "截止时间 （您的时间，Asia/Shanghai）"
            # The rule builder reads a rule back in the page's language (hr.js, from the catalogue),
            # in the same words as the job page (server/pages/rule_words.py).
            page.goto(f"{server}/jobs/new")
            page.select_option("#rule_signal_0_0", "keyword_hits:")
            page.fill("#rule_arg_0_0", "规程")
            page.fill("#rule_value_0_0", "1")
            page.fill("#rule_points_0_0", "10")
            assert page.inner_text("[data-rule='0-0'] .rule-sentence") == "每个回答中：当说出“规程”的次数不低于 1 时，加 10 分。"
            # Times are in the viewer's zone and the page's language (hr.js).
            page.goto(f"{server}/candidates")
            shown = page.locator("td time.when").first.inner_text()
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d GMT\+8", shown), shown

            # Switching to Korean changes every page at once.
            page.goto(f"{server}/account")
            page.get_by_label("页面语言").select_option("ko")
            page.get_by_role("button", name="保存语言").click()
            page.wait_for_url(f"{server}/account?done=language")
            assert page.inner_text("#done-notice") == "언어 설정이 저장되었습니다."
            assert page.get_by_role("navigation").get_by_role("link", name="지원자").is_visible()
            check_pages(page, server, hr_pages(seeded), data, "ko", shots)
            assert not errors, errors
        finally:
            context.close()

        # The candidate: the job is Korean, the browser English; the page speaks the job's language.
        candidate = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US",
                                        timezone_id="Asia/Seoul")
        candidate.set_default_timeout(15_000)
        try:
            page = candidate.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(seeded["open_link"])
            assert page.get_attribute("html", "lang") == "ko"
            names = ("김민수", *data)
            assert not english_words(shown_text(page), names), shown_text(page)
            assert "현장 엔지니어" not in page.inner_text("h1") and "现场工程师" in page.inner_text("h1")
            assert "년" in page.inner_text(".iv-sub time.when")  # the deadline in Korean, in Seoul time
            page.get_by_role("button", name="동의합니다. AI 지원 면접을 시작합니다").click()
            page.wait_for_function("() => document.body.dataset.state === 'devices'")
            page.wait_for_function("() => !document.getElementById('join').disabled")
            status = page.inner_text("#device-status")
            assert status.startswith("카메라와 마이크가 정상 작동합니다"), status  # interview.js, from the catalogue
            assert not english_words(shown_text(page), names), shown_text(page)
            page.screenshot(path=str(shots / "ko-candidate-devices.png"), full_page=True)
            assert not errors, errors
        finally:
            candidate.close()
