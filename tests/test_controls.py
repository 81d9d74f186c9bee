"""HR's controls and the fault path, with the real session and store (no media needed)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from sqlmodel import select

from conftest import Api, invite, login
from server.media import MediaCounters
from server.session import State
from server.sessions import bus_key, sessions_key
from server.tables import AuditLog, Intervention, Interview, QuestionSignals, StateChange
from tests.test_session import FakeLink


class FakePeer:
    """What the session reads of a peer connection: media arrival times."""

    def __init__(self) -> None:
        self.counters = MediaCounters()
        self.created = time.monotonic()
        self.speech = None
        self.thumbnail = b"\xff\xd8jpeg"
        self.closed = False

    def media(self) -> None:
        self.counters.last_audio_at = self.counters.last_video_at = time.monotonic()

    async def close(self) -> None:
        self.closed = True

    async def connection_stats(self) -> dict[str, Any]:
        return {"frames_received": 0}


async def live_session(client: Any, hr: Api) -> tuple[Any, int, FakeLink, FakePeer]:
    token, iid = await invite(hr)
    manager = client.app[sessions_key]
    session = await manager.session_for(iid)
    link, peer = FakeLink(), FakePeer()
    await session.attach_candidate(link)
    await session.start(consent=True)
    peer.media()
    await session.offer(peer)
    await session.media_up()
    assert session.state == State.LIVE
    return session, iid, link, peer


async def test_commands_refused_clearly(client: Any, hr: Api, store: Any) -> None:
    status, body = await hr.call("POST", "/api/interviews/999/pause", json={})
    assert status == 404
    _, iid = await invite(hr)
    status, body = await hr.call("POST", f"/api/interviews/{iid}/pause", json={})
    assert status == 409 and "not started" in body["error"]
    cases = [({"action": "dance"}, 422), ({"action": "extend"}, 422), ({"action": "extend", "seconds": -5}, 422),
             ({"action": "message", "note": "  "}, 422), ({"action": "skip", "bogus": 1}, 400)]
    for payload, expected in cases:
        status, body = await hr.call("POST", f"/api/interviews/{iid}/intervene", json=payload)
        assert status == expected, (payload, body)
    other = await login(client, store, "other@example.com")
    assert (await other.call("POST", f"/api/interviews/{iid}/pause", json={}))[0] == 404
    assert store.run_sync(lambda db: db.get(Interview, iid).state) == "invited"


async def test_pause_resume_message_extend_redo_skip_end(client: Any, hr: Api, store: Any) -> None:
    session, iid, link, peer = await live_session(client, hr)
    events = client.app[bus_key].subscribe(lambda e: e.interview_id == iid and e.type == "intervention")
    _, body = await hr.call("POST", f"/api/interviews/{iid}/pause", json={"reason": "candidate asked"}, expect=200)
    assert body["state"] == "paused"
    # The candidate gets a code and neutral words; HR's note stays with HR.
    assert link.sent[-1] == {"type": "state", "state": "paused", "code": "paused_by_interviewer",
                             "reason": "paused by the interviewer"}
    assert "candidate asked" in session.reason
    remaining = session.remaining_s()
    await asyncio.sleep(0.3)
    assert session.remaining_s() == remaining  # the question timer stopped
    assert (await hr.call("POST", f"/api/interviews/{iid}/pause", json={}))[0] == 409
    peer.media()
    _, body = await hr.call("POST", f"/api/interviews/{iid}/resume", json={}, expect=200)
    assert body["state"] == "live"

    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "message", "note": "Take your time"}, expect=200)
    assert {"type": "message", "text": "Take your time"} in link.sent
    before = session.remaining_s()
    _, body = await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "extend", "seconds": 30}, expect=200)
    assert body["remaining_s"] >= before + 29
    assert link.sent[-1]["type"] == "question" and link.sent[-1]["time_limit_s"] == 60 + 30

    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "redo", "note": "audio was bad"}, expect=200)
    assert session.question_index == 0 and len(session.attempts.by_question[0]) == 2
    assert session.remaining_s() > 85  # a fresh start on the question (the extension stays)
    _, body = await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "skip", "note": "not relevant"}, expect=200)
    assert body["question_index"] == 1
    _, body = await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "end", "note": "enough"}, expect=200)
    assert body["state"] == "completed" and link.sent[-1] == {"type": "done"}
    assert (await hr.call("POST", f"/api/interviews/{iid}/pause", json={}))[0] == 409
    assert not [m for m in link.sent if any(n in str(m) for n in ("candidate asked", "audio was bad",
                                                                     "not relevant", "enough"))]
    await client.app[sessions_key].settled(iid)  # the answers are stored in the background

    rows = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == iid)
                                             .order_by(QuestionSignals.question_index, QuestionSignals.attempt)).all())
    assert [(r.question_index, r.attempt, r.superseded, r.skipped) for r in rows] == [
        (0, 0, True, False), (0, 1, False, True), (1, 0, False, False)]
    actions = store.run_sync(lambda db: [(i.action, i.note) for i in db.exec(
        select(Intervention).where(Intervention.interview_id == iid).order_by(Intervention.id))])
    assert [a for a, _ in actions] == ["pause", "resume", "message", "extend", "redo", "skip", "end"]
    audited = store.run_sync(lambda db: [a.action for a in db.exec(select(AuditLog).where(AuditLog.action.like("interview.%")))])
    # The candidate's consent (server/consent.py), then each intervention.
    assert audited == ["interview.consent"] + [f"interview.{a}" for a, _ in actions]
    assert [e.data["action"] for e in list(events._items)] == [a for a, _ in actions]
    assert all(e.data["user"] == "hr@example.com" for e in list(events._items))


async def test_command_flood_is_refused_and_state_unharmed(client: Any, hr: Api) -> None:
    session, iid, _, _ = await live_session(client, hr)
    statuses = [(await hr.call("POST", f"/api/interviews/{iid}/intervene",
                               json={"action": "message", "note": f"m{i}"}))[0] for i in range(30)]
    assert statuses.count(200) == 20 and statuses[20:] == [429] * 10
    assert session.state == State.LIVE


async def test_media_loss_interrupts_credits_time_and_recovers(client: Any, hr: Api, store: Any) -> None:
    session, iid, link, peer = await live_session(client, hr)
    await asyncio.sleep(1.0)
    used_before_loss = session.elapsed_s()
    peer.counters.last_audio_at = peer.counters.last_video_at = time.monotonic() - 6  # 6 s of silence
    await session.media_lost("no audio or video for 6 s")
    assert session.state == State.INTERRUPTED
    assert session.elapsed_s() <= max(0.0, used_before_loss - 5)  # the lost seconds are given back
    assert session.current_attempt().fault is True
    assert link.sent[-1]["state"] == "interrupted"
    # HR can still talk to the candidate and extend during the outage.
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "message", "note": "We see a network problem"}, expect=200)
    await hr.call("POST", f"/api/interviews/{iid}/intervene", json={"action": "extend", "seconds": 20}, expect=200)
    # A new connection (the page reconnects with a new offer) brings it back on the same question.
    new_peer = FakePeer()
    new_peer.media()
    await session.offer(new_peer)
    await asyncio.sleep(0)  # the old connection closes in the background
    assert peer.closed
    await session.media_up()
    assert session.state == State.LIVE and session.question_index == 0
    assert link.sent[-1]["type"] == "question" and link.sent[-1]["index"] == 0
    reasons = store.run_sync(lambda db: [(c.to_state, c.reason) for c in db.exec(
        select(StateChange).where(StateChange.interview_id == iid).order_by(StateChange.id))])
    assert reasons[-2][0] == "interrupted" and reasons[-1] == ("live", "connection back: the same question continues")


async def test_watchdog_abandons_and_hr_reopens(client: Any, hr: Api, store: Any) -> None:
    session, iid, link, peer = await live_session(client, hr)
    manager = client.app[sessions_key]
    manager.settings = replace(manager.settings, abandon_after_s=0.5)
    peer.counters.last_audio_at = peer.counters.last_video_at = time.monotonic() - 10
    await manager._watch(session)  # the watchdog notices
    assert session.state == State.INTERRUPTED
    await asyncio.sleep(0.6)
    if session.state == State.INTERRUPTED:  # the app's own ticker (every second) may have been first
        await manager._watch(session)
    assert session.state == State.ABANDONED
    for _ in range(40):
        if iid not in manager.sessions:
            break
        await asyncio.sleep(0.05)
    assert iid not in manager.sessions
    _, body = await hr.call("POST", f"/api/interviews/{iid}/reopen", json={"note": "network outage at their office"}, expect=200)
    assert body["state"] == "interrupted"
    assert (await hr.call("POST", f"/api/interviews/{iid}/reopen", json={}))[0] == 409
    # The candidate comes back: same question.
    again = await manager.session_for(iid)
    assert again.state == State.INTERRUPTED and again.question_index == 0


async def test_admission_refuses_new_interviews_when_speech_falls_behind(client: Any, hr: Api) -> None:
    session, iid, _, peer = await live_session(client, hr)
    _, detail = await hr.call("GET", f"/api/interviews/{iid}", expect=200)

    class Lagging:
        lag_s = 12.0

    peer.speech = Lagging()
    _, c = await hr.call("POST", "/api/candidates", json={"name": "Bo", "email": "bo@example.com"}, expect=201)
    from datetime import datetime, timedelta, timezone

    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": detail["template_id"], "candidate_ids": [c["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    token = inv["invitations"][0]["url"].rsplit("/", 1)[1]
    ws = await client.ws_connect(f"/i/{token}/ws")
    assert (await ws.receive_json(timeout=5))["code"] == "joined"
    await ws.send_json({"type": "start", "consent": True})
    assert (await ws.receive_json(timeout=5))["state"] == "consented"
    refused = await ws.receive_json(timeout=5)
    assert refused["state"] == "consented" and refused["code"] == "capacity"
    sdp = {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}
    resp = await client.post(f"/i/{token}/offer", json=sdp)
    assert resp.status == 503 and "busy" in (await resp.json())["error"]
    peer.speech = None  # caught up: admitted again
    await ws.send_json({"type": "start", "consent": True})
    assert (await ws.receive_json(timeout=5))["state"] == "connecting"
    await ws.close()
