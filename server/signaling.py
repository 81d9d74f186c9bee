"""The candidate's live channel: the SDP offer/answer (`POST /i/{token}/offer`) and the control
websocket (`GET /i/{token}/ws`), both authorised by the invitation token (DESIGN.md)."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from aiortc import RTCSessionDescription
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.api import router
from server.errors import ApiError, Malformed
from server.interview_machine import TEXT, Event, Refused
from server.invitations import OpenLink, open_link
from server.session import InterviewSession
from server.sessions import sessions_key
from server.web import json_response, store_key

logger = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
MAX_WS_MESSAGE = 4 * 1024
# Messages a candidate may send per second before the socket is closed (a stuck key or a bot).
MAX_MESSAGES_PER_S = 20


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sdp: str = Field(max_length=MAX_SDP_BYTES)
    type: Literal["offer"]


async def _link(request: web.Request) -> OpenLink:
    token = request.match_info["token"]
    link = await request.app[store_key].run(lambda db: open_link(db, token))
    return link.check()


@router.raw("POST", "/i/{token}/offer", summary="WebRTC offer -> answer (a new offer replaces the old connection)",
            auth="candidate", content_type="application/json", errors=(400, 404, 409, 410, 413, 503),
            tag="candidate")
async def offer(request: web.Request) -> web.Response:
    raw = await request.content.read(MAX_SDP_BYTES + 1024)
    if len(raw) > MAX_SDP_BYTES:
        return json_response({"error": f"offer too large (limit {MAX_SDP_BYTES} bytes)"}, status=413)
    link = await _link(request)
    try:
        body = OfferIn.model_validate_json(raw)
    except ValidationError as exc:
        raise Malformed("expected JSON {\"sdp\": \"v=0...\", \"type\": \"offer\"}: "
                        + "; ".join(e["msg"] for e in exc.errors()[:3])) from None
    if not body.sdp.lstrip().startswith("v=0") or "m=" not in body.sdp:
        raise Malformed("malformed SDP: it must start with v=0 and describe at least one media section")
    manager = request.app[sessions_key]
    assert link.interview.id is not None
    session = await manager.session_for(link.interview.id)
    try:
        session.check(Event.OFFER)  # before any WebRTC work: finished, or no room (503)
    except Refused as refused:
        raise ApiError(refused.reason, status=refused.status) from None
    peer = manager.new_peer(session)
    try:
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=body.sdp, type="offer"))
        answer = await peer.pc.createAnswer()
        await peer.pc.setLocalDescription(answer)
    except Exception as exc:  # aiortc raises ValueError and friends on SDP it cannot use
        await peer.close()
        logger.info("interview %s: offer refused: %s", session.id, exc)
        raise Malformed(f"malformed or unsupported SDP: {exc}") from None
    try:
        await session.offer(peer)
    except Refused as refused:  # the last slot went to another candidate meanwhile
        await peer.close()
        raise ApiError(refused.reason, status=refused.status) from None
    logger.info("interview %s: new peer connection", session.id)
    return json_response({"sdp": peer.pc.localDescription.sdp, "type": peer.pc.localDescription.type})


class _Socket:
    """The session's view of a candidate websocket: sends go through a queue and one writer
    task, so the session never waits on a slow network."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=256)
        self.closing_reason: str | None = None
        self._abort: asyncio.Future[Any] | None = None
        self.task = asyncio.create_task(self._writer(), name="candidate-ws-writer")

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning("candidate socket is not reading; closing it")
            self.close("not_reading")

    def close(self, code: str) -> None:
        """Tell the page why (a code it maps to words; also the close frame's reason)."""
        self.closing_reason = code
        try:
            self.queue.put_nowait({"type": "state", "state": "closed", "code": code, "reason": TEXT.get(code, code)})
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.task.cancel()
            self._abort = asyncio.ensure_future(
                self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=code.encode()[:120]))

    async def _writer(self) -> None:
        while True:
            message = await self.queue.get()
            if message is None:
                await self.ws.close(code=WSCloseCode.GOING_AWAY,
                                    message=(self.closing_reason or "").encode()[:120])
                return
            try:
                await self.ws.send_str(json.dumps(message, ensure_ascii=False))
            except (ConnectionResetError, RuntimeError):
                return

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@router.raw("GET", "/i/{token}/ws",
            summary="The candidate's control websocket (start, next; questions, captions, state)",
            auth="candidate", content_type="", status=101, errors=(404, 410, 503), tag="candidate")
async def candidate_ws(request: web.Request) -> web.StreamResponse:
    link = await _link(request)
    manager = request.app[sessions_key]
    assert link.interview.id is not None
    session = await manager.session_for(link.interview.id)
    ws = web.WebSocketResponse(heartbeat=10, max_msg_size=MAX_WS_MESSAGE)
    await ws.prepare(request)
    sock = _Socket(ws)
    await session.attach_candidate(sock)
    window_start, count = asyncio.get_running_loop().time(), 0
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                sock.send({"type": "error", "error": "send JSON text messages"})
                continue
            now = asyncio.get_running_loop().time()
            if now - window_start >= 1:
                window_start, count = now, 0
            count += 1
            if count > MAX_MESSAGES_PER_S:
                sock.close("too_many_messages")
                break
            await _handle(session, sock, msg.data)
    finally:
        session.detach_candidate(sock)
        if not sock.task.done() and sock.closing_reason is None:
            sock.queue.put_nowait(None)
        await asyncio.wait([sock.task], timeout=2)
        await sock.stop()
    return ws


async def _handle(session: InterviewSession, sock: _Socket, data: str) -> None:
    try:
        message = json.loads(data)
    except json.JSONDecodeError:
        sock.send({"type": "error", "error": "not valid JSON"})
        return
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        sock.send({"type": "error", "error": 'expected an object with a "type"'})
        return
    kind = message["type"]
    if kind == "start":
        consent = message.get("consent")
        if not isinstance(consent, bool):
            sock.send({"type": "error", "error": '"start" needs "consent": true or false'})
            return
        await session.start(consent)
    elif kind == "next":
        await session.candidate_next()
    elif kind == "ping":
        sock.send({"type": "pong"})
    else:
        sock.send({"type": "error", "error": f"unknown message type {kind!r}"})
