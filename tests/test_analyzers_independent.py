"""Speech and vision run or fail on their own: with the speech model missing, faces are still
analysed; with the vision models missing, speech is still transcribed. Health and HR's panel say
which analyser is down. Real models (the ones present), real aiortc candidate, real server."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import invite, login
from server.app import create_app
from server.model_bank import models_key
from server.sessions import bus_key, sessions_key
from server.settings import REPO_ROOT, Settings
from server.store import Store
from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480, read_wav
from tests.test_live_session import speech_48k, wait_for  # noqa: F401  (fixture)


def partial_models(root: Path, keep: str) -> Path:
    """A models directory with only the vision models (`keep="onnx"`) or only the speech model."""
    models = root / f"models-{keep}"
    models.mkdir()
    full = REPO_ROOT / "models"
    if keep == "onnx":
        (models / "onnx").symlink_to(full / "onnx")
    else:
        (models / "vosk").symlink_to(full / "vosk")
        shutil.copy(full / "installed.json", models / "installed.json")
    return models


@pytest.mark.parametrize(("keep", "vision_processes"), [("onnx", True), ("onnx", False), ("vosk", True)],
                         ids=["vision-in-worker-processes", "vision-on-threads", "speech-only"])
async def test_one_analyser_missing_leaves_the_other_running(aiohttp_client: Any, tmp_path: Path, keep: str,
                                                            vision_processes: bool,
                                                            speech_48k: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    store = Store(Settings(data_dir=data).db_url)
    # HR sets the interview up while no models are loaded (a job's language is checked against
    # the installed speech models otherwise).
    setup = await aiohttp_client(create_app(Settings(data_dir=data, load_models=False), store=store))
    hr = await login(setup, store, "hr@example.com")
    token, iid = await invite(hr)

    settings = Settings(data_dir=data, models_dir=partial_models(tmp_path, keep), public_url="http://127.0.0.1",
                        ice_host_addresses=("127.0.0.1",), vision_processes=vision_processes)
    client = await aiohttp_client(create_app(settings, store=store))
    bank = client.app[models_key]
    await wait_for(lambda: bank._ready.is_set(), 60, "models to load")
    health = await (await client.get("/api/health")).json()
    vision, speech = health["analyzers"]["vision"], health["analyzers"]["speech"]["ko"]
    assert (vision["status"], speech["status"]) == (("ready", "failed") if keep == "onnx" else ("failed", "ready"))
    assert health["models_ready"] is False

    api = await login(client, store, "admin@example.com", "admin")
    monitor = await client.ws_connect(f"/ws/monitor?token={api.token}")
    snapshot = json.loads((await monitor.receive()).data)
    assert snapshot["type"] == "snapshot"
    assert {k: v["status"] for k, v in snapshot["analyzers"]["speech"].items()} == {"ko": speech["status"]}
    assert snapshot["analyzers"]["vision"]["status"] == vision["status"]
    # Public health says what runs, not the paths on the server behind a failure.
    assert "errors" not in vision and "errors" not in speech and isinstance(health["models"]["errors"], int)
    await monitor.close()

    events: list[Any] = []
    sub = client.app[bus_key].subscribe(lambda e: e.interview_id == iid, limit=10_000)

    async def collect() -> None:
        while (event := await sub.get()) is not None:
            events.append(event)

    reader = asyncio.create_task(collect())
    ws = await client.ws_connect(f"/i/{token}/ws")
    await ws.send_json({"type": "start", "consent": True})
    pcm, rate = read_wav(speech_48k)
    pc = await connect(str(client.make_url("")).rstrip("/"), token, client.session,
                       [PcmTrack(pcm, rate, loop=True), ImageTrack(portrait_640x480())])
    try:
        if keep == "onnx":
            await wait_for(lambda: any(e.type == "signals" and (e.data.get("frame") or {}).get("faces", 0) >= 1
                                       for e in events), 30, "a face seen without a speech model")
            await asyncio.sleep(4)  # long enough for the speech to have been recognised, were it on
            assert not [e for e in events if e.type == "transcript"]
            workers = client.app[sessions_key].vision_workers
            assert (workers is not None and len(workers.pids()) == 1) is vision_processes
        else:
            await wait_for(lambda: any(e.type == "transcript" for e in events), 40,
                           "speech recognised without vision models")
            await wait_for(lambda: len([e for e in events if e.type == "connection"]) >= 2, 10, "health")
            connection = [e for e in events if e.type == "connection"]
            assert connection[-1].data["frames_received"] > 0 and connection[-1].data["frames_analysed"] == 0
    finally:
        await pc.close()
        await ws.close()
        reader.cancel()
