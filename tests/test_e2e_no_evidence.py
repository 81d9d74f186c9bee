"""A technical fault must not read as a weak candidate. Headless Chromium as the candidate with a
fake camera that shows no face (ffmpeg's test pattern) and a silent microphone, real WebRTC, real
models, the real server: the report says "insufficient evidence" with warnings first, every
dimension "not assessed" (not 0), the interview stays out of percentile pools, and the HR page
leads with the warnings and tells "off" (switched off by the job) from "no data"."""
from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from server.reports import job_pool
from server.store import Store
from tests.support.media import silence_wav
from tests.support.server import running_server
from tests.test_candidate_page import new_page, page_errors, take_two_question_interview, wait_for_models
from tests.test_e2e_interview import admin_credentials, admin_login, api


def pattern_y4m(path: Path, seconds: float = 4, fps: int = 15) -> Path:
    """A moving colour test pattern with no face, 640x480 y4m."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=640x480:rate={fps}", "-t", str(seconds), "-pix_fmt", "yuv420p",
                    "-f", "yuv4mpegpipe", str(path)], check=True, timeout=120)
    return path


def make_interview(server: Any, token: str) -> tuple[int, int, str]:
    job = api(server, "POST", "/api/jobs", {"title": "현장 엔지니어", "language": "ko", "analyze_expression": False,
                                            "dimensions": [
        {"name": "Project management", "keywords": ["프로젝트", "일정"],
         "rules": [{"signal": "face_present_ratio", "op": "<", "value": 0.5, "points": -20}]},
        {"name": "Safety", "keywords": ["안전", "절차"]}]}, token)
    dims = [d["id"] for d in job["dimensions"]]
    tpl = api(server, "POST", "/api/templates", {"job_id": job["id"], "name": "Two questions", "questions": [
        {"text": "가장 큰 프로젝트의 일정을 어떻게 관리했습니까?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[0], "weight": 1}]},
        {"text": "안전 절차를 어떻게 지킵니까?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]}, token)
    cand = api(server, "POST", "/api/candidates", {"name": "김민수", "email": "minsu@example.com"}, token)
    inv = api(server, "POST", "/api/invitations", {
        "template_id": tpl["id"], "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, token)["invitations"][0]
    return int(job["id"]), int(inv["interview_id"]), f"{server}/i/{inv['url'].rsplit('/', 1)[1]}"


def test_no_face_and_no_speech_is_insufficient_evidence_not_a_weak_candidate(
        browser: Any, launch_browser: Any, tmp_path: Path) -> None:
    video = pattern_y4m(tmp_path / "pattern.y4m")
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        job_id, iid, link = make_interview(server, token)
        candidate = new_page(launch_browser(video=video, audio=silence_wav(5.0)))
        try:
            # Frames are analysed; nothing is said.
            take_two_question_interview(candidate, link, first_s=6.0, second_s=4.0)
            assert not page_errors(candidate)
        finally:
            candidate.context.close()
        report = api(server, "GET", f"/api/interviews/{iid}/report", token=token)

        # The camera worked (frames were analysed) but showed no face; nothing was recognised.
        for q in report["questions"]:
            assert q["frames"]["analysed_frames"] > 0, q["frames"]
            assert q["signals"]["face_present_ratio"] == 0 and q["signals"]["word_count"] == 0, q["signals"]
            assert [g["code"] for g in q["gaps"]] == ["no_speech", "no_face"]
        # Not a 0 and "not recommended": not assessed, insufficient evidence, warnings first.
        assert report["overall"]["score"] is None and report["overall"]["coverage"] == 0
        assert all(d["status"] == "not_assessed" and d["score"] is None for d in report["dimensions"])
        assert report["recommendation"]["decision"] == "insufficient_evidence"
        codes = [w["code"] for w in report["warnings"]]
        assert codes[:3] == ["no_speech", "no_face", "insufficient_evidence"], codes
        assert report["warnings"][0]["question_indexes"] == [0, 1]
        assert report["percentile"]["value"] is None and "not compared" in report["percentile"]["text"]
        # The face rule (-20 when no face) was not held against the candidate.
        pm = next(d for d in report["dimensions"] if d["name"] == "Project management")
        assert not any(e.get("kind") == "rule" for e in pm["evidence"])
        # Completed, yet in nobody's percentile pool.
        store = Store(f"sqlite:///{server.data_dir / 'candor.sqlite3'}")
        try:
            weights = {d["id"]: 1.0 for d in report["dimensions"]}
            pool = store.run_sync(lambda db: job_pool(db, job_id, 0, weights, 0.6))
        finally:
            store.close()
        assert pool.overall == [] and pool.dimensions == {}

        # HR's page leads with the warnings.
        email, password = admin_credentials(server)
        hr = new_page(browser, width=1200, height=1000)
        try:
            hr.goto(f"{server}/login")
            hr.get_by_label("Email").fill(email)
            hr.get_by_label("Password").fill(password)
            hr.get_by_role("button", name="Log in").click()
            hr.wait_for_url(f"{server}/jobs")
            hr.goto(f"{server}/interviews/{iid}/report")
            hr.screenshot(path=str(tmp_path / "report-no-evidence.png"), full_page=True)
            warnings = hr.inner_text("#warnings")
            assert "no face in the analysed frames" in warnings and "nothing was recognised" in warnings
            assert "technical fault" in warnings
            order = hr.evaluate("() => [...document.querySelectorAll('#warnings, #overall-score, #dimensions')]"
                                ".map(e => e.id)")
            assert order == ["warnings", "overall-score", "dimensions"]
            assert hr.inner_text("#recommendation .rec-decision") == "Insufficient evidence"
            assert hr.inner_text("#overall-score .overall-value") == "–"
            assert "not assessed" in hr.inner_text("#dimensions")
            # Expression analysis was switched off by the job: "off"; eye contact was on: "no data".
            bars = hr.locator(".signal-chart").first
            texts = [t.strip() for t in bars.locator("text").all_text_contents()]
            assert texts[texts.index("Smiling") + 1] == "off"
            assert texts[texts.index("Eye contact") + 1] == "no data"
        finally:
            hr.context.close()
