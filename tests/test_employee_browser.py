"""The employee archive's done-when, end to end: a live interview in real headless Chromium
(real WebRTC, models and recording), HR's review and a hire with a start date, then the
employee page in Chromium shows the recruitment record and its key clips play."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.browser
def test_live_interview_hire_employee_page_plays_the_clips(browser: Any, launch_browser: Any, tmp_path: Path) -> None:
    from tests.support.media import face_y4m, speech_wav
    from tests.support.server import running_server
    from tests.test_candidate_page import (
        KOREAN_ANSWER, new_page, page_errors, take_two_question_interview, wait_for_models,
    )
    from tests.test_e2e_interview import admin_credentials, admin_login, api, make_interview, review_with_real_clips

    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        iid, link = make_interview(server, token)
        candidate = new_page(launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER)))
        try:
            take_two_question_interview(candidate, link, first_s=1.0, second_s=6.0, until_caption=True)
            assert not page_errors(candidate)
        finally:
            candidate.context.close()
        report = api(server, "GET", f"/api/interviews/{iid}/report", token=token)
        assert report["clips"], report  # the face_present_ratio rule makes a highlight
        review = review_with_real_clips(server, token, iid, report)  # every clip opened, a note, hire
        assert review["decision"]["candidate_status"] == "hired"
        [employee] = api(server, "GET", "/api/employees", token=token)["employees"]
        detail = api(server, "GET", f"/api/employees/{employee['id']}", token=token)
        record = detail["recruitment_record"]
        assert record["interview_id"] == iid and record["decision"]["note"] == "strong"
        assert [c["id"] for c in record["report"]["clips"]] == [c["id"] for c in report["clips"]]
        assert record["report"]["overall"]["score"] == report["overall"]["score"]

        email, password = admin_credentials(server)
        hr = new_page(browser, width=1200, height=1000)
        try:
            hr.goto(f"{server}/login?next=/employees")
            hr.get_by_label("Email").fill(email)
            hr.get_by_label("Password").fill(password)
            hr.get_by_role("button", name="Log in").click()
            hr.wait_for_url(f"{server}/employees")
            hr.get_by_role("link", name="김민수").click()
            hr.wait_for_url(f"{server}/employees/{employee['id']}")
            assert "Watched every clip." in hr.inner_text("#record-notes")
            assert "Hire" in hr.inner_text("#record-decision") and "strong" in hr.inner_text("#record-decision")
            scores = hr.inner_text("#record-scores")
            assert "Project management" in scores and "Safety" in scores
            assert hr.get_attribute("#live-report", "href") == f"/interviews/{iid}/report"
            clips = [c["id"] for c in record["report"]["clips"]]
            assert hr.locator("#record-clips video").count() == len(clips)
            # Every key clip plays (muted): data loads, it has a duration, time advances.
            for clip in clips:
                video = hr.locator(f'video[data-clip="{clip}"]')
                video.scroll_into_view_if_needed()
                video.evaluate("v => { v.muted = true; return v.play(); }")
                hr.wait_for_function(
                    "id => { const v = document.querySelector(`video[data-clip=\"${id}\"]`);"
                    " return v.readyState >= 2 && v.duration > 0 && (v.currentTime > 0.3 || v.ended); }",
                    arg=clip, timeout=20_000)
            hr.screenshot(path=str(tmp_path / "employee_page.png"), full_page=True)
            # The live interview's report is one click away.
            hr.click("#live-report")
            hr.wait_for_url(re.compile(rf"/interviews/{iid}/report$"))
            assert not page_errors(hr)
        finally:
            hr.context.close()
