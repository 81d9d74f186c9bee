"""The review gate: every answer has a recording HR can play in full (human-only interviews
included); a decision needs, per answer, its key clips or its full recording opened by this HR
user, and a note. Media that cannot be played says why and counts as seen once acknowledged.
Recordings are real files written by server.recording's writers and rendered by render_clip."""
from __future__ import annotations

import io
import re
from typing import Any

import av
import pytest
from sqlmodel import select

from conftest import Api
from server import recording
from server.tables import AuditLog, ClipView, QuestionSignals
from tests.test_report_page import csrf_of, page_login, record, reviewed_interview, text_of
from tests.test_reports import completed_interview

EBML = b"\x1a\x45\xdf\xa3"  # a WebM file starts so


async def decide(hr: Api, iid: int, decision: str = "talent_pool") -> tuple[int, Any]:
    return await hr.call("POST", f"/api/interviews/{iid}/decision", json={"decision": decision})


async def test_a_human_only_interview_cannot_be_decided_until_every_answer_recording_was_opened(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await reviewed_interview(client, hr, consent=False)
    record(settings.data_dir, iid, seconds=8.0)
    rows = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == iid)
                                             .order_by(QuestionSignals.question_index)).all())
    assert rows[0].live_start_s is not None and rows[0].live_end_s - rows[0].live_start_s > 1.0  # type: ignore[operator]
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    assert report["consent"] is False and report["clips"] == []
    q0, q1 = report["questions"]
    assert q0["media_url"] == f"http://candor.test/api/interviews/{iid}/questions/0/attempts/0/media"
    assert q0["recording"]["unavailable"] is None and q0["recording"]["end_s"] > q0["recording"]["start_s"]
    # Question 2 was skipped the moment it was asked: nothing to watch, so not asked for.
    assert "nothing to watch" in q1["recording"]["unavailable"]
    assert [a["required"] for a in report["review"]["answers"]] == [True, False]

    # A note alone no longer unlocks the decision: the answer's recording must be opened.
    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "Listened."}, expect=201)
    status, body = await decide(hr, iid)
    assert status == 409, body
    assert re.search(r"question 1: its recording \(0:00\u20130:0\d\)", body["error"]), body["error"]
    assert "question 2" not in body["error"] and "note" not in body["error"]
    # Acknowledging a recording that plays is refused: it has to be opened.
    status, body = await hr.call("POST", f"/api/interviews/{iid}/questions/0/attempts/0/acknowledge")
    assert status == 409 and "can be played" in body["error"]

    resp = await client.get(f"/api/interviews/{iid}/questions/0/attempts/0/media", headers=hr.headers)
    media = await resp.read()
    assert resp.status == 200 and resp.content_type == "video/webm" and media[:4] == EBML
    start, end = q0["recording"]["start_s"], q0["recording"]["end_s"]
    [path] = (recording.recording_dir(recording.recordings_root(settings.data_dir), iid) / "clips").glob("*.webm")
    with av.open(io.BytesIO(media)) as c:  # as served: the cached clip is sealed on disk
        assert c.streams.video and c.streams.audio
        assert float(c.duration or 0) / 1e6 == pytest.approx(end - start, abs=0.1)
    status, body = await decide(hr, iid)
    assert status == 200 and body["candidate_status"] == "talent_pool", body
    views = store.run_sync(lambda db: [(v.clip_id, v.acknowledged) for v in db.exec(select(ClipView)).all()])
    assert views == [("answer-0-0", False)]
    # Unknown answers and attempts: 404.
    for path in ("questions/5/attempts/0/media", "questions/0/attempts/3/media", "questions/x/attempts/0/media"):
        assert (await client.get(f"/api/interviews/{iid}/{path}", headers=hr.headers)).status == 404, path


async def test_an_unplayable_clip_says_why_and_does_not_block_once_acknowledged(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await completed_interview(client, hr, eye_contact_q1=False)  # no recording at all
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    assert report["clips"] and all("nothing was recorded" in c["unavailable"] for c in report["clips"])
    assert all("nothing was recorded" in q["recording"]["unavailable"] for q in report["questions"])
    first = next(c for c in report["clips"] if c["question_index"] == 0)
    assert all(c["end_s"] - c["start_s"] >= 3.0 for c in report["clips"])

    # Opening it: 409 with the reason; it does not count as seen.
    resp = await client.get(f"/api/interviews/{iid}/clips/{first['id']}/media", headers=hr.headers)
    body = await resp.json()
    assert resp.status == 409 and "cannot be played: nothing was recorded" in body["error"], body
    assert store.run_sync(lambda db: db.exec(select(ClipView)).all()) == []

    await hr.call("POST", f"/api/interviews/{iid}/notes", json={"text": "No media."}, expect=201)
    status, body = await decide(hr, iid)
    assert status == 409 and "question 1:" in body["error"] and "question 2:" in body["error"]
    assert first["id"] not in body["error"]  # times, not internal ids
    assert re.search(r"key clips? \d:\d\d\u2013\d:\d\d", body["error"]), body["error"]

    # Acknowledged: question 1's clips (each) and question 2's recording.
    for clip in (c for c in report["clips"] if c["question_index"] == 0):
        status, ack = await hr.call("POST", f"/api/interviews/{iid}/clips/{clip['id']}/acknowledge")
        assert status == 200 and ack["acknowledged"] is True and "nothing was recorded" in ack["reason"], ack
    status, body = await decide(hr, iid)
    assert status == 409 and "question 1:" not in body["error"] and "question 2:" in body["error"]
    status, ack = await hr.call("POST", f"/api/interviews/{iid}/questions/1/attempts/0/acknowledge")
    assert status == 200 and ack["id"] == "answer-1-0"
    _, again = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    assert again["review"]["complete"] is True and again["review"]["missing"] == []
    assert first["id"] in again["review"]["acknowledged"] and "answer-1-0" in again["review"]["acknowledged"]
    status, body = await decide(hr, iid, "hire")
    assert status == 200, body
    audit = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog)).all()])
    assert audit.count("clip.acknowledge") == 1 + sum(1 for c in report["clips"] if c["question_index"] == 0)
    assert (await hr.call("POST", f"/api/interviews/{iid}/clips/nope/acknowledge"))[0] == 404


async def test_the_report_page_acknowledges_an_unplayable_clip_and_plays_the_recordings(
        client: Any, hr: Api, store: Any, settings: Any) -> None:
    iid = await completed_interview(client, hr, eye_contact_q1=False)
    csrf = await page_login(client)
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    text = text_of(page)
    _, report = await hr.call("GET", f"/api/interviews/{iid}/report", expect=200)
    clip = report["clips"][0]
    assert "Cannot be played: nothing was recorded for this interview" in text
    assert f'<button type="submit" class="button secondary" data-acknowledge="{clip["id"]}">' in page
    assert re.search(r"watch question 1: key clips? [^;]*or its recording \(0:00\u20130:0\d\)", text), text
    assert "<video" not in page  # nothing is offered that cannot play
    resp = await client.post(f"/interviews/{iid}/acknowledge", data={"item": clip["id"], "csrf_token": csrf},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/interviews/{iid}/report#clip-{clip['id']}"
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    assert page.count("✓ Acknowledged") == 1
    assert f'data-acknowledge="{clip["id"]}"' not in page
    # Without the CSRF token: 403; an unknown item: 404.
    resp = await client.post(f"/interviews/{iid}/acknowledge", data={"item": "answer-0-0"})
    assert resp.status == 403
    resp = await client.post(f"/interviews/{iid}/acknowledge", data={"item": "x1-1", "csrf_token": csrf})
    assert resp.status == 404

    # With a recording, the answers' recordings play on the page; acknowledging one is refused.
    record(settings.data_dir, iid)
    page = await (await client.get(f"/interviews/{iid}/report")).text()
    for q in (0, 1):
        assert f'src="/api/interviews/{iid}/questions/{q}/attempts/0/media" data-clip="answer-{q}-0"' in page
    resp = await client.post(f"/interviews/{iid}/acknowledge", data={"item": "answer-1-0", "csrf_token": csrf})
    assert resp.status == 409 and "can be played: open it instead" in text_of(await resp.text())
    csrf_of(page)  # the page still carries its forms' token
