"""Faults lose nothing already received: the server process is killed (SIGKILL) in the middle
of an answer, and every final transcript segment and state change before it is on disk."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from tests.live_client import ImageTrack, PcmTrack, connect, portrait_640x480, read_wav
from tests.support.server import running_server
from tests.test_live_session import speech_48k  # noqa: F401  (fixture)


async def test_kill_during_an_answer_keeps_what_was_final(tmp_path: Path, speech_48k: Path) -> None:  # noqa: F811
    with running_server(tmp_path) as base:
        log = base.log()
        email = re.search(r"^\s+email\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
        password = re.search(r"^\s+password\s+(\S+)$", log, re.M)[1]  # type: ignore[index]
        token = re.search(r"/i/([A-Za-z0-9_-]{43,})", log)[1]  # type: ignore[index]
        async with aiohttp.ClientSession() as http:
            for _ in range(240):
                async with http.get(f"{base}/api/health") as resp:
                    if (await resp.json())["models_ready"]:
                        break
                await asyncio.sleep(0.25)
            async with http.post(f"{base}/api/login", json={"email": email, "password": password}) as resp:
                hr_token = (await resp.json())["token"]
            monitor = await http.ws_connect(f"{base}/ws/monitor?token={hr_token}")
            candidate = await http.ws_connect(f"{base}/i/{token}/ws")
            await candidate.send_json({"type": "start", "consent": True})
            pcm, rate = read_wav(speech_48k)
            pc = await connect(str(base), token, http, [PcmTrack(pcm, rate, loop=True), ImageTrack(portrait_640x480())])
            finals: list[dict[str, Any]] = []
            try:
                async def wait_final() -> None:
                    async for msg in monitor:
                        event = json.loads(msg.data)
                        if event.get("type") == "transcript" and event["final"] and event["text"].strip():
                            finals.append(event)
                            return
                await asyncio.wait_for(wait_final(), 40)
                base.process.send_signal(signal.SIGKILL)  # mid-answer: audio is still flowing
                base.process.wait(10)
            finally:
                await pc.close()
        db = sqlite3.connect(base.data_dir / "candor.sqlite3")
        rows = db.execute("select text, start_s, end_s, question_index from transcript_segments").fetchall()
        states = [r[0] for r in db.execute("select to_state from state_changes order by id")]
        interview = db.execute("select state, started_at from interviews where id = 1").fetchone()
        db.close()
    assert finals and rows, "the final segment the panel saw is not on disk"
    assert finals[0]["text"] in [r[0] for r in rows]
    assert all(r[3] == 0 and r[2] >= r[1] for r in rows)
    assert states[:3] == ["consented", "connecting", "live"]
    assert interview[0] == "live" and interview[1] is not None
