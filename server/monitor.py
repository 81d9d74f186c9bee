"""`GET /ws/monitor`: the HR panel's live feed. A snapshot of every live interview the user may
see, then the bus events for them (with several processes, those of every process: the snapshot
from Redis, the events through server/redis_bus.py). Each client has its own bounded queue and
sender task (server/bus.py drops stale updates for a slow client; one that still cannot keep up
is disconnected), so no client ever delays another or the media path."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from server.api import router
from server.errors import Forbidden, Unauthorized
from server.jobs import visible_jobs_query
from server import session_views
from server.model_bank import models_key
from server.sessions import SessionManager, bus_key, sessions_key
from server.tables import Job
from server.auth import TokenKind, resolve_token
from server.store import Store
from server.web import SESSION_COOKIE, bearer_token, principal_of, store_key

logger = logging.getLogger(__name__)
# Close code for a feed without a valid login (4000-4999 are the application's).
AUTH_REQUIRED_CLOSE = 4401
# How often an open feed re-checks its login (logout or expiry close it within this time).
LOGIN_CHECK_EVERY_S = 5.0


def _same_origin(request: web.Request) -> bool:
    """Cookies ride along on cross-site websocket requests: only our own pages may use them."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@router.raw("GET", "/ws/monitor", summary="HR live feed (websocket): snapshot, then events",
            auth="hr", content_type="", status=101, errors=(401,), tag="monitor")
async def monitor_ws(request: web.Request) -> web.StreamResponse:
    who = await principal_of(request)
    credential = _credential(request)
    if who is not None and (credential is None or who.token_kind != credential[1]):
        who = None  # a token on the wrong carrier (an API token in the cookie, a session as ?token=)
    if who is None or credential is None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            # A browser cannot read the status of a refused upgrade: accept, say why, close.
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str(json.dumps({"type": "error", "error": "authentication required: log in again"}))
            await ws.close(code=AUTH_REQUIRED_CLOSE, message=b"authentication required")
            return ws
        raise Unauthorized("authentication required: pass ?token=<token> or log in")
    if request.cookies and not request.query.get("token") and not _same_origin(request):
        raise Forbidden("the live feed is only served to pages of this site")
    store = request.app[store_key]
    job_ids: set[int] = set(await store.run(
        lambda db: list(db.exec(visible_jobs_query(who).with_only_columns(Job.id)))))
    manager = request.app[sessions_key]
    bus = request.app[bus_key]
    ws = web.WebSocketResponse(heartbeat=15, max_msg_size=4096)
    await ws.prepare(request)

    def visible(event: Any) -> bool:
        if event.job_id is not None:  # from another process
            return event.job_id in job_ids
        session = manager.sessions.get(event.interview_id)
        return session is not None and session.plan.job_id in job_ids

    subscription = bus.subscribe(visible, limit=512)
    try:
        snapshot = await _snapshot(manager, job_ids)
        # Each analyser's own status: a missing speech model leaves vision running, and HR sees which.
        analyzers = request.app[models_key].analyzers()
        await ws.send_str(json.dumps({"type": "snapshot", "interviews": snapshot, "analyzers": analyzers},
                                     ensure_ascii=False))
        reader = asyncio.create_task(_drain_incoming(ws))
        # The feed lives only as long as its login: logout, expiry or a disabled user end it.
        watcher = asyncio.create_task(_login_ends(store, *credential))
        try:
            while not ws.closed:
                getter = asyncio.create_task(subscription.get())
                done, _ = await asyncio.wait({getter, reader, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                if watcher in done:
                    getter.cancel()
                    await ws.send_str(json.dumps({"type": "error", "error": "logged out: log in again"}))
                    await ws.close(code=AUTH_REQUIRED_CLOSE, message=b"logged out")
                    break
                event = getter.result()
                if event is None:
                    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: reconnect")
                    break
                # "sent" beside the publish time "ts": a slow panel shows whether the time went
                # in this process (queue, loop) or on the way to the browser.
                await ws.send_str(json.dumps({**event.to_json(), "sent": round(time.time(), 3)},
                                             ensure_ascii=False, default=str))
        finally:
            reader.cancel()
            watcher.cancel()
            await asyncio.gather(reader, watcher, return_exceptions=True)
    finally:
        bus.unsubscribe(subscription)
    return ws


async def _snapshot(manager: SessionManager, job_ids: set[int]) -> list[dict[str, Any]]:
    """Every live interview of these jobs: this process's from memory (the freshest), the
    others' from the snapshots their holders keep in Redis."""
    views = {s.id: session_views.describe(s) for s in manager.sessions.values() if s.plan.job_id in job_ids}
    if manager.ownership is not None:
        try:
            shared = await manager.ownership.snapshots()
        except Exception:  # Redis away: this process's interviews are still worth showing
            logger.warning("monitor: shared snapshots unavailable", exc_info=True)
            shared = []
        for view in shared:
            if view.get("job_id") in job_ids and view.get("interview_id") not in views:
                views[view["interview_id"]] = view
    return [views[k] for k in sorted(views)]


def _credential(request: web.Request) -> tuple[str, TokenKind] | None:
    """The token that authenticates this request and the kind its carrier allows (the same
    order as principal_of: a bearer token first, then the page cookie)."""
    token = bearer_token(request)
    if token is not None:
        return token, "api"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "session"
    return None


async def _login_ends(store: Store, token: str, kind: TokenKind) -> None:
    """Returns once the feed's login is no longer valid (checked every LOGIN_CHECK_EVERY_S)."""
    while True:
        await asyncio.sleep(LOGIN_CHECK_EVERY_S)
        try:
            if await store.run(lambda db: resolve_token(db, token, kind)) is None:
                return
        except Exception:  # a database hiccup is not a logout: check again next time
            logger.warning("could not re-check a monitor feed's login", exc_info=True)


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """The panel sends nothing we act on here (commands use the JSON API); read to notice close."""
    async for _ in ws:
        pass
