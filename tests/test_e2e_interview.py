"""The live interview end to end, all real: headless Chromium as the candidate with a fake camera
(a moving real photo) and microphone (espeak-ng speech at 48 kHz), WebRTC on 127.0.0.1 to the
server process, real Vosk and ONNX models, HR's live feed on /ws/monitor, and the database."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from websockets.sync.client import connect as ws_connect

from tests.support.media import face_y4m, speech_wav
from tests.support.server import running_server
from tests.test_candidate_page import (
    KOREAN_ANSWER, new_page, page_errors, take_two_question_interview, wait_for_models,
)

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{base}{path}", method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with _http.open(req, timeout=15) as resp:
        return json.load(resp)


class Feed(threading.Thread):
    """HR's live feed, read in a thread (the test thread drives the browser)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ws: Any = None
        self.ready = threading.Event()
        self.events: list[dict[str, Any]] = []

    def start(self) -> None:
        super().start()
        assert self.ready.wait(10), "could not connect to /ws/monitor"

    def run(self) -> None:
        with ws_connect(self.url, open_timeout=10) as ws:
            self.ws = ws
            self.ready.set()
            try:
                for raw in ws:
                    self.events.append(json.loads(raw))
            except Exception:  # closed at the end of the test
                pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]


def admin_credentials(server: Any) -> tuple[str, str]:
    """The first admin that a fresh server printed."""
    log = server.log()
    email = re.search(r"^\s+email\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
    password = re.search(r"^\s+password\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
    return email, password


def admin_login(server: Any) -> str:
    """The first admin's bearer token."""
    email, password = admin_credentials(server)
    return str(api(server, "POST", "/api/login", {"email": email, "password": password})["token"])


def make_interview(server: Any, token: str, time_limit_s: int = 90) -> tuple[int, str]:
    """A Korean job with two dimensions and a two-question template; one invited candidate.
    Returns the interview id and the candidate's link."""
    job = api(server, "POST", "/api/jobs", {"title": "현장 엔지니어", "language": "ko", "dimensions": [
        {"name": "Project management", "keywords": ["프로젝트", "일정"],
         "rules": [{"signal": "face_present_ratio", "op": ">=", "value": 0.9, "points": 5}]},
        {"name": "Safety", "keywords": ["안전", "절차"]}]}, token)
    dims = [d["id"] for d in job["dimensions"]]
    tpl = api(server, "POST", "/api/templates", {"job_id": job["id"], "name": "Two questions", "questions": [
        {"text": "가장 큰 프로젝트의 일정을 어떻게 관리했습니까?", "time_limit_s": time_limit_s,
         "dimensions": [{"dimension_id": dims[0], "weight": 2}, {"dimension_id": dims[1], "weight": 1}]},
        {"text": "안전 절차를 어떻게 지킵니까?", "time_limit_s": time_limit_s,
         "dimensions": [{"dimension_id": dims[1], "weight": 1}]}]}, token)
    cand = api(server, "POST", "/api/candidates", {"name": "김민수", "email": "minsu@example.com"}, token)
    inv = api(server, "POST", "/api/invitations", {
        "template_id": tpl["id"], "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, token)["invitations"][0]
    return int(inv["interview_id"]), f"{server}/i/{inv['url'].rsplit('/', 1)[1]}"


def test_candidate_in_chromium_answers_two_questions(launch_browser: Any, tmp_path: Path) -> None:
    with running_server(tmp_path, timeout=120) as server:
        wait_for_models(server)
        token = admin_login(server)
        interview_id, link = make_interview(server, token)
        detail0 = api(server, "GET", f"/api/interviews/{interview_id}", token=token)
        dims = sorted({w["dimension_id"] for w in detail0["weights"]})

        feed = Feed(f"ws://{server.removeprefix('http://')}/ws/monitor?token={token}")
        feed.start()
        browser = launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER))
        page = new_page(browser)
        try:
            # The first question is answered until the recogniser has produced a final segment.
            take_two_question_interview(page, link, first_s=1.0, second_s=6.0, until_caption=True)
            assert not page_errors(page)
        finally:
            page.context.close()
            time.sleep(0.5)
            feed.ws.close()
            feed.join(5)
        detail = api(server, "GET", f"/api/interviews/{interview_id}", token=token)
        report = api(server, "GET", f"/api/interviews/{interview_id}/report", token=token)
        review = review_with_real_clips(server, token, interview_id, report)
        db = sqlite3.connect(server.data_dir / "candor.sqlite3")
        segments = db.execute("select question_index, text, start_s, end_s, words from transcript_segments "
                              "where interview_id = ?", (interview_id,)).fetchall()
        signals = {qi: json.loads(s) for qi, s in db.execute(
            "select question_index, signals from question_signals where interview_id = ?", (interview_id,))}
        scores = db.execute("select dimension_id, question_index, score, evidence from scores "
                            "where interview_id = ?", (interview_id,)).fetchall()
        db.close()

    assert detail["state"] == "completed"
    # A face in at least 90% of the analysed frames of each question.
    for qi in (0, 1):
        assert signals[qi]["frames:analysed_frames"] >= 5, signals[qi]
        assert signals[qi]["face_present_ratio"] >= 0.9, signals[qi]
        assert signals[qi]["multiple_faces_ratio"] == 0
    # The real Vosk model heard the answer to question 0.
    q0_text = " ".join(t for qi, t, *_ in segments if qi == 0)
    assert q0_text.strip() and signals[0]["word_count"] > 0
    assert all(json.loads(words) and end >= start for _, _, start, end, words in segments)
    # Scores with evidence, per question and overall.
    overall = {d: (score, json.loads(ev)) for d, qi, score, ev in scores if qi is None}
    # Question 1 was answered; a dimension no answer assessed has no score row (never a 0).
    assert dims[0] in overall and set(overall) <= set(dims)
    pm_score, pm_evidence = overall[dims[0]]
    assert any(e.get("kind") == "rule" and e["signal"] == "face_present_ratio" for e in pm_evidence)
    assert pm_score >= 5
    # HR's feed saw every kind of event, in order per interview.
    mine = [e for e in feed.events if e.get("interview_id") == interview_id]
    for kind in ("state", "progress", "transcript", "signals", "scores", "connection"):
        assert any(e["type"] == kind for e in mine), kind
    seqs = [e["seq"] for e in mine]
    assert seqs == sorted(seqs)
    assert [e["state"] for e in feed.of("state")][-1] == "completed"
    connection = [e for e in mine if e["type"] == "connection"]
    assert connection[-1]["frames_received"] > 0 and connection[-1]["audio_seconds"] > 0
    # Chromium's audio went through the server's reorder buffer, and none of it came too late.
    assert connection[-1]["audio_packets_late"] == 0
    assert any(e["final"] and e["text"] for e in mine if e["type"] == "transcript")
    # The report from this real interview: scores with evidence, clips that play, the review gate.
    assert {d["id"] for d in report["dimensions"]} == set(dims)
    rep_pm = next(d for d in report["dimensions"] if d["id"] == dims[0])
    assert rep_pm["score"] == pm_score and any(e["kind"] == "rule" for e in rep_pm["evidence"])
    assert report["clips"], "the face_present_ratio rule fired, so there is a highlight clip"
    assert review["refused"][0] == 409 and "key clip" in review["refused"][1]
    assert all(kind == "video/webm" and size > 1000 for kind, size in review["media"])
    assert len(review["recordings"]) == 2  # every answer can be watched in full
    assert all(kind == "video/webm" and size > 1000 for kind, size in review["recordings"])
    assert review["decision"]["candidate_status"] == "hired"
    assert review["second"][0] == 409


def review_with_real_clips(server: Any, token: str, interview_id: int, report: dict[str, Any]) -> dict[str, Any]:
    """HR's review over the API: refused first, then every clip opened and a note written."""
    out: dict[str, Any] = {}
    try:
        api(server, "POST", f"/api/interviews/{interview_id}/decision", {"decision": "hire"}, token)
    except urllib.error.HTTPError as err:
        out["refused"] = (err.code, json.load(err)["error"])
    out["media"] = []
    for clip in report["clips"]:
        req = urllib.request.Request(clip["media_url"], headers={"Authorization": f"Bearer {token}"})
        with _http.open(req, timeout=60) as resp:
            out["media"].append((resp.headers["Content-Type"], len(resp.read())))
    # An answer without key clips is reviewed from its full recording.
    out["recordings"] = []
    for question in report["questions"]:
        if not question.get("media_url"):
            continue
        req = urllib.request.Request(question["media_url"], headers={"Authorization": f"Bearer {token}"})
        with _http.open(req, timeout=60) as resp:
            out["recordings"].append((resp.headers["Content-Type"], len(resp.read())))
    api(server, "POST", f"/api/interviews/{interview_id}/notes", {"text": "Watched every clip."}, token)
    out["decision"] = api(server, "POST", f"/api/interviews/{interview_id}/decision",
                          {"decision": "hire", "note": "strong"}, token)
    try:
        api(server, "POST", f"/api/interviews/{interview_id}/decision", {"decision": "talent_pool"}, token)
        out["second"] = (200, "")
    except urllib.error.HTTPError as err:
        out["second"] = (err.code, json.load(err)["error"])
    return out
