"""HR's whole path through the pages in real headless Chromium against the real server:
log in, create a job with two dimensions, build a template with two questions, add a
candidate, invite them, and open the invitation link as the candidate would."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import REPO_ROOT, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

EMAIL = "hr@browser.example"
PASSWORD = "a long enough password"


def add_hr_user(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "adduser", EMAIL, "--role", "hr",
         "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, cwd=REPO_ROOT, timeout=60,
        env={**os.environ, "CANDOR_DATA_DIR": str(data_dir), "CANDOR_LOAD_MODELS": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hr_invites_a_candidate_through_the_pages(browser: Browser, tmp_path: Path) -> None:
    # running_server puts the data directory here; the user must exist before it starts.
    add_hr_user(tmp_path / "server-data")
    with running_server(tmp_path, env={"CANDOR_LOAD_MODELS": "0"}) as base:
        # An HR user in Seoul: times are shown, and deadlines typed, in their own time zone.
        context = browser.new_context(viewport={"width": 1200, "height": 900}, timezone_id="Asia/Seoul")
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Not logged in: the jobs page sends us to the login form, which sends us back.
            page.goto(f"{base}/jobs/new")
            assert re.search(r"/login\?next=/jobs/new$", page.url)
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill("wrong password, surely")
            page.get_by_role("button", name="Log in").click()
            assert "Wrong email or password" in page.inner_text("#login-error")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/jobs/new")
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["candor_session"]["httpOnly"]
            assert page.evaluate("document.cookie") == ""  # invisible to scripts

            # A job with two dimensions (and a scoring rule).
            page.get_by_label("Job title").fill("Site project engineer")
            page.fill("#dim_name_0", "Project management")
            page.fill("#dim_keywords_0", "large project, schedule")
            page.fill("#dim_name_1", "Safety")
            page.fill("#dim_keywords_1", "procedure")
            # The rule, built from fields, read back as a sentence while it is typed.
            rule = page.locator("#rules-1 .rule-row").first
            page.get_by_label("Rule 1 of dimension 2: what it looks at").select_option(label="times the keyword is said")
            page.get_by_label("Rule 1 of dimension 2: the keyword or phrase").fill("procedure")
            page.get_by_label("Rule 1 of dimension 2: comparison").select_option(label="is at least")
            page.get_by_label("Rule 1 of dimension 2: value").fill("1")
            rule.get_by_label("points").fill("10")
            assert rule.locator(".rule-sentence").inner_text() == (
                "In each answer: when the times “procedure” is said is at least 1, add 10 points.")
            assert page.get_by_label("Rule 2 of dimension 2: the keyword or phrase").is_hidden()  # no signal yet
            languages = page.get_by_label("Interview language").locator("option").all_inner_texts()
            assert languages and all(re.fullmatch(r".+ \([a-z]{2,3}\)", o) for o in languages), languages
            page.get_by_label("Interview language").select_option("en")
            page.get_by_label("Facial expression (smiles)").uncheck()
            page.screenshot(path=str(tmp_path / "job_form.png"), full_page=True)
            page.get_by_role("button", name="Create job").click()
            page.wait_for_url(re.compile(r"/jobs/\d+$"))
            job_url = page.url
            assert page.inner_text("h1") == "Site project engineer"
            body = page.inner_text("main")
            assert "Project management" in body
            assert "In each answer: when the times “procedure” is said is at least 1, add 10 points." in body

            # A template with two questions; first a mistake (no dimension), then fixed.
            page.get_by_role("link", name="New interview template").click()
            page.get_by_label("Template name").fill("First round")
            page.fill("#q_text_0", "Tell us about the largest project you ran.")
            page.fill("#q_time_0", "90")
            page.get_by_role("button", name="Create template").click()
            assert "Question 1: choose at least one dimension" in page.inner_text("#error-summary")
            assert page.input_value("#q_text_0") == "Tell us about the largest project you ran."
            page.screenshot(path=str(tmp_path / "template_form_error.png"))
            q0 = page.locator("#q-0")
            # Typing a weight chooses its dimension.
            q0.get_by_label("Weight of Project management in question 1").fill("2")
            assert q0.get_by_label("Project management", exact=True).is_checked()
            q0.get_by_label("Safety", exact=True).check()
            page.fill("#q_text_1", "How do you keep a site safe?")
            page.fill("#q_time_1", "60")
            q1 = page.locator("#q-1")
            q1.get_by_label("Weight of Safety in question 2").fill("1")  # labels name their question
            assert q1.get_by_label("Safety", exact=True).is_checked()
            q1.get_by_label("Weight of Project management in question 2").fill("0")
            assert not q1.get_by_label("Project management", exact=True).is_checked()
            page.get_by_role("button", name="Create template").click()
            page.wait_for_url(re.compile(r"/templates/\d+$"))
            template_url = page.url
            questions = page.inner_text("ol.questions")
            assert "Project management × 2" in questions and "Safety × 1" in questions

            # A candidate whose resume mentions a keyword.
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Candidates").click()
            page.get_by_label("Name").fill("Ada Lovelace")
            page.locator("#add").get_by_label("Email").fill("ada@example.com")
            page.get_by_label("Resume").fill("Ran a large project: a bridge, on schedule.")
            page.get_by_role("button", name="Add candidate").click()
            # Back on the pool with an empty form (HR adds several in a row), saying who was added.
            page.wait_for_url(re.compile(r"/candidates\?added=\d+$"))
            assert "Added Ada Lovelace" in page.inner_text("#added-notice")
            assert page.get_by_label("Name").input_value() == ""
            assert page.evaluate("document.activeElement.id") == "name"  # ready for the next one
            page.get_by_label("Name").fill("Bob Builder")
            page.locator("#add").get_by_label("Email").fill("bob@example.com")
            page.get_by_role("button", name="Add candidate").click()
            page.wait_for_function("() => document.getElementById('added-notice')?.textContent.includes('Bob Builder')")
            page.get_by_role("link", name="Ada Lovelace").first.click()
            page.wait_for_url(re.compile(r"/candidates/\d+$"))
            assert page.inner_text("h1") == "Ada Lovelace"

            # Invite her from the template page (search, tick, deadline) and read the link.
            page.goto(template_url)
            page.get_by_label("Find candidates").fill("bridge")
            page.get_by_role("button", name="Search").click()
            page.get_by_label(re.compile("Ada Lovelace")).check()
            deadline = page.get_by_label(re.compile(r"^Deadline \(your time, Asia/Seoul\)$"))
            deadline.fill("2099-12-31T18:00")  # 18:00 in Seoul is 09:00 UTC
            page.screenshot(path=str(tmp_path / "template_page.png"), full_page=True)
            page.get_by_role("button", name="Send invitations").click()
            page.get_by_role("heading", name="Invitation").wait_for()  # the POST's answer: links shown once
            result = page.locator("#invitation-results li.invitation")
            assert result.count() == 1
            assert "Ada Lovelace" in result.inner_text()
            shown = result.locator("time.when").first
            assert shown.inner_text() == "2099-12-31 18:00 GMT+9"
            assert shown.get_attribute("datetime") == "2099-12-31T09:00:00Z"
            assert shown.get_attribute("title") == "2099-12-31 09:00 UTC"
            boost = page.inner_text(".boost")
            assert "Project management ×1.5" in boost and "large project" in boost
            link = page.input_value("input.invitation-link")
            assert link.startswith(f"{base}/i/")
            page.get_by_role("button", name="Copy").wait_for()  # hr.js shows it
            page.screenshot(path=str(tmp_path / "invitation_result.png"), full_page=True)

            # The job page now lists the interview, with answers counted and the state in words.
            page.goto(job_url)
            row = page.get_by_role("row", name=re.compile("Ada Lovelace"))
            cells = row.locator("td").all_inner_texts()
            assert "Invited" in cells and "0 of 2 answered" in cells, cells
            # The pool says where each candidate stands, in words.
            page.goto(f"{base}/candidates")
            assert page.get_by_role("row", name=re.compile("Ada Lovelace")).locator("td").all_inner_texts()[1] == "Invited"
            assert page.get_by_role("row", name=re.compile("Bob Builder")).locator("td").all_inner_texts()[1] == "New"

            # The candidate opens the link in a new page.
            candidate = context.new_page()
            candidate.goto(link)
            text = candidate.inner_text("main")
            assert "Site project engineer" in text and "Ada Lovelace" in text

            # Logging out ends the session.
            page.get_by_role("button", name="Log out").click()
            page.wait_for_url(f"{base}/login")
            page.goto(f"{base}/jobs")
            assert "/login" in page.url
            assert not errors, errors
        finally:
            context.close()
