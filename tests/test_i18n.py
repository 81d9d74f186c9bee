"""The pages' languages (server/i18n.py): no user-visible words outside the gettext catalogues,
catalogues complete for Chinese and Korean and in step with the sources, and the language a
response speaks: the HR user's choice, else the browser's; the job's on the candidate's pages.
The Chromium check that no English is left on the pages is tests/test_i18n_browser.py."""
from __future__ import annotations

import contextlib
import contextvars
import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from conftest import JOB, Api, invite, login
from server import i18n
from server.i18n_cli import KEYWORDS
from server.rendering import TEMPLATES_DIR
from tests.support.template_text import untranslated

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# PENDING: templates allowed to hold words outside the catalogue while a change to them is under
# way (named here, checked to exist below). None now: every page is translated.
PENDING: frozenset[str] = frozenset()
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")
TAG = re.compile(r"</?[a-z]+[^>]*>")


# --- the catalogue covers every template and script -------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES_DIR.glob("*.html") if p.name not in PENDING))
def test_no_template_holds_words_outside_the_catalogue(name: str) -> None:
    found = untranslated((TEMPLATES_DIR / name).read_text(encoding="utf-8"))
    assert not found, f"{name}: words outside {{% trans %}}/_():\n" + "\n".join(map(str, found))


def test_the_checker_finds_words_outside_the_catalogue() -> None:
    template = """{% extends "base.html" %}{% block title %}Jobs{% endblock %}
<h1>{{ _("Jobs") }}</h1>
<p>Add a job</p>
<input placeholder="Search jobs" aria-label="{{ _('Search') }}">
<button type="submit" title="Save it">{{ _("Save") }}</button>
<p>{% trans n=3 %}{{ n }} jobs{% endtrans %} · {{ "Draft" if draft else _("Ready") }}</p>
<p>{{ ngettext("%(num)s job", "%(num)s jobs", n) }} {{ {"a": 1}["a"] }} Candor 2026</p>"""
    texts = [f.text for f in untranslated(template)]
    assert texts == ["Jobs", "Add a job", "input[placeholder]=Search jobs", "button[title]=Save it",
                     "literal in {{ }}: Draft"], texts


def test_the_pending_templates_exist() -> None:
    # A name that no longer exists would silently widen the exception list.
    assert all((TEMPLATES_DIR / name).exists() for name in PENDING)


def _extracted() -> set[str]:
    """The msgids the sources hold now (templates, Python, static/*.js; babel.cfg)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(REPO):
        pot = Path(tmp) / "messages.pot"
        CommandLineInterface().run(["pybabel", "-q", "extract", "-F", "babel.cfg", *KEYWORDS, "-o", str(pot), "."])
        with pot.open("rb") as f:
            return {_key(m.id) for m in read_po(f) if m.id}


def _key(msgid: Any) -> str:
    return msgid[0] if isinstance(msgid, (tuple, list)) else msgid


def _catalogue(locale: str) -> Any:
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_catalogues_hold_every_message_of_the_sources(locale: str) -> None:
    in_sources = _extracted()
    in_catalogue = {_key(m.id) for m in _catalogue(locale) if m.id}
    missing = sorted(in_sources - in_catalogue)
    assert not missing, f"run `python run.py i18n update` and translate: {missing[:20]}"


@pytest.mark.parametrize("locale", ["zh_CN", "ko"])
def test_every_message_is_translated_with_its_placeholders(locale: str) -> None:
    problems = []
    for m in _catalogue(locale):
        if not m.id:
            continue
        source = _key(m.id)
        strings = [s for s in (m.string if isinstance(m.string, tuple) else (m.string,))]
        if not all(strings) or "fuzzy" in m.flags:
            problems.append(f"untranslated: {source!r}")
            continue
        for text in strings:
            if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(source)):
                problems.append(f"placeholders differ: {source!r} -> {text!r}")
            if sorted(TAG.findall(text)) != sorted(TAG.findall(source)):
                problems.append(f"markup differs: {source!r} -> {text!r}")
    assert not problems, "\n".join(problems[:30])


def test_script_strings_come_from_the_same_catalogue() -> None:
    ko = i18n.catalogue("ko").js
    assert ko["interview.js"]["Connecting…"] == "연결 중…"
    assert ko["monitor.js"]["Live feed connected"] == "실시간 피드 연결됨"
    assert "Live feed connected" not in ko["interview.js"]  # each script gets its own strings
    assert "Your interview" not in ko["interview.js"]  # a template's string is not sent to the scripts
    assert i18n.catalogue("en").js == {}  # English: the scripts' own words


# --- which language -------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    (None, "en"), ("", "en"), ("ko-KR,ko;q=0.9,en-US;q=0.8", "ko"), ("zh-CN,zh;q=0.9", "zh_CN"),
    ("zh-TW", "zh_CN"), ("fr-FR, en;q=0.5", "en"), ("de, ko;q=0.3, zh;q=0.7", "zh_CN"),
    ("ko;q=0, en;q=0.1", "en"), ("ko;q=abc, zh;q=0.2", "zh_CN"), ("fr", "en"),
])
def test_the_browsers_language_is_negotiated(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize("job_language, expected", [
    ("ko", "ko"), ("en", "en"), ("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh_CN", "zh_CN"), ("ja", "en"), (None, "en"),
])
def test_a_jobs_language_names_the_candidates_pages(job_language: str | None, expected: str) -> None:
    assert i18n.job_locale(job_language) == expected


def _html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match, page[:200]
    return match.group(1)


async def _page(hr: Api, path: str, **headers: str) -> str:
    resp = await hr.client.get(path, headers={**hr.headers, **headers})
    assert resp.status == 200, (path, resp.status)
    return await resp.text()


async def test_an_hr_user_chooses_a_language_and_the_browser_decides_before(client: Any, hr: Api) -> None:
    # No choice yet: the browser's language, English without one.
    page = await _page(hr, "/candidates")
    assert _html_lang(page) == "en" and ">Candidates</a>" in page
    page = await _page(hr, "/candidates", **{"Accept-Language": "ko-KR,ko;q=0.9"})
    assert _html_lang(page) == "ko" and ">지원자</a>" in page and "Candidates" not in page

    _, me = await hr.call("PATCH", "/api/me", json={"language": "zh_CN"}, expect=200)
    assert me["language"] == "zh_CN"
    page = await _page(hr, "/candidates", **{"Accept-Language": "ko"})  # the choice wins
    assert _html_lang(page) == "zh-CN" and ">候选人</a>" in page and "添加候选人" in page
    # The page scripts get their strings from the same catalogue, as JSON (no inline script).
    messages = json.loads(page.split('id="candor-i18n">', 1)[1].split("</script>", 1)[0])
    assert messages["Copied"] == "已复制"

    await hr.call("PATCH", "/api/me", json={"language": None}, expect=200)  # back to the browser's
    page = await _page(hr, "/account", **{"Accept-Language": "ko"})
    assert _html_lang(page) == "ko"
    status, body = await hr.call("PATCH", "/api/me", json={"language": "fr"})
    assert status == 422 and "error" in body


async def test_the_account_page_switches_the_language(client: Any, store: Any) -> None:
    await login(client, store, "pages@example.com")
    resp = await client.post("/login", data={"email": "pages@example.com", "password": "correct horse battery staple"},
                             allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/account")).text()
    assert 'name="language"' in page and "简体中文" in page and "한국어" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = await client.post("/account/language", data={"csrf_token": csrf, "language": "ko"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/account?done=language"
    page = await (await client.get("/account?done=language")).text()
    assert _html_lang(page) == "ko" and "언어 설정이 저장되었습니다." in page and "비밀번호 변경" in page
    assert '<option value="ko" lang="ko" selected>' in page
    # A made-up language is refused on the page, in the page's language.
    resp = await client.post("/account/language", data={"csrf_token": csrf, "language": "xx"})
    assert resp.status == 422 and "제공되는 언어 중 하나를 선택해 주세요" in await resp.text()
    # A form error in the chosen language.
    resp = await client.post("/account/password", data={"csrf_token": csrf, "current_password": "",
                                                        "new_password": "short", "new_password_again": ""})
    assert resp.status == 422
    text = await resp.text()
    assert "현재 비밀번호를 입력해 주세요" in text and "새 비밀번호는 12자 이상이어야 합니다" in text


async def test_the_login_page_follows_the_browser(client: Any) -> None:
    resp = await client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = await resp.text()
    assert _html_lang(page) == "zh-CN" and "登录 Candor" in page and "Log in" not in page
    resp = await client.post("/login", data={"email": "nobody@example.com", "password": "x" * 12},
                             headers={"Accept-Language": "ko"})
    assert resp.status == 401 and "이메일 또는 비밀번호가 올바르지 않습니다" in await resp.text()


async def test_the_candidates_page_speaks_the_jobs_language(client: Any, hr: Api) -> None:
    token, _ = await invite(hr)  # conftest's JOB has no language: the default, Korean
    page = await (await client.get(f"/i/{token}", headers={"Accept-Language": "en"})).text()
    assert _html_lang(page) == "ko"
    assert "Site engineer 면접" in page and "동의합니다. AI 지원 면접을 시작합니다" in page
    assert "I agree" not in page
    config = json.loads(page.split('id="candor-config">', 1)[1].split("</script>", 1)[0])
    assert config["notice_language"] == "ko"  # the notice in the page's language, recorded with consent
    assert 'id="notice-text" lang="ko"' in page
    messages = json.loads(page.split('id="candor-i18n">', 1)[1].split("</script>", 1)[0])
    assert messages["Question %(n)s of %(count)s"] == "질문 %(n)s / %(count)s"
    # The candidate may read it in another language.
    page = await (await client.get(f"/i/{token}?lang=en")).text()
    assert _html_lang(page) == "en" and "I agree, start the AI-assisted interview" in page

    # An English job: English, whatever the browser says.
    _, job = await hr.call("POST", "/api/jobs", json={**JOB, "title": "Welder", "language": "en"}, expect=201)
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
        {"text": "Why welding?", "time_limit_s": 60, "dimensions": [{"dimension_id": job["dimensions"][0]["id"],
                                                                     "weight": 1}]}]}, expect=201)
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Bo", "email": "bo@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl["id"], "candidate_ids": [c["id"]], "deadline": "2099-01-01T00:00:00Z"}, expect=201)
    en_token = inv["invitations"][0]["url"].rsplit("/", 1)[1]
    page = await (await client.get(f"/i/{en_token}", headers={"Accept-Language": "ko"})).text()
    assert _html_lang(page) == "en" and "Interview for Welder" in page


async def test_closed_and_unknown_links_speak_a_language_the_candidate_reads(client: Any, hr: Api) -> None:
    page = await (await client.get("/i/" + "A" * 43, headers={"Accept-Language": "zh-CN"})).text()
    assert _html_lang(page) == "zh-CN" and "此链接无法打开面试" in page
    page = await (await client.get("/i/" + "A" * 43)).text()
    assert "This link does not open an interview" in page


async def test_the_voluntary_form_after_the_interview_speaks_the_jobs_language(client: Any, hr: Api,
                                                                                store: Any) -> None:
    from server.tables import Interview

    token, iid = await invite(hr)  # a Korean job

    def complete(db: Any) -> None:
        row = db.get(Interview, iid)
        row.state = "completed"
        db.add(row)

    store.run_sync(complete)
    page = await (await client.get(f"/i/{token}", headers={"Accept-Language": "en"})).text()
    assert _html_lang(page) == "ko" and "면접이 완료되었습니다" in page and "본인에 관한 몇 가지 자율 질문" in page
    page = await (await client.get(f"/i/{token}/about-you", headers={"Accept-Language": "en"})).text()
    assert _html_lang(page) == "ko" and "선택 사항: 본인 정보" in page
    assert ">여성</label>" in page.replace('value="female"> ', 'value="female">') or "여성" in page
    assert "답변하지 않겠습니다" in page and "Female" not in page


# --- e-mail to candidates ----------------------------------------------------------------------

@pytest.mark.parametrize("language, subject, words", [
    ("ko", "Site engineer 화상 면접 안내", ("님, 안녕하세요", "사람만 검토하는 방식", "2개 질문", "년 ", "(Asia/Seoul, UTC+09:00)")),
    ("zh", "Site engineer 视频面试邀请", ("您好", "仅由人工评审", "2 道题", "年", "(Asia/Seoul, UTC+09:00)")),
])
async def test_a_candidate_is_invited_by_email_in_the_jobs_language(aiohttp_client: Any, tmp_path: Path,
                                                                    language: str, subject: str,
                                                                    words: tuple[str, ...]) -> None:
    import asyncio

    from tests.support.smtp import smtp_server
    from tests.test_mail import deadline_in, mail_client, mail_settings

    with smtp_server() as smtp:
        client, store = await mail_client(aiohttp_client, mail_settings(tmp_path, smtp))
        try:
            hr = await login(client, store, "hr@example.com")
            status, job = await hr.call("POST", "/api/jobs", json={**JOB, "language": language})
            if status == 422:
                # No speech model of that language here (none for Chinese is on PyPI): a job made
                # elsewhere, where one is installed, reaches this server through the shared
                # database; its messages do not need the model.
                assert "speech" in job["error"] or "model" in job["error"], job
                _, job = await hr.call("POST", "/api/jobs", json=JOB, expect=201)

                def speak(db: Any) -> None:
                    from server.tables import Job
                    row = db.get(Job, job["id"])
                    row.language = language
                    db.add(row)

                store.run_sync(speak)
            _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
                {"text": q, "time_limit_s": 60, "dimensions": [{"dimension_id": job["dimensions"][0]["id"], "weight": 1}]}
                for q in ("Q1", "Q2")]}, expect=201)
            _, c = await hr.call("POST", "/api/candidates", json={
                "name": "Kim", "email": "kim@example.com", "time_zone": "Asia/Seoul"}, expect=201)
            await hr.call("POST", "/api/invitations", json={"template_id": tpl["id"], "candidate_ids": [c["id"]],
                                                            "deadline": deadline_in(48)}, expect=201)
            received = await asyncio.to_thread(smtp.handler.wait_for, 1)
        finally:
            store.close()
    message = received[0]
    assert message.message["Subject"] == subject
    text = message.text()
    assert all(w in text for w in words), text
    assert "Hello" not in text and "human-only" not in text


# --- the report's computed sentences (server/report_words.py) ------------------------------------

def in_language(locale: str, work: Callable[[], T]) -> T:
    """`work()` with the request language set, in a copy of the context (nothing leaks into the
    tests after it: an unset language is what the HR page gate looks for)."""
    def run() -> T:
        i18n.use_locale(locale)
        return work()
    return contextvars.copy_context().run(run)


ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")
RULE = "mentions:大型项目 > 0.8 10"  # a rule in its syntax: identifiers, the same in every language


def _report_sentences() -> list[str]:
    """Sentences as the report code writes them (real functions, English: the API's words)."""
    from server.evidence_words import evidence_line
    from server.reports import _percentile_text, evidence_warnings, percentile, recommend
    from server.scoring import evidence_gaps

    gaps = {0: evidence_gaps({"word_count": 0.0}), 1: evidence_gaps({"word_count": 12.0, "face_present_ratio": 0.0})}
    why = "no counted answer: question 1: " + gaps[0][0].reason
    warnings = evidence_warnings(gaps, [3], [2], 0.4, 0.6, [("安全意识", why)])
    warnings += evidence_warnings({}, [], [], 0.8, 0.6, [("安全意识", why), ("项目管理", "no counted answer")])
    hires = [{"项目管理": 80.0}, {"项目管理": 84.0}, {"项目管理": 90.0}]
    reasons = [
        recommend({}, []).reason,
        recommend({"项目管理": 30.0}, [], coverage=0.4, not_assessed=["安全意识"]).reason,
        recommend({"项目管理": 75.0}, []).reason,
        recommend({"项目管理": 55.0, "安全意识": 20.0}, [], coverage=0.9).reason,
        recommend({"项目管理": 60.0}, hires, not_assessed=["安全意识"]).reason,
        recommend({"项目管理": 86.0}, hires).reason,
    ]
    percentiles = [_percentile_text(percentile(60.0, [50.0] * 6), True),
                   _percentile_text(percentile(60.0, [1.0]), True), _percentile_text(percentile(60.0, []), False)]
    evidence = [evidence_line(item) or "" for item in (
        {"kind": "question", "question_index": 0, "score": 80.0, "weight": 1, "fault": True, "paused_s": 3.0},
        {"kind": "keywords", "question_index": 0, "keywords": ["大型项目"], "points": 10.0,
         "spans": [{"start_s": 2.0, "text": "大型项目"}, {"start_s": 5.0, "text": "项目管理"}]},
        {"kind": "not_counted", "question_index": 1, "reason": "no_evidence", "detail": gaps[0][0].reason},
        {"kind": "substance", "question_index": 0, "word_count": 12, "coherence": 0.5, "points": 3.0},
        {"kind": "interview_rule", "rule": RULE, "fired": False, "points": 10.0, "value": 0.5, "answers": 2},
    )]
    return ([w["text"] for w in warnings] + reasons + percentiles + [g.reason for gs in gaps.values() for g in gs]
            + evidence)


@pytest.mark.parametrize("locale", ["zh_CN", "ko"])
def test_the_reports_computed_sentences_are_shown_in_the_readers_language(locale: str) -> None:
    from server.report_words import translated

    sentences = _report_sentences()
    assert all(ENGLISH_WORD.search(s) for s in sentences)  # they are written in English (the API's)
    shown_all = in_language(locale, lambda: [translated(s) for s in sentences])
    for sentence, shown in zip(sentences, shown_all, strict=True):
        left = ENGLISH_WORD.findall(shown.replace(RULE, ""))
        assert not left, f"{sentence!r} -> {shown!r}: English left {left}"
        # Numbers and names are kept.
        assert not Counter(re.findall(r"\d+", sentence)) - Counter(re.findall(r"\d+", shown)), (sentence, shown)
        assert all(name in shown for name in ("安全意识", "项目管理") if name in sentence)
    assert in_language(locale, lambda: translated("a sentence no pattern wrote")) == "a sentence no pattern wrote"
    assert in_language(locale, lambda: (translated(""), translated(None))) == ("", "")
    assert in_language("en", lambda: [translated(s) for s in sentences]) == sentences  # English: as written


def test_what_to_watch_before_deciding_is_english_for_the_api_and_translated_on_a_page() -> None:
    from server.review_gate import Answer, Gate

    clip = {"id": "h0-12", "start_s": 12.0, "end_s": 20.0}
    gate = Gate((Answer(0, 0, (0.0, 30.0), False, [clip]), Answer(1, 1, (30.0, 60.0), False)), frozenset())
    english = gate.missing_text()  # no language set (the API): English
    assert english == ("watch every answer first: open its key clips or its full recording (question 1: key clip "
                       "0:12–0:20 or its recording (0:00–0:30); question 2 (attempt 2): its recording (0:30–1:00))")
    korean = in_language("ko", gate.missing_text)
    assert korean is not None and not ENGLISH_WORD.findall(korean), korean
    assert "0:12–0:20" in korean and "질문 2(2번째 시도)" in korean


def test_admin_pages_words_from_python_follow_the_language() -> None:
    from server.auth import describe_wait
    from server.pages.adverse_impact import category_words, flag_words

    assert in_language("ko", lambda: category_words("female · asian")) == "여성 · 아시아계"  # the form's words
    assert in_language("ko", lambda: category_words("imported value")) == "imported value"  # not on the form
    assert in_language("ko", lambda: (describe_wait(1), describe_wait(300))) == ("1초", "5분")
    flag = "hired, sex: female at 0.50 of the highest rate"  # as server/adverse_impact.py writes it
    assert in_language("zh_CN", lambda: flag_words(flag)) == "已录用，性别：女 为最高比率的 0.50"
    assert flag_words(flag) == "Hired, Sex / gender: Female at 0.50 of the highest rate"
    assert not i18n.locale_is_set()
    assert category_words("female") == "Female"
    assert describe_wait(1) == "1 second" and describe_wait(90) == "2 minutes"  # the API's words


@pytest.mark.parametrize("locale", ["zh_CN", "ko"])
def test_version_history_lines_are_shown_in_the_readers_language(locale: str) -> None:
    """The lines server/versions.py writes (the API's English) read in the page's language,
    names and question texts kept; a changed-field word it does not know leaves the line as is."""
    from server.report_words import translated
    from server.versions import job_changes, template_changes

    q = {"id": 1, "index": 0, "text": "안전 절차", "time_limit_s": 60, "dimensions": [[1, 1.0]], "kind": "structured"}
    q2 = {"id": 2, "index": 1, "text": "팀워크", "time_limit_s": 90, "dimensions": [[2, 1.0]], "kind": "structured"}
    old_t = {"name": "기본", "questions": [q, q2]}
    new_t = {"name": "기본 v2", "questions": [
        {**q2, "index": 0, "time_limit_s": 120, "kind": "situational", "scenario": "고객이 화가 났습니다"},
        {"id": 3, "index": 1, "text": "리더십", "time_limit_s": 60, "dimensions": [[1, 1.0]], "kind": "structured"}]}
    d = {"id": 1, "name": "安全意识", "description": "", "keywords": ["规程"], "weight": 1.0, "rules": []}
    old_j = {"title": "工程师", "dimensions": [d, {**d, "id": 2, "name": "沟通"}]}
    new_j = {"title": "高级工程师", "dimensions": [{**d, "keywords": ["规程", "安全"], "weight": 2.0},
                                                {**d, "id": 3, "name": "客户同理心"}]}
    lines = template_changes(old_t, new_t) + job_changes(old_j, new_j)
    assert len(lines) >= 7 and all(ENGLISH_WORD.search(line) for line in lines), lines
    shown = in_language(locale, lambda: [translated(line) for line in lines])
    for line, text in zip(lines, shown, strict=True):
        assert not ENGLISH_WORD.findall(text), f"{line!r} -> {text!r}"
        assert all(w in text for w in ("기본", "안전 절차", "리더십", "工程师", "安全意识", "客户同理心", "沟通")
                   if w in line), (line, text)
    assert in_language(locale, lambda: translated("Safety: colour changed")) == "Safety: colour changed"
