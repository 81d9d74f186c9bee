"""The server process dies mid-answer and comes back, all real: Chromium as the candidate (fake
camera, Korean speech looping), the server SIGKILLed while the candidate speaks, a new server
process started on the same port and data directory. Without anyone touching the page, it
reconnects by itself, the interview resumes on the same question and completes, and the report
holds what was said before and after the restart. Times are printed, not asserted."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import face_y4m, speech_wav
from tests.support.server import running_server
from tests.test_candidate_page import KOREAN_ANSWER, page_errors, wait_for_models, wait_state
from tests.test_e2e_interview import Feed, admin_login, api, make_interview
from tests.test_faults import join, wait_event

pytestmark = pytest.mark.browser

TIMEOUT_S = 60


def db_rows(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(data_dir / "candor.sqlite3", timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def utc(value: str) -> datetime:
    """A datetime column as SQLite holds it (naive UTC, or with an offset)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def wait_for(what: str, check: Any, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_server_killed_mid_answer_page_reconnects_and_interview_completes(launch_browser: Any,
                                                                           tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(running_server(tmp_path, timeout=120))
        data_dir, port = first.data_dir, int(first.rsplit(":", 1)[1])
        wait_for_models(first)
        token = admin_login(first)
        interview_id, link = make_interview(first, token, time_limit_s=120)
        feed = Feed(f"ws://{first.removeprefix('http://')}/ws/monitor?token={token}")
        feed.start()

        # 1. The candidate joins and answers question 0 until a final segment is stored.
        page = join(launch_browser(video=face_y4m(), audio=speech_wav(KOREAN_ANSWER)), link)
        wait_state(page, "live", timeout=30_000)
        wait_event(feed, interview_id, lambda e: e["type"] == "transcript" and e["final"] and e["text"].strip()
                   and e["question_index"] == 0, timeout=45)
        time.sleep(1.0)  # mid-answer: audio is still flowing
        page.evaluate("window.__beforeRestart = {question: window.candor.question, "
                      "wsConnects: window.candor.wsConnects, offers: window.candor.offers}")
        before = page.evaluate("({wsConnects: window.candor.wsConnects, offers: window.candor.offers})")

        # 2. SIGKILL the server (its whole process group), mid-answer.
        killed_wall = datetime.now(timezone.utc)
        killed_at = time.monotonic()
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        feed.join(5)
        stored_before = db_rows(data_dir, "select id, text, start_s, end_s, live from transcript_segments "
                                "where interview_id = ? and question_index = 0 order by id", interview_id)
        (started_at,) = db_rows(data_dir, "select started_at from interviews where id = ?", interview_id)[0]
        kill_clock = (killed_wall - utc(started_at)).total_seconds()
        assert stored_before, "a final segment was announced, so it is on disk"
        last_id_before = max(r[0] for r in stored_before)
        print(f"\nkilled the server {kill_clock:.1f} s into the interview; {len(stored_before)} final "
              f"segment(s) of question 0 on disk")

        # 3. The page notices, on its own.
        page.wait_for_function("() => (['reconnecting', 'connecting'].includes(document.body.dataset.state))",
                               timeout=30_000)
        print(f"page showed {page.evaluate('document.body.dataset.state')!r} "
              f"{time.monotonic() - killed_at:.1f} s after the kill")
        time.sleep(max(0.0, 2.0 - (time.monotonic() - killed_at)))

        # 4. A new server process on the same port and data directory.
        restart_at = time.monotonic()
        second = stack.enter_context(running_server(tmp_path, timeout=120, port=port, data_dir=data_dir))
        assert second == first
        healthy_at = time.monotonic()
        restart_clock = kill_clock + (healthy_at - killed_at)
        swept = db_rows(data_dir, "select from_state, to_state, code from state_changes where interview_id = ? "
                        "order by id", interview_id)
        print(f"new server healthy after {healthy_at - restart_at:.1f} s; state changes so far: {swept}")

        # 5. Untouched, the page comes back live on the same question.
        try:
            page.wait_for_function(
                "before => document.body.dataset.state === 'live' && window.candor.serverState === 'live' "
                "&& window.candor.wsConnects > before.wsConnects && window.candor.offers > before.offers "
                "&& window.candor.pcState === 'connected' && window.candor.question !== null "
                "&& window.candor.question.index === 0",
                arg=before, timeout=TIMEOUT_S * 1000)
        except Exception:
            print("page events:", page.evaluate("window.candor.events.slice(-60)"))
            print("page state:", page.evaluate("({state: window.candor.state, server: window.candor.serverState, "
                                               "reason: window.candor.serverReason, pc: window.candor.pcState, "
                                               "ws: window.candor.wsOpen, offerError: window.candor.offerError})"))
            print("state changes:", db_rows(data_dir, "select from_state, to_state, code, reason from state_changes "
                                            "where interview_id = ? order by id", interview_id))
            raise
        live_again_at = time.monotonic()
        resent_question = page.evaluate("window.candor.question !== window.__beforeRestart.question")
        print(f"restart -> page live again: {live_again_at - restart_at:.1f} s from starting the new process, "
              f"{live_again_at - healthy_at:.1f} s after it was healthy, {live_again_at - killed_at:.1f} s after "
              f"the kill (page reconnect attempts: {page.evaluate('window.candor.reconnects')}, "
              f"question re-sent: {resent_question}, last code: {page.evaluate('window.candor.serverCode')!r})")
        wait_for_models(second)
        ready = re.search(r"^(\S+ \S+) INFO server.model_bank: models ready", second.log(), re.M)
        back = db_rows(data_dir, "select ts from state_changes where interview_id = ? and code = 'media_back' "
                       "order by id desc limit 1", interview_id)
        if ready and back:
            lag = datetime.strptime(ready[1], "%Y-%m-%d %H:%M:%S,%f") - datetime.fromisoformat(back[0][0])
            print(f"the new server's models were ready {lag.total_seconds():+.1f} s after it resumed the interview "
                  "(media_back)")
        question = page.evaluate("window.candor.question")
        read_wall = datetime.now(timezone.utc)
        assert question["index"] == 0
        # Only live time is charged to the question: the outage is not (the clock was
        # checkpointed every few seconds, so a restart may credit a little more). Live spans by
        # the server's own records: first `live` -> kill, `media_back` -> the page's last question.
        lives = db_rows(data_dir, "select ts, code from state_changes where interview_id = ? and to_state = 'live' "
                        "order by id", interview_id)
        live_before = (killed_wall - utc(lives[0][0])).total_seconds()
        live_after = (read_wall - utc(lives[-1][0])).total_seconds()
        charged = question["time_limit_s"] - question["remaining_s"]
        print(f"question 0 time charged after the restart: {charged:.1f} s for {live_before:.1f} s live before "
              f"the kill and at most {live_after:.1f} s since {lives[-1][1]} (outage {live_again_at - killed_at:.1f} s "
              f"by the page)")
        assert lives[-1][1] == "media_back" and len(lives) == 2, lives
        assert 0 <= charged <= live_before + live_after + 1.0
        assert db_rows(data_dir, "select state, question_index from interviews where id = ?",
                       interview_id)[0] == ("live", 0)

        # 6. Words said after the restart reach question 0.
        def new_final() -> list[tuple[Any, ...]]:
            return db_rows(data_dir, "select id, text, start_s, end_s, live from transcript_segments "
                           "where interview_id = ? and question_index = 0 and id > ? and live and text != ''",
                           interview_id, last_id_before)
        try:
            after = wait_for("a final segment on question 0 after the restart", new_final, timeout=TIMEOUT_S)
        except AssertionError as exc:
            missing = [line for line in second.log().splitlines() if "no speech model" in line]
            raise AssertionError(f"{exc}; the new server said: {missing}") from None
        print(f"first final segment after the restart {time.monotonic() - live_again_at:.1f} s after live "
              f"again: {after[0][1]!r} at {after[0][2]:.1f} s (restart at {restart_clock:.1f} s)")

        # 7. Next until the interview completes.
        page.wait_for_function("() => (!document.getElementById('next').disabled)", timeout=20_000)
        page.click("#next")
        page.wait_for_function("() => (window.candor.question && window.candor.question.index === 1)", timeout=20_000)
        page.wait_for_function("() => (!document.getElementById('next').disabled)", timeout=20_000)
        time.sleep(3.0)
        page.click("#next")
        page.click("#finish-yes")  # the last question asks before finishing
        wait_state(page, "finished", timeout=30_000)

        report = api(second, "GET", f"/api/interviews/{interview_id}/report", token=token)
        detail = api(second, "GET", f"/api/interviews/{interview_id}", token=token)
        changes = db_rows(data_dir, "select from_state, to_state, code from state_changes where interview_id = ? "
                          "order by id", interview_id)
        stored_after = db_rows(data_dir, "select id, text, start_s, end_s, live from transcript_segments "
                               "where interview_id = ? and question_index = 0 and id > ? order by id",
                               interview_id, last_id_before)
        errors = page_errors(page)
        page.context.close()
    assert not errors, errors
    print(f"state changes: {changes}")

    assert detail["state"] == "completed"
    # The restart is in the history: interrupted (server_restarted), then live again.
    codes = [(to, code) for _, to, code in changes]
    assert ("interrupted", "server_restarted") in codes, codes
    restarted = codes.index(("interrupted", "server_restarted"))
    assert any(to == "live" for to, _ in codes[restarted + 1:]), codes
    assert codes[-1][0] == "completed"
    # Live once before the restart (no other fault hid in the run).
    assert [to for to, _ in codes[:restarted]].count("live") == 1, codes

    # The report's question 0 holds words from before and after the restart.
    q0s = [q for q in report["questions"] if q["index"] == 0]
    print(f"report, question 0 attempts: {[(q['attempt'], q['fault'], q['superseded']) for q in q0s]}")
    # The answer continued: one attempt at question 0, hit by a fault, not a redo.
    assert len(q0s) == 1 and q0s[0]["fault"] and not q0s[0]["superseded"], q0s
    said = [s for s in q0s[0]["transcript"] if s["text"].strip()]
    print(f"report, question 0: {len(said)} segment(s): "
          + "; ".join(f"{s['start_s']:.1f}-{s['end_s']:.1f} {s['text']!r}{'' if s['live'] else ' (not live)'}"
                      for s in said))
    early = [s for s in said if s["start_s"] < kill_clock]
    late = [s for s in said if s["start_s"] > restart_clock]
    assert early and late, (kill_clock, restart_clock, said)
    assert {round(r[2], 2) for r in stored_before if r[1].strip()} <= {round(s["start_s"], 2) for s in said}
    assert {round(r[2], 2) for r in stored_after if r[4] and r[1].strip()} <= {round(s["start_s"], 2) for s in said}
    assert all(s["live"] for s in early + late)
