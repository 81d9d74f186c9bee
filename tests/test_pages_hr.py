"""The HR pages (plain HTML forms): login and sessions, CSRF, the job/template/candidate forms
with their validation errors, batch invitations with resume boosts, and 404s for what a user
may not see."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from server import auth
from server.app import create_app
from server.settings import Settings
from server.jobs import job_detail
from server.tables import AuditLog, AuthToken, Interview, InterviewWeight, Job, QuestionSignals, Template
from server.web import SESSION_COOKIE, settings_key, store_key

PASSWORD = "correct horse battery staple"
HR_EMAIL = "hr@example.com"
OTHER_EMAIL = "other@example.com"


@pytest.fixture
async def app_client(aiohttp_client: Any, tmp_path: Path) -> Any:
    app = create_app(Settings(data_dir=tmp_path, load_models=False))
    client = await aiohttp_client(app)
    store = app[store_key]
    for email in (HR_EMAIL, OTHER_EMAIL):
        store.run_sync(lambda db, email=email: auth.create_user(db, email, PASSWORD, "hr"))
    return client


def store_of(client: Any) -> Any:
    return client.server.app[store_key]


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def text_of(page: str) -> str:
    """The page's text with tags removed and entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def log_in(client: Any, email: str = HR_EMAIL) -> str:
    """Log in through the form; return the CSRF token of the session."""
    resp = await client.post("/login", data={"email": email, "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    resp = await client.get("/jobs")
    assert resp.status == 200
    return csrf_of(await resp.text())


async def post(client: Any, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> Any:
    return await client.post(path, data=data, allow_redirects=False)


JOB_FORM = {
    "title": "Site engineer",
    "language": "en",
    "analyze_eye_contact": "on",
    "analyze_posture": "on",
    "rows": "5",
    "dim_name_0": "Project management",
    "dim_keywords_0": "large project, schedule",
    "dim_rules_0": "keyword_hits:schedule >= 1 10\nkeyword_hits:large project >= 1 5",
    "dim_name_2": "Safety",  # row 1 is left blank: ignored
    "dim_description_2": "Follows procedure on site",
    "dim_keywords_2": "procedure",
    "dim_rules_2": "eye_contact_ratio >= 0.6 20",
    "action": "create",
}


async def make_job(client: Any, csrf: str, form: dict[str, str] | None = None) -> int:
    resp = await post(client, "/jobs/new", {**(form or JOB_FORM), "csrf_token": csrf})
    assert resp.status == 303, text_of(await resp.text())
    match = re.fullmatch(r"/jobs/(\d+)", resp.headers["Location"])
    assert match
    return int(match.group(1))


def dimension_ids(page: str, question: int = 0) -> list[int]:
    return [int(x) for x in re.findall(rf'name="q_dim_{question}_(\d+)"', page)]


async def make_template(client: Any, csrf: str, job_id: int) -> int:
    page = await (await client.get(f"/jobs/{job_id}/templates/new")).text()
    pm, safety = dimension_ids(page)
    resp = await post(client, f"/jobs/{job_id}/templates/new", {
        "csrf_token": csrf, "rows": "3", "name": "First round",
        "q_text_0": "Tell us about a large project.", "q_time_0": "90",
        f"q_dim_0_{pm}": "on", f"q_weight_0_{pm}": "2",
        f"q_dim_0_{safety}": "on", f"q_weight_0_{safety}": "1",
        "q_text_1": "How do you keep a site safe?", "q_time_1": "60",
        f"q_dim_1_{safety}": "on", f"q_weight_1_{safety}": "1.5",
    })
    assert resp.status == 303, text_of(await resp.text())
    match = re.fullmatch(r"/templates/(\d+)", resp.headers["Location"])
    assert match
    return int(match.group(1))


async def make_candidate(client: Any, csrf: str, name: str, email: str, resume: str = "") -> int:
    resp = await post(client, "/candidates", {"csrf_token": csrf, "name": name, "email": email,
                                              "resume_text": resume})
    assert resp.status == 303, text_of(await resp.text())
    match = re.fullmatch(r"/candidates\?added=(\d+)", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return int(match.group(1))


def future(days: float = 7) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# --- login, sessions, CSRF -----------------------------------------------------------------

async def test_pages_redirect_to_login_without_a_session(app_client: Any) -> None:
    for path, expected in (("/jobs", "/login?next=/jobs"),
                           ("/jobs/new", "/login?next=/jobs/new"),
                           ("/candidates?q=ada", "/login?next=/candidates%3Fq%3Dada"),
                           ("/templates/1", "/login?next=/templates/1")):
        resp = await app_client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"] == expected
    # A form posted without a session also goes to the login page (and changes nothing).
    resp = await post(app_client, "/jobs/new", {**JOB_FORM, "csrf_token": "x"})
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/jobs/new"
    assert store_of(app_client).run_sync(lambda db: db.exec(select(func.count()).select_from(Job)).one()) == 0
    # A forged cookie is no session.
    app_client.session.cookie_jar.update_cookies({SESSION_COOKIE: "forged"})
    resp = await app_client.get("/jobs", allow_redirects=False)
    assert resp.status == 303


async def test_login_wrong_password_shows_the_form_again(app_client: Any) -> None:
    resp = await app_client.get("/login?next=/candidates")
    assert resp.status == 200
    page = await resp.text()
    assert 'name="next" value="/candidates"' in page
    for email, password in ((HR_EMAIL, "wrong password!!"), ("nobody@example.com", PASSWORD),
                            ("not an email", PASSWORD)):
        resp = await post(app_client, "/login", {"email": email, "password": password,
                                                 "next": "/candidates"})
        assert resp.status == 401
        page = await resp.text()
        assert "Wrong email or password" in page
        assert f'value="{html.escape(email)}"' in page  # the email is kept
        assert 'name="next" value="/candidates"' in page
        assert SESSION_COOKIE not in resp.cookies


async def test_login_sets_a_safe_cookie_and_follows_next(app_client: Any) -> None:
    resp = await post(app_client, "/login", {"email": "HR@example.com ", "password": PASSWORD,
                                             "next": "/candidates?q=x"})
    assert resp.status == 303
    assert resp.headers["Location"] == "/candidates?q=x"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in the test
    token = resp.cookies[SESSION_COOKIE].value
    principal = store_of(app_client).run_sync(lambda db: auth.resolve_token(db, token))
    assert principal is not None and principal.token_kind == "session" and principal.csrf_token
    # Logged in: the login page sends you on.
    resp = await app_client.get("/login", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/jobs"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "jobs", ""])
async def test_login_never_redirects_off_site(app_client: Any, target: str) -> None:
    resp = await post(app_client, "/login", {"email": HR_EMAIL, "password": PASSWORD,
                                             "next": target})
    assert resp.status == 303
    assert resp.headers["Location"] == "/jobs"


async def test_login_form_from_another_site_is_refused(app_client: Any) -> None:
    resp = await app_client.post("/login", data={"email": HR_EMAIL, "password": PASSWORD},
                                 headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert resp.status == 403
    assert SESSION_COOKIE not in resp.cookies


async def test_logout_needs_csrf_and_ends_the_session(app_client: Any) -> None:
    csrf = await log_in(app_client)
    resp = await post(app_client, "/logout", {})
    assert resp.status == 403
    assert "security token" in await resp.text()
    resp = await post(app_client, "/logout", {"csrf_token": csrf})
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert store_of(app_client).run_sync(
        lambda db: db.exec(select(func.count()).select_from(AuthToken)).one()) == 0
    resp = await app_client.get("/jobs", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_forms_without_the_right_csrf_token_are_refused(app_client: Any) -> None:
    csrf = await log_in(app_client)
    for token in (None, "", "wrong", csrf[:-1]):
        data = dict(JOB_FORM)
        if token is not None:
            data["csrf_token"] = token
        resp = await post(app_client, "/jobs/new", data)
        assert resp.status == 403
        page = await resp.text()
        assert "Not allowed" in page and "security token" in page
    resp = await post(app_client, "/candidates", {"name": "A", "email": "a@example.com"})
    assert resp.status == 403
    # Another user's CSRF token does not fit this session.
    other_csrf = store_of(app_client).run_sync(lambda db: auth.issue_token(
        db, auth.authenticate(db, OTHER_EMAIL, PASSWORD), "session", 1)[1].csrf_token)
    resp = await post(app_client, "/jobs/new", {**JOB_FORM, "csrf_token": other_csrf})
    assert resp.status == 403
    assert store_of(app_client).run_sync(
        lambda db: db.exec(select(func.count()).select_from(Job)).one()) == 0
    # A bearer token (API client) has no CSRF token: page forms refuse it too.
    api = await app_client.post("/api/login", json={"email": HR_EMAIL, "password": PASSWORD})
    bearer = (await api.json())["token"]
    resp = await app_client.post("/jobs/new", data={**JOB_FORM, "csrf_token": csrf},
                                 headers={"Authorization": f"Bearer {bearer}"},
                                 allow_redirects=False)
    assert resp.status == 403


async def test_pages_are_listed_in_openapi(app_client: Any) -> None:
    doc = await (await app_client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    for path, methods in {
        "/login": {"get", "post"}, "/logout": {"post"}, "/jobs": {"get"},
        "/jobs/new": {"get", "post"}, "/jobs/{job_id}": {"get"},
        "/jobs/{job_id}/templates/new": {"get", "post"}, "/templates/{template_id}": {"get", "post"},
        "/candidates": {"get", "post"}, "/candidates/{candidate_id}": {"get"},
        "/invitations": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert "text/html" in paths[path][method]["responses"]["200"]["content"]
    assert "security" in paths["/jobs"]["get"]
    assert "403" in paths["/jobs/new"]["post"]["responses"]


# --- jobs ----------------------------------------------------------------------------------

async def test_create_job_through_the_form(app_client: Any) -> None:
    csrf = await log_in(app_client)
    page = await (await app_client.get("/jobs/new")).text()
    assert page.count('name="dim_name_') == 5
    assert 'name="language"' in page and 'value="ko"' in page  # settings.default_language
    job_id = await make_job(app_client, csrf)
    resp = await app_client.get(f"/jobs/{job_id}")
    assert resp.status == 200
    text = text_of(await resp.text())
    assert "Site engineer" in text and "Project management" in text and "Safety" in text
    # Rules read as sentences (with the rule itself alongside).
    assert "In each answer: when the times “schedule” is said is at least 1, add 10 points." in text
    assert "keyword_hits:large project >= 1 → +5" in text
    assert "In each answer: when the eye contact (share of frames) is at least 0.6, add 20 points." in text
    assert "Facial expression (smiles) off" in text and "Eye contact on" in text
    job = store_of(app_client).run_sync(lambda db: db.get(Job, job_id))
    assert job.language == "en" and not job.analyze_expression and job.analyze_posture
    listing = text_of(await (await app_client.get("/jobs")).text())
    assert "Site engineer" in listing


async def test_more_dimension_rows_without_javascript(app_client: Any) -> None:
    csrf = await log_in(app_client)
    resp = await post(app_client, "/jobs/new", {**JOB_FORM, "action": "more", "csrf_token": csrf})
    assert resp.status == 200
    page = await resp.text()
    assert page.count('name="dim_name_') == 8
    assert 'value="Site engineer"' in page and "keyword_hits:large project &gt;= 1 5" in page
    form = {**JOB_FORM, "rows": "8", "dim_name_7": "Teamwork", "csrf_token": csrf}
    job_id = await make_job(app_client, csrf, form)
    text = text_of(await (await app_client.get(f"/jobs/{job_id}")).text())
    assert "Teamwork" in text


@pytest.mark.parametrize("change, message", [
    ({"title": "  "}, "Job title must not be empty"),
    ({"dim_rules_0": "keyword_hits:schedule at least 1"}, "Dimension 1, rule line 1"),
    ({"dim_rules_2": "eye_contact_ratio >= lots 20"}, "Dimension 3, rule line 1: value must be a number"),
    ({"dim_rules_2": "charisma >= 1 20"}, "is not a known signal"),
    ({"dim_name_2": ""}, "Dimension 3: name must not be empty"),
    ({"dim_name_2": "project MANAGEMENT"}, "Dimension names must be unique"),
    ({"language": "Korean!"}, "choose one of the languages offered"),
    ({"dim_name_0": "", "dim_keywords_0": "", "dim_rules_0": "", "dim_name_2": "",
      "dim_description_2": "", "dim_keywords_2": "", "dim_rules_2": ""}, "at least one competency dimension"),
])
async def test_job_form_errors_keep_the_input(app_client: Any, change: dict[str, str],
                                              message: str) -> None:
    csrf = await log_in(app_client)
    resp = await post(app_client, "/jobs/new", {**JOB_FORM, **change, "csrf_token": csrf})
    assert resp.status == 422
    page = await resp.text()
    assert message in text_of(page)
    assert 'role="alert"' in page
    title = change.get("title", JOB_FORM["title"])
    assert f'value="{html.escape(title)}"' in page
    assert store_of(app_client).run_sync(
        lambda db: db.exec(select(func.count()).select_from(Job)).one()) == 0


# --- templates -----------------------------------------------------------------------------

FOUR_DIMENSIONS = {
    "title": "Foreman", "rows": "5", "action": "create",
    **{f"dim_name_{i}": name for i, name in enumerate(("Planning", "Safety", "Teamwork", "Quality"))},
}


async def test_template_builder_creates_questions_with_weights(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)
    resp = await app_client.get(f"/templates/{template_id}")
    assert resp.status == 200
    text = text_of(await resp.text())
    assert "Tell us about a large project." in text
    assert "Time limit: 90 s" in text
    assert "Project management × 2" in text and "Safety × 1" in text and "Safety × 1.5" in text
    assert "Deadline (UTC)" in text and "taken as UTC" in text
    assert "First round" in text_of(await (await app_client.get(f"/jobs/{job_id}")).text())


async def test_template_builder_validation(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf, {**FOUR_DIMENSIONS})
    page = await (await app_client.get(f"/jobs/{job_id}/templates/new")).text()
    dims = dimension_ids(page)
    assert len(dims) == 4
    base = {"csrf_token": csrf, "rows": "3", "name": "Round one", "action": "create"}

    async def submit(extra: dict[str, str]) -> str:
        resp = await post(app_client, f"/jobs/{job_id}/templates/new", {**base, **extra})
        assert resp.status == 422
        return await resp.text()

    # A question with no dimension.
    page = await submit({"q_text_0": "Why this job?", "q_time_0": "60"})
    assert "Question 1: choose at least one dimension" in text_of(page)
    assert "Why this job?" in page and 'value="Round one"' in page
    # A question with four dimensions.
    page = await submit({"q_text_0": "Why this job?", "q_time_0": "60",
                         **{f"q_dim_0_{d}": "on" for d in dims}})
    assert "Question 1: choose at most 3 dimensions (you chose 4)" in text_of(page)
    for d in dims:  # the ticks are kept
        assert re.search(rf'name="q_dim_0_{d}" value="on" checked', page)
    # A negative, a zero and a non-numeric weight (question 2; question 1 is fine).
    ok = {"q_text_0": "Why this job?", "q_time_0": "60", f"q_dim_0_{dims[0]}": "on",
          f"q_weight_0_{dims[0]}": "1"}
    page = await submit({**ok, "q_text_1": "Tell us about safety.", "q_time_1": "60",
                         f"q_dim_1_{dims[1]}": "on", f"q_weight_1_{dims[1]}": "-2",
                         f"q_dim_1_{dims[2]}": "on", f"q_weight_1_{dims[2]}": "0",
                         f"q_dim_1_{dims[3]}": "on", f"q_weight_1_{dims[3]}": "much"})
    text = text_of(page)
    assert "Question 2: weight for Safety must be greater than 0" in text
    assert "Question 2: weight for Teamwork must be greater than 0" in text
    assert "Question 2: weight for Quality must be a number" in text
    assert 'value="-2"' in page and 'value="much"' in page
    # Time limit out of range, empty name, no questions at all.
    page = await submit({**ok, "q_time_0": "5"})
    assert "Question 1: the time limit must be between 10 and 3600 seconds" in text_of(page)
    page = await submit({**ok, "name": " "})
    assert "Template name must not be empty" in text_of(page)
    page = await submit({})
    assert "Add at least one question" in text_of(page)
    assert store_of(app_client).run_sync(
        lambda db: db.exec(select(func.count()).select_from(Template)).one()) == 0
    # "Add more questions" keeps what was typed and adds rows.
    resp = await post(app_client, f"/jobs/{job_id}/templates/new", {**base, **ok, "action": "more"})
    assert resp.status == 200
    page = await resp.text()
    assert page.count('name="q_text_') == 5 and "Why this job?" in page


# --- candidates ----------------------------------------------------------------------------

async def test_candidate_pool_add_search_and_details(app_client: Any) -> None:
    csrf = await log_in(app_client)
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com",
                               "Led a large project on the bridge.\nSafety procedure trainer.")
    bob = await make_candidate(app_client, csrf, "Bob Builder", "bob@example.com", "Carpentry.")
    # After adding, the pool page again with an empty form, saying who was added.
    page = await (await app_client.get(f"/candidates?added={bob}")).text()
    assert "Added Bob Builder (bob@example.com). Add another below" in text_of(page)
    assert 'id="name" name="name" type="text" maxlength="200" required value="" data-focus' in page
    assert "Added" not in text_of(await (await app_client.get("/candidates?added=99999")).text()).split("Add a candidate")[1][:20]
    text = text_of(await (await app_client.get("/candidates")).text())
    assert "Ada Lovelace" in text and "Bob Builder" in text
    assert "New" in text and "new" not in text.split("Status")[1].split("Add a candidate")[0]
    text = text_of(await (await app_client.get("/candidates?q=bridge")).text())
    assert "Ada Lovelace" in text and "Bob Builder" not in text
    text = text_of(await (await app_client.get("/candidates?q=nothing-matches")).text())
    assert "No candidate matches" in text
    page = await (await app_client.get(f"/candidates/{ada}")).text()
    assert "Led a large project on the bridge.\nSafety procedure trainer." in page
    assert "Not invited to any interview" in text_of(page)
    # Duplicate email: 409 with the form kept; a bad email: 422.
    resp = await post(app_client, "/candidates", {"csrf_token": csrf, "name": "Ada Again",
                                                  "email": "ADA@example.com", "resume_text": "x"})
    assert resp.status == 409
    page = await resp.text()
    assert "already exists" in page and 'value="Ada Again"' in page
    resp = await post(app_client, "/candidates", {"csrf_token": csrf, "name": "",
                                                  "email": "not-an-email"})
    assert resp.status == 422
    text = text_of(await resp.text())
    assert "Name must not be empty" in text and "Email not a valid email address" in text


# --- invitations ---------------------------------------------------------------------------

async def test_batch_invitation_shows_links_and_resume_boosts(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com",
                               "I ran a LARGE PROJECT for the city.")
    bob = await make_candidate(app_client, csrf, "Bob Builder", "bob@example.com", "Carpentry.")
    # The invitation form lists the pool and can be searched.
    page = await (await app_client.get(f"/templates/{template_id}?q=city")).text()
    assert f'value="{ada}"' in page and f'value="{bob}"' not in page
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("candidate_id", str(bob)),
        ("deadline", future()),
    ])
    # The links are shown once, in the answer to the POST (only their hashes are stored).
    assert resp.status == 200, text_of(await resp.text())
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    text = text_of(page)
    links = re.findall(r'value="(http://[^"]+/i/[^"]+)"', page)
    assert len(links) == 2
    base = str(app_client.make_url("")).rstrip("/")
    assert all(link.startswith(f"{base}/i/") for link in links)
    assert "Ada Lovelace" in text and "Bob Builder" in text
    assert "Project management ×1.5 (resume mentions: large project) in question 1" in text
    assert "The resume matched no dimension keywords" in text  # Bob
    weights = store_of(app_client).run_sync(lambda db: db.exec(select(InterviewWeight)).all())
    assert any(w.matched_keywords == ["large project"] and w.weight == w.base_weight * 1.5
               for w in weights)
    # Each link opens that candidate's interview page.
    for link in links:
        resp = await app_client.get(link.removeprefix(base))
        assert resp.status == 200
        page = await resp.text()
        assert "Site engineer" in page
    # The job, the template and the candidate now list the interviews.
    assert "Ada Lovelace" in text_of(await (await app_client.get(f"/jobs/{job_id}")).text())
    assert "Ada Lovelace" in text_of(await (await app_client.get(f"/templates/{template_id}")).text())
    text = text_of(await (await app_client.get(f"/candidates/{ada}")).text())
    assert "Site engineer" in text and "Invited" in text
    # Inviting the same candidate again while the link is open is a conflict, shown on the form.
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("deadline", future())])
    assert resp.status == 409
    assert "Already invited" in text_of(await resp.text())


async def test_lost_link_is_reissued_and_the_old_one_stops_working(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com")
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("deadline", future())])
    base = str(app_client.make_url("")).rstrip("/")
    [old] = re.findall(r'value="(http://[^"]+/i/[^"]+)"', await resp.text())
    old_token = old.rsplit("/", 1)[1]
    [interview_id] = store_of(app_client).run_sync(lambda db: [i.id for i in db.exec(select(Interview))])

    # The database holds no link: not in the row, not anywhere in the file.
    db_file = Path(str(store_of(app_client).engine.url.database))
    for path in db_file.parent.glob(db_file.name + "*"):  # the database and its journal files
        assert old_token.encode() not in path.read_bytes()

    # Later the page shows the invitation without its link, and offers a new one.
    page = await (await app_client.get(f"/invitations?interviews={interview_id}")).text()
    assert "/i/" not in page and "Issue a new link" in text_of(page)
    resp = await post(app_client, f"/interviews/{interview_id}/link", [("csrf_token", csrf)])
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    [new] = re.findall(r'value="(http://[^"]+/i/[^"]+)"', page)
    assert new != old and "Copy the link now" in text_of(page)
    assert (await app_client.get(old.removeprefix(base))).status == 404
    assert (await app_client.get(new.removeprefix(base))).status == 200
    actions = store_of(app_client).run_sync(lambda db: [a.action for a in db.exec(select(AuditLog))])
    assert actions.count("invitation.reissue") == 1
    # Without the CSRF token nothing is issued.
    resp = await post(app_client, f"/interviews/{interview_id}/link", [])
    assert resp.status == 403
    assert (await app_client.get(new.removeprefix(base))).status == 200

    # Revoked (sent to the wrong address): the page says so and offers a new link later.
    resp = await post(app_client, f"/interviews/{interview_id}/revoke", [("csrf_token", csrf)])
    assert resp.status == 303
    page = text_of(await (await app_client.get(resp.headers["Location"])).text())
    assert "The link was revoked" in page and "Link revoked" in page and "Issue a new link" in page
    assert (await app_client.get(new.removeprefix(base))).status == 404

    # The deadline: a new one in UTC; a past one is refused in words, on the same page.
    resp = await post(app_client, f"/interviews/{interview_id}/deadline",
                      [("csrf_token", csrf), ("deadline", future(days=30))])
    assert resp.status == 303
    page = text_of(await (await app_client.get(resp.headers["Location"])).text())
    expected = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("deadline %Y-%m-%d")
    assert "The deadline was changed" in page and expected in page
    resp = await post(app_client, f"/interviews/{interview_id}/deadline",
                      [("csrf_token", csrf), ("deadline", "2001-01-01T10:00")])
    assert resp.status == 422 and "must be in the future" in text_of(await resp.text())


async def test_invitation_form_errors(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com")
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    cases = [
        ([("candidate_id", str(ada)), ("deadline", past)], "Deadline must be in the future"),
        ([("deadline", future())], "Choose at least one candidate"),
        ([("candidate_id", str(ada)), ("deadline", "")], "Choose a deadline"),
        ([("candidate_id", str(ada)), ("deadline", "next tuesday")], "Deadline is not a valid date"),
        ([("candidate_id", "abc"), ("deadline", future())], "is not a candidate"),
    ]
    for fields, message in cases:
        resp = await post(app_client, f"/templates/{template_id}", [("csrf_token", csrf), *fields])
        assert resp.status == 422, fields
        page = await resp.text()
        assert message in text_of(page), (message, text_of(page))
        assert "Invite candidates" in page  # the form is shown again
    # The ticked candidate and the typed deadline are kept.
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("deadline", past)])
    page = await resp.text()
    assert re.search(rf'value="{ada}" checked', page) and f'value="{past}"' in page
    # ... even when the search that was active does not match them.
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("q", "zzz-no-match"), ("candidate_id", str(ada)), ("deadline", past)])
    page = await resp.text()
    assert re.search(rf'value="{ada}" checked', page) and 'value="zzz-no-match"' in page
    # Unknown candidate id: not found, shown on the form.
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", "987654"), ("deadline", future())])
    assert resp.status == 404
    assert "Candidates not found: 987654" in text_of(await resp.text())
    assert store_of(app_client).run_sync(
        lambda db: db.exec(select(func.count()).select_from(Interview)).one()) == 0


# --- what a user may not see ---------------------------------------------------------------

async def test_unknown_and_invisible_ids_are_404_pages(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com")
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("deadline", future())])
    assert resp.status == 200
    [interview_id] = store_of(app_client).run_sync(lambda db: [i.id for i in db.exec(select(Interview))])
    interviews = f"/invitations?interviews={interview_id}"

    # Another HR user sees none of it.
    app_client.session.cookie_jar.clear()
    other_csrf = await log_in(app_client, OTHER_EMAIL)
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/templates/new", f"/templates/{template_id}",
                 interviews, "/jobs/999999", "/jobs/0", "/jobs/abc",
                 "/jobs/99999999999999999999999999", "/templates/424242", "/candidates/777",
                 "/candidates/-1", "/no-such-page"):
        resp = await app_client.get(path, allow_redirects=False)
        assert resp.status == 404, path
        page = await resp.text()
        assert "Not found" in page
        assert 'href="/jobs"' in page or "href='/'" in page, path  # a way back
    for path, data in ((f"/jobs/{job_id}/templates/new", {"name": "x"}),
                       (f"/templates/{template_id}", {"candidate_id": str(ada), "deadline": future()}),
                       (f"/interviews/{interview_id}/link", {})):
        resp = await post(app_client, path, {**data, "csrf_token": other_csrf})
        assert resp.status == 404, path
    assert "Site engineer" not in await (await app_client.get("/jobs")).text()
    # The candidate pool is shared; the other user's interviews are not.
    text = text_of(await (await app_client.get(f"/candidates/{ada}")).text())
    assert "Ada Lovelace" in text and "Site engineer" not in text
    resp = await app_client.get("/invitations?interviews=abc")
    assert resp.status == 400
    resp = await app_client.get("/invitations")
    assert resp.status == 400


async def test_job_and_candidate_pages_count_answers_not_the_question_index(app_client: Any) -> None:
    csrf = await log_in(app_client)
    job_id = await make_job(app_client, csrf)
    template_id = await make_template(app_client, csrf, job_id)  # two questions
    ada = await make_candidate(app_client, csrf, "Ada Lovelace", "ada@example.com")
    resp = await post(app_client, f"/templates/{template_id}", [
        ("csrf_token", csrf), ("candidate_id", str(ada)), ("deadline", future())])
    assert resp.status == 200

    def finish(db: Any) -> None:
        interview = db.exec(select(Interview)).one()
        # Question 1 answered twice (a redo: the first attempt does not count), question 2 skipped.
        for index, attempt, superseded, skipped in ((0, 0, True, False), (0, 1, False, False), (1, 0, False, True)):
            db.add(QuestionSignals(interview_id=interview.id, question_index=index, attempt=attempt,
                                   superseded=superseded, skipped=skipped))
        interview.state, interview.question_index = "completed", 2
        db.add(interview)

    store_of(app_client).run_sync(finish)
    for path in (f"/jobs/{job_id}", f"/candidates/{ada}"):
        text = text_of(await (await app_client.get(path)).text())
        assert "1 of 2 answered (1 skipped)" in text, (path, text)
        assert "2 / 2" not in text


async def test_rules_built_from_fields_warnings_and_every_error_at_once(app_client: Any) -> None:
    csrf = await log_in(app_client)
    base = {"csrf_token": csrf, "title": "Site engineer", "language": "en", "rows": "5", "action": "create",
            "dim_name_0": "Safety", "dim_keywords_0": "procedure, helmet"}
    # Two rules from the builder: a keyword heard in an answer, a phrase over the interview.
    form = {**base,
            "rule_scope_0_0": "answer", "rule_signal_0_0": "keyword_hits:", "rule_arg_0_0": "procedure",
            "rule_op_0_0": ">=", "rule_value_0_0": "1", "rule_points_0_0": "10",
            "rule_scope_0_1": "interview", "rule_signal_0_1": "mentions:", "rule_arg_0_1": "follow operating procedures",
            "rule_op_0_1": ">", "rule_value_0_1": "0.8", "rule_points_0_1": "10"}
    job_id = await make_job(app_client, csrf, form)
    job = store_of(app_client).run_sync(lambda db: job_detail(db, db.get(Job, job_id)))
    assert [(r["signal"], r["op"], r["value"], r["points"], r["scope"]) for r in job["dimensions"][0]["rules"]] == [
        ("keyword_hits:procedure", ">=", 1.0, 10.0, "answer"),
        ("mentions:follow operating procedures", ">", 0.8, 10.0, "interview")]
    text = text_of(await (await app_client.get(f"/jobs/{job_id}")).text())
    assert ("Over the whole interview: when the share of answers that mention “follow operating procedures” "
            "is more than 0.8, add 10 points.") in text

    # Every problem of one submit is listed at once: the title, a builder row, a text rule line,
    # an unknown signal.
    form = {**base, "title": " ", "rule_signal_0_0": "mentions:", "rule_value_0_0": "1", "rule_points_0_0": "5",
            "dim_rules_0": "keyword_hits:procedure at least 1\ncharisma >= 1 20"}
    resp = await post(app_client, "/jobs/new", form)
    assert resp.status == 422
    text = text_of(await resp.text())
    for message in ("Job title must not be empty", "Dimension 1, rule 1: type the phrase the rule looks for",
                    "Dimension 1, rule line 1", "is not a known signal"):
        assert message in text, message

    # Keywords the job's speech model can never put out: a warning first, then "create anyway".
    form = {**base, "title": "용접공", "dim_keywords_0": "안전, procedure"}
    resp = await post(app_client, "/jobs/new", {**form, "language": "ko"})
    assert resp.status == 422
    text = text_of(await resp.text())
    assert "“procedure” is written in Latin letters, but Korean transcripts are in Hangul (Korean)" in text
    assert "“안전”" not in text
    resp = await post(app_client, "/jobs/new", {**form, "language": "ko", "accept_warnings": "on"})
    assert resp.status == 303


async def test_servers_page_shows_this_process_to_an_admin_only(app_client: Any) -> None:
    await log_in(app_client)  # an HR user, not an admin
    resp = await app_client.get("/servers")
    assert resp.status == 403 and "Only an admin sees the server processes" in text_of(await resp.text())
    assert 'href="/servers"' not in await (await app_client.get("/jobs")).text()
    store_of(app_client).run_sync(lambda db: auth.create_user(db, "root@example.com", PASSWORD, "admin"))
    await log_in(app_client, "root@example.com")
    assert 'href="/servers"' in await (await app_client.get("/jobs")).text()
    page = await (await app_client.get("/servers")).text()
    text = text_of(page)
    # One process, no Redis: its own load, with the settings' places (CANDOR_MAX_SESSIONS).
    assert "runs as one process" in text
    places = app_client.app[settings_key].max_sessions
    assert f"Interviews holding media: 0 of {places} places; {places} free." in text
    assert len(re.findall(r'<tr data-process="', page)) == 1 and "this page's process" in text
