"""The live path in one process with real parts: an aiortc candidate sends real speech (espeak-ng)
and a real photo over WebRTC on 127.0.0.1; the server runs real Vosk and ONNX models; the
session moves through the questions and stores transcript, signals and scores with evidence."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from conftest import login
from server.app import create_app
from server.model_bank import models_key
from server.sessions import bus_key, sessions_key
from server.settings import Settings
from server.store import Store
from server.tables import Candidate, Interview, QuestionSignals, Score, StateChange, TranscriptSegment
from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480, read_wav

SENTENCE = "저는 큰 프로젝트의 일정을 관리했습니다. 안전 절차를 항상 지켰습니다."


@pytest.fixture(scope="module")
def speech_48k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is missing: run ./candor test (it installs it)"
    d = tmp_path_factory.mktemp("speech")
    raw = d / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), SENTENCE], check=True)
    out = d / "speech48k.wav"
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(out),
                    "pad", "1.0", "1.5"], check=True)
    return out


@pytest.fixture
def live_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1",
                    ice_host_addresses=("127.0.0.1",), analysis_fps=5.0)


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def start_app(aiohttp_client: Any, settings: Settings) -> tuple[Any, Store]:
    store = Store(settings.db_url)
    client = await aiohttp_client(create_app(settings, store=store))
    bank = client.app[models_key]
    await wait_for(lambda: bank._ready.is_set(), 60, "models to load")
    assert bank.ready, bank.status()
    return client, store


async def test_candidate_answers_two_questions_over_webrtc(aiohttp_client: Any, live_settings: Settings,
                                                           speech_48k: Path) -> None:
    client, store = await start_app(aiohttp_client, live_settings)
    await _interview(client, store, speech_48k)


async def _interview(client: Any, store: Store, speech_48k: Path) -> None:
    hr = await login(client, store, "hr@example.com")

    _, job = await hr.call("POST", "/api/jobs", json={
        "title": "현장 엔지니어", "language": "ko",
        "dimensions": [
            {"name": "Project management", "keywords": ["프로젝트", "일정"],
             "rules": [{"signal": "face_present_ratio", "op": ">=", "value": 0.9, "points": 5}]},
            {"name": "Safety", "keywords": ["안전", "절차"]},
        ]}, expect=201)
    dims = [d["id"] for d in job["dimensions"]]
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
        {"text": "가장 큰 프로젝트의 일정을 어떻게 관리했습니까?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[0], "weight": 2}]},
        {"text": "안전 절차를 어떻게 지킵니까?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": dims[1], "weight": 1}]},
    ]}, expect=201)
    _, cand = await hr.call("POST", "/api/candidates", json={"name": "김민수", "email": "m@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl["id"], "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    token = inv["invitations"][0]["url"].rsplit("/", 1)[1]
    interview_id = inv["invitations"][0]["interview_id"]

    bus = client.app[bus_key]
    events = bus.subscribe(lambda e: e.interview_id == interview_id, limit=10_000)
    received: list[dict[str, Any]] = []
    ws = await client.ws_connect(f"/i/{token}/ws")

    async def read_ws() -> None:
        async for msg in ws:
            received.append(json.loads(msg.data))

    reader = asyncio.create_task(read_ws())
    await ws.send_json({"type": "start", "consent": True})
    await wait_for(lambda: any(m.get("state") == "connecting" for m in received), 10, "connecting")

    pcm, rate = read_wav(speech_48k)
    pc = await connect(str(client.make_url("")).rstrip("/"), token, client.session,
                       [PcmTrack(pcm, rate), ImageTrack(portrait_640x480())])
    try:
        await wait_for(lambda: any(m.get("type") == "question" and m["index"] == 0 for m in received), 20, "question 0")
        speech_s = len(pcm) / rate
        await asyncio.sleep(speech_s + 2.0)  # the answer's end ("안전 절차") must fall in question 0
        await ws.send_json({"type": "next"})
        await wait_for(lambda: any(m.get("type") == "question" and m["index"] == 1 for m in received), 20, "question 1")
        await asyncio.sleep(3.0)
        await ws.send_json({"type": "next"})
        await wait_for(lambda: any(m.get("type") == "done" for m in received), 30, "done")
        await client.app[sessions_key].settled(interview_id)  # answers are stored once recognised
    finally:
        await pc.close()
        await ws.close()
        reader.cancel()

    assert any(m.get("type") == "caption" for m in received)
    def rows(db: Any) -> Any:
        return (db.get(Interview, interview_id),
                db.exec(select(TranscriptSegment).where(TranscriptSegment.interview_id == interview_id)).all(),
                db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == interview_id)
                        .order_by(QuestionSignals.question_index)).all(),
                db.exec(select(Score).where(Score.interview_id == interview_id)).all(),
                db.exec(select(StateChange).where(StateChange.interview_id == interview_id)).all())
    interview, segments, signals, scores, changes = store.run_sync(rows)
    assert interview.state == "completed" and interview.consent is True
    assert [c.to_state for c in changes][:4] == ["consented", "connecting", "live", "live"]
    assert changes[-1].to_state == "completed"
    # The candidate is no longer just "invited": interviewed, awaiting HR's decision.
    assert store.run_sync(lambda db: db.get(Candidate, interview.candidate_id).status) == "interviewed"
    text = " ".join(s.text for s in segments if s.question_index == 0)
    assert text.strip(), "the real Vosk model heard nothing"
    assert all(s.words and s.end_s >= s.start_s > 0 for s in segments)
    assert [s.question_index for s in signals] == [0, 1]
    q0 = signals[0].signals
    assert q0["word_count"] > 0
    assert q0["frames:analysed_frames"] >= 10
    assert q0["face_present_ratio"] >= 0.9, q0
    assert q0["multiple_faces_ratio"] == 0
    overall = {s.dimension_id: s for s in scores if s.question_index is None}
    # The second answer was 3 s of silence: Safety is not assessed, so it has no score (not 0).
    assert set(overall) == {dims[0]}
    pm = overall[dims[0]]
    rule_hits = [e for e in pm.evidence if e.get("kind") == "rule"]
    assert rule_hits and rule_hits[0]["signal"] == "face_present_ratio"
    assert pm.score >= 5

    kinds = []
    finals = []
    while len(events):
        e = await events.get()
        kinds.append(e.type)
        if e.type == "transcript" and e.data["final"] and e.data["text"]:
            finals.append(e.data)
    for kind in ("state", "progress", "transcript", "signals", "scores", "connection"):
        assert kind in kinds, (kind, kinds)
    # Each final says how far the recogniser had heard when it said it: after the last word
    # (Vosk needs some audio after it to be sure), within the audio sent.
    assert finals
    for f in finals:
        assert f["end_s"] <= f["heard_to_s"] <= f["end_s"] + speech_s + 5, f


class SilentCamera(ImageTrack):
    """A camera that is there but never delivers a frame."""

    async def recv(self) -> Any:
        await asyncio.Event().wait()


async def test_a_camera_that_sends_nothing(aiohttp_client: Any, live_settings: Settings, speech_48k: Path) -> None:
    client, store = await start_app(aiohttp_client, live_settings)
    hr = await login(client, store, "hr@example.com")
    from conftest import invite

    token, iid = await invite(hr, "A", "a@example.com")
    bus = client.app[bus_key]
    events = bus.subscribe(lambda e: e.interview_id == iid and e.type == "connection", limit=100)
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    pcm, rate = read_wav(speech_48k)
    pc = await connect(str(client.make_url("")).rstrip("/"), token, client.session,
                       [PcmTrack(pcm, rate), SilentCamera(portrait_640x480())])
    try:
        for _ in range(10):  # connection health every 2 s: until audio has come in
            event = await asyncio.wait_for(events.get(), 10)
            assert event is not None
            assert event.data["frames_received"] == 0 and event.data["last_video_s_ago"] is None
            if event.data["audio_seconds"] > 0:
                break
        assert event.data["audio_seconds"] > 0
        await wait_for(lambda: store.run_sync(lambda db: db.get(Interview, iid).state) == "live", 10, "live")
        await ws.send_json({"type": "next"})
        await ws.send_json({"type": "next"})
        await wait_for(lambda: store.run_sync(lambda db: db.get(Interview, iid).state) == "completed", 20, "completed")
        await client.app[sessions_key].settled(iid)  # answers are stored once recognised
    finally:
        await pc.close()
        await ws.close()
    rows = store.run_sync(lambda db: db.exec(select(QuestionSignals).where(QuestionSignals.interview_id == iid)).all())
    assert len(rows) == 2
    assert rows[0].signals["frames:analysed_frames"] == 0
    assert "face_present_ratio" not in rows[0].signals  # no frames: no claim about the face
