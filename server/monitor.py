"""`GET /ws/monitor`: the HR panel's live feed. A snapshot of every live interview the user may
see, then the bus events for them. Each client has its own bounded queue and sender task
(server/bus.py drops stale updates for a slow client; one that still cannot keep up is
disconnected), so no client ever delays another or the media path."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, web
from sqlmodel import Session

from server.api import router
from server.errors import Unauthorized
from server.jobs import visible_jobs_query
from server.sessions import bus_key, sessions_key
from server.tables import Job
from server.web import principal_of, store_key

logger = logging.getLogger(__name__)


@router.raw("GET", "/ws/monitor", summary="HR live feed (websocket): snapshot, then events",
            auth="hr", content_type="", status=101, errors=(401,), tag="monitor")
async def monitor_ws(request: web.Request) -> web.StreamResponse:
    who = await principal_of(request)
    if who is None:
        raise Unauthorized("authentication required: pass ?token=<token> or log in")
    store = request.app[store_key]
    job_ids: set[int] = set(await store.run(
        lambda db: list(db.exec(visible_jobs_query(who).with_only_columns(Job.id)))))
    manager = request.app[sessions_key]
    bus = request.app[bus_key]
    ws = web.WebSocketResponse(heartbeat=15, max_msg_size=4096)
    await ws.prepare(request)

    def visible(event: Any) -> bool:
        session = manager.sessions.get(event.interview_id)
        return session is not None and session.plan.job_id in job_ids

    subscription = bus.subscribe(visible, limit=512)
    try:
        snapshot = [s.describe() for s in manager.sessions.values() if s.plan.job_id in job_ids]
        await ws.send_str(json.dumps({"type": "snapshot", "interviews": snapshot}, ensure_ascii=False))
        reader = asyncio.create_task(_drain_incoming(ws))
        try:
            while not ws.closed:
                getter = asyncio.create_task(subscription.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                event = getter.result()
                if event is None:
                    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: reconnect")
                    break
                await ws.send_str(json.dumps(event.to_json(), ensure_ascii=False, default=str))
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        bus.unsubscribe(subscription)
    return ws


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """The panel sends nothing we act on here (commands use the JSON API); read to notice close."""
    async for _ in ws:
        pass
