"""Operator endpoints (server/metrics.py): GET /api/ready says 503 until the models are loaded and
the database answers; GET /metrics is Prometheus text (parsed here with prometheus_client's own
parser), only for CANDOR_METRICS_ALLOW addresses, and shows a live session's real numbers."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from conftest import login
from server.app import create_app
from server.metrics import QUEUE_CACHE_S
from server.model_bank import models_key
from server.sessions import sessions_key
from server.settings import Settings
from server.store import Store
from server.tables import OutboundMail, User, Webhook, WebhookDelivery
from tests.test_live_session import speech_48k  # noqa: F401  (the fixture: real espeak-ng speech)

DEFAULT_MAX_SESSIONS = next(f.default for f in dataclasses.fields(Settings) if f.name == "max_sessions")


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}}."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def scrape(client: Any, **headers: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/plain"
    return parse(await resp.text())


async def test_ready_is_503_while_models_are_missing_and_200_once_loaded(aiohttp_client: Any, tmp_path: Path) -> None:
    # A models directory with nothing in it: loading fails, so the process is never ready.
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "no-models")
    (tmp_path / "no-models").mkdir()
    client = await aiohttp_client(create_app(settings))
    bank = client.app[models_key]
    for _ in range(200):
        if bank._ready.is_set():
            break
        await asyncio.sleep(0.05)
    resp = await client.get("/api/ready")
    body = await resp.json()
    assert resp.status == 503, body
    assert body["ready"] is False and body["models_ready"] is False and body["store_ready"] is True
    assert "models" in body["error"]
    # /api/health still answers: the process is alive, only not ready.
    assert (await client.get("/api/health")).status == 200


async def test_ready_is_200_and_503_when_the_database_stops_answering(client: Any, store: Store) -> None:
    resp = await client.get("/api/ready")
    body = await resp.json()
    assert resp.status == 200 and body["ready"] is True and body["sessions"] == 0, body
    store.close()  # the store's threads are gone: every query fails
    resp = await client.get("/api/ready")
    body = await resp.json()
    assert resp.status == 503 and body["store_ready"] is False and "database" in body["error"], body


async def test_metrics_text_has_process_sessions_and_queue_counts(client: Any, store: Store) -> None:
    await login(client, store, "hr@example.com")

    def seed(db: Any) -> None:
        user = db.exec(select(User)).first()
        for state in ("sent", "sent", "failed"):
            db.add(OutboundMail(kind="invitation", to_addr="a@example.com", subject="s", body_text="b",
                                body_html="b", state=state, next_attempt_at=None))
        hook = Webhook(url="http://127.0.0.1:9/hook", secret_sealed="x", events=["interview.completed"],
                       active=False, created_by=user.id)
        db.add(hook)
        db.flush()
        db.add(WebhookDelivery(webhook_id=hook.id, event="interview.completed", state="failed", next_attempt_at=None))
        db.commit()

    await store.run(seed)
    m = await scrape(client)
    # prometheus_client's process collector: CPU seconds and resident memory of this process.
    assert m["process_cpu_seconds_total"][()] > 0
    assert m["process_resident_memory_bytes"][()] > 10_000_000
    # Every state is reported, 0 when no session is in it.
    assert m["candor_sessions"][(("state", "live"),)] == 0
    assert m["candor_sessions"][(("state", "invited"),)] == 0
    assert m["candor_max_sessions"][()] == DEFAULT_MAX_SESSIONS  # CANDOR_MAX_SESSIONS unset
    assert m["candor_mail_outbox"] == {(("state", "sent"),): 2, (("state", "failed"),): 1}
    assert m["candor_webhook_deliveries"] == {(("state", "failed"),): 1}
    assert m["candor_store_queue_depth"][()] >= 0
    assert m["candor_models_ready"][()] == 1  # this app loads no models: nothing to wait for
    assert "candor_session_analysis_fps" not in m  # no session holds media


async def test_queue_counts_are_cached_for_a_few_seconds(client: Any, store: Store) -> None:
    first = await scrape(client)
    assert first.get("candor_mail_outbox", {}) == {}
    await store.run(lambda db: (db.add(OutboundMail(kind="invitation", to_addr="a@example.com", subject="s",
                                                    body_text="b", body_html="b", state="failed",
                                                    next_attempt_at=None)), db.commit()))
    assert (await scrape(client)).get("candor_mail_outbox", {}) == {}  # the cached count
    assert QUEUE_CACHE_S <= 10


@pytest.mark.parametrize("allow,trusted,forwarded,status", [
    ("10.0.0.0/8", "", None, 403),  # the test client is 127.0.0.1, not allowed
    ("127.0.0.1", "", "203.0.113.9", 200),  # a forwarded address from an untrusted peer is ignored
    ("127.0.0.1", "127.0.0.1", "203.0.113.9", 403),  # behind a trusted proxy: the client is outside
    ("127.0.0.1,203.0.113.0/24", "127.0.0.1", "203.0.113.9", 200),
])
async def test_metrics_only_for_allowed_addresses(aiohttp_client: Any, tmp_path: Path, allow: str, trusted: str,
                                                  forwarded: str | None, status: int) -> None:
    env = {"CANDOR_METRICS_ALLOW": allow, "CANDOR_TRUSTED_PROXIES": trusted, "CANDOR_LOAD_MODELS": "0",
           "CANDOR_DATA_DIR": str(tmp_path / "data")}
    client = await aiohttp_client(create_app(Settings.from_env(env)))
    resp = await client.get("/metrics", headers={"X-Forwarded-For": forwarded} if forwarded else {})
    if status == 403:
        assert resp.status == 403
        assert "CANDOR_METRICS_ALLOW" in (await resp.json())["error"]
    else:
        assert resp.status == 200 and "candor_sessions" in await resp.text()


def test_metrics_allow_setting_is_checked() -> None:
    assert Settings.from_env({}).metrics_allow == ("127.0.0.1", "::1")
    with pytest.raises(ValueError, match="CANDOR_METRICS_ALLOW"):
        Settings.from_env({"CANDOR_METRICS_ALLOW": "localhost"})


# --- a live session (real models, an aiortc candidate over WebRTC on 127.0.0.1) ----------------


async def test_live_session_numbers_appear_in_metrics(aiohttp_client: Any, tmp_path: Path,
                                                      speech_48k: Path) -> None:  # noqa: F811
    from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480, read_wav
    from tests.test_live_session import start_app, wait_for

    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1",
                        ice_host_addresses=("127.0.0.1",), analysis_fps=5.0)
    client, store = await start_app(aiohttp_client, settings)
    ready = await client.get("/api/ready")
    assert ready.status == 200, await ready.text()
    hr = await login(client, store, "hr@example.com")
    _, job = await hr.call("POST", "/api/jobs", json={"title": "현장 엔지니어", "language": "ko", "dimensions": [
        {"name": "Safety", "keywords": ["안전", "절차"]}]}, expect=201)
    _, tpl = await hr.call("POST", "/api/templates", json={"job_id": job["id"], "name": "T", "questions": [
        {"text": "안전 절차를 어떻게 지킵니까?", "time_limit_s": 60,
         "dimensions": [{"dimension_id": job["dimensions"][0]["id"], "weight": 1}]}]}, expect=201)
    _, cand = await hr.call("POST", "/api/candidates", json={"name": "김민수", "email": "m@example.com"}, expect=201)
    _, inv = await hr.call("POST", "/api/invitations", json={
        "template_id": tpl["id"], "candidate_ids": [cand["id"]],
        "deadline": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, expect=201)
    token = inv["invitations"][0]["url"].rsplit("/", 1)[1]
    interview_id = str(inv["invitations"][0]["interview_id"])
    label = (("interview_id", interview_id),)

    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    pcm, rate = read_wav(speech_48k)
    pc = await connect(str(client.make_url("")).rstrip("/"), token, client.session,
                       [PcmTrack(pcm, rate, loop=True), ImageTrack(portrait_640x480())])
    try:
        manager = client.app[sessions_key]
        await wait_for(lambda: any(s.state.value == "live" for s in manager.sessions.values()), 30, "live")
        await asyncio.sleep(2.0)
        first = await scrape(client)
        await asyncio.sleep(2.0)
        m = await scrape(client)
    finally:
        await pc.close()
        await ws.close()
    assert first["candor_sessions"][(("state", "live"),)] == 1
    assert m["candor_sessions"][(("state", "live"),)] == 1
    assert m["candor_models_ready"][()] == 1
    # Analysed between the two scrapes, never above CANDOR_ANALYSIS_FPS=5 (with a little slack for
    # timing); the lower bound only says "some": a contended CI machine analyses far fewer.
    assert 0 < m["candor_session_analysis_fps"][label] <= 6.0, m["candor_session_analysis_fps"]
    assert m["candor_analysis_fps"][()] == m["candor_session_analysis_fps"][label]
    assert m["candor_session_audio_seconds"][label] >= 3.0
    assert m["candor_session_audio_seconds"][label] > first["candor_session_audio_seconds"][label]
    assert m["candor_session_frames_received"][label] > 30
    assert m["candor_session_frames_dropped"][label] >= 0
    assert 0 <= m["candor_session_asr_lag_seconds"][label] < 5.0
    assert m["candor_asr_lag_seconds_max"][()] == m["candor_session_asr_lag_seconds"][label]
    # The session's connection is among those the process counts (server/peer_registry.py).
    assert m["candor_peer_connections"][(("state", "connected"),)] >= 1
    # Its frames are analysed by one vision worker process (the other starts with a second stream).
    assert m["candor_vision_worker_processes"][()] == 1
    assert m["candor_vision_worker_streams"][()] == 1
    assert m["candor_vision_worker_starts_total"][()] == 1
    assert m["candor_vision_worker_resident_memory_bytes"][()] > 50 * 2**20


# --- what a soak watches for leaks (bench/soak.py) ------------------------------------------


async def test_task_thread_and_peer_connection_counts_follow_what_the_process_holds(client: Any) -> None:
    import gc
    import threading

    from aiortc import RTCPeerConnection

    from server.peer_registry import track

    # Earlier tests in this process may have left closed peer connections for the collector:
    # free them first so the baseline holds only what is alive.
    gc.collect()
    before = await scrape(client)
    assert before["candor_asyncio_tasks"][()] >= 1  # at least the request being served
    assert before["candor_threads"][()] >= before["candor_python_threads"][()] >= 1
    states = {dict(labels)["state"] for labels in before["candor_peer_connections"]}
    assert {"new", "connected", "closed"} <= states

    # Five tasks and a thread that wait, and a peer connection: each count goes up by them...
    release = asyncio.Event()
    tasks = [asyncio.create_task(release.wait()) for _ in range(5)]
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="metrics-test")
    thread.start()
    pc = track(RTCPeerConnection())
    try:
        during = await scrape(client)
        assert during["candor_asyncio_tasks"][()] >= before["candor_asyncio_tasks"][()] + 5
        assert during["candor_python_threads"][()] >= before["candor_python_threads"][()] + 1
        assert during["candor_threads"][()] >= before["candor_threads"][()] + 1
        new = (("state", "new"),)
        assert during["candor_peer_connections"][new] == before["candor_peer_connections"][new] + 1
    finally:
        release.set()
        await asyncio.gather(*tasks)
        stop.set()
        thread.join()
        await pc.close()
    closed = await scrape(client)
    assert closed["candor_peer_connections"][(("state", "closed"),)] >= 1
    # ...and back down once they are done and freed: nothing of them is counted any more.
    del pc
    gc.collect()
    after = await scrape(client)
    assert after["candor_asyncio_tasks"][()] <= during["candor_asyncio_tasks"][()] - 5
    assert after["candor_python_threads"][()] <= during["candor_python_threads"][()] - 1
    assert sum(after["candor_peer_connections"].values()) == sum(before["candor_peer_connections"].values())
