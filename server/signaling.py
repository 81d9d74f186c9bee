"""The candidate's live channel: the SDP offer/answer (`POST /i/{token}/offer`) and the control
websocket (`GET /i/{token}/ws`), both authorised by the invitation token (DESIGN.md)."""
from __future__ import annotations

import asyncio
import json
import logging
import math
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web
from aiortc import RTCSessionDescription
from pydantic import BaseModel, ConfigDict, ValidationError

from server.api import router
from server.errors import ApiError, Malformed
from server.interview_machine import TEXT, Event, Refused
from server.invitations import OpenLink, open_link
from server.session import InterviewSession
from server.sessions import sessions_key
from server.web import client_address, json_response, store_key

logger = logging.getLogger(__name__)

# A real browser offer (one audio, one video section, its ICE candidates) is 3-6 KB.
MAX_SDP_BYTES = 16 * 1024
# The request body: the SDP inside its JSON envelope (escaped line ends make it a little longer).
MAX_OFFER_BODY = MAX_SDP_BYTES + 4 * 1024
# How long the whole offer body may take to arrive (-> 408, which the page retries).
OFFER_READ_TIMEOUT_S = 10.0
# Offers per link and window (-> 429 with Retry-After). A reconnecting page retries with backoff
# 1, 2, 4, 8, 10, 10... s: at most 9 offers in its worst minute.
OFFERS_PER_WINDOW = 12
# From one client address, over all its links: several candidates may share an office's NAT, but
# one host cycling through many links is refused.
OFFERS_PER_ADDRESS_WINDOW = 60
OFFER_WINDOW_S = 60.0
MAX_WS_MESSAGE = 4 * 1024
# Candidate messages are flat objects; deeper JSON is refused before it is parsed.
MAX_JSON_DEPTH = 8
# Messages a candidate may send per second before the socket is closed (a stuck key or a bot).
MAX_MESSAGES_PER_S = 20


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sdp: str
    type: Literal["offer"]


OFFER_TOO_LARGE = f"offer too large (limit {MAX_SDP_BYTES} bytes of SDP)"
OFFER_UNUSABLE = ("the offer's SDP could not be used: it is malformed, or asks for media this server "
                  "does not support")


@dataclass
class _OfferGate:
    """Per app: the interviews with an offer being answered, and each one's recent offers."""

    in_flight: set[int] = field(default_factory=set)
    recent: dict[tuple[str, object], deque[float]] = field(default_factory=dict)
    pruned_at: float = 0.0

    def wait_s(self, key: tuple[str, object], now: float, limit: int) -> float | None:
        """None if an offer may go ahead now (and counts it), else seconds until one may."""
        if now - self.pruned_at >= OFFER_WINDOW_S:  # forget links that stopped offering
            self.pruned_at = now
            for key in [k for k, times in self.recent.items() if not times or now - times[-1] >= OFFER_WINDOW_S]:
                del self.recent[key]
        times = self.recent.setdefault(key, deque())
        while times and now - times[0] >= OFFER_WINDOW_S:
            times.popleft()
        if len(times) >= limit:
            return OFFER_WINDOW_S - (now - times[0])
        times.append(now)
        return None


_gates: weakref.WeakKeyDictionary[web.Application, _OfferGate] = weakref.WeakKeyDictionary()


def _gate(app: web.Application) -> _OfferGate:
    gate = _gates.get(app)
    if gate is None:
        gate = _gates[app] = _OfferGate()
    return gate


def _too_many(message: str, retry_after_s: float) -> web.Response:
    resp = json_response({"error": message}, status=429)
    resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return resp


async def _read_offer_body(request: web.Request) -> bytes:
    """The whole body (however many packets it comes in), but never more than MAX_OFFER_BODY."""
    too_large = ApiError(OFFER_TOO_LARGE, status=413)
    if request.content_length is not None and request.content_length > MAX_OFFER_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(OFFER_READ_TIMEOUT_S):
            while chunk := await request.content.read(MAX_OFFER_BODY + 1 - size):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_OFFER_BODY:
                    raise too_large
    except TimeoutError:
        raise ApiError(f"the offer did not arrive within {OFFER_READ_TIMEOUT_S:g} s; try again",
                       status=408) from None
    return b"".join(chunks)


def _media_problem(sdp: str) -> str | None:
    """Why the offer's media sections are not one audio and/or one video section, or None."""
    kinds = [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]
    audio, video = kinds.count("audio"), kinds.count("video")
    other = len(kinds) - audio - video
    if kinds and audio <= 1 and video <= 1 and not other:
        return None
    return ("the offer must have one audio and/or one video media section and nothing else "
            f"(it has {audio} audio, {video} video and {other} other)")


async def _link(request: web.Request) -> OpenLink:
    token = request.match_info["token"]
    link = await request.app[store_key].run(lambda db: open_link(db, token))
    return link.check()


@router.raw("POST", "/i/{token}/offer", summary="WebRTC offer -> answer (a new offer replaces the old connection)",
            auth="candidate", content_type="application/json", errors=(400, 404, 408, 409, 410, 413, 429, 503),
            tag="candidate")
async def offer(request: web.Request) -> web.Response:
    raw = await _read_offer_body(request)
    link = await _link(request)
    interview_id = link.interview.id
    assert interview_id is not None
    gate = _gate(request.app)
    # From here to `in_flight.add` nothing awaits: two offers cannot both pass.
    if interview_id in gate.in_flight:
        return _too_many("an offer for this interview is already being answered; "
                         "wait for its answer before offering again", 1)
    now = asyncio.get_running_loop().time()
    wait_s = gate.wait_s(("address", client_address(request)), now, OFFERS_PER_ADDRESS_WINDOW)
    if wait_s is not None:
        return _too_many(f"too many offers from this address (at most {OFFERS_PER_ADDRESS_WINDOW} in "
                         f"{OFFER_WINDOW_S:g} s); try again in {math.ceil(wait_s)} s", wait_s)
    wait_s = gate.wait_s(("link", interview_id), now, OFFERS_PER_WINDOW)
    if wait_s is not None:
        return _too_many(f"too many offers for this interview (at most {OFFERS_PER_WINDOW} in "
                         f"{OFFER_WINDOW_S:g} s); try again in {math.ceil(wait_s)} s", wait_s)
    try:
        body = OfferIn.model_validate_json(raw)
    except ValidationError as exc:
        raise Malformed("expected JSON {\"sdp\": \"v=0...\", \"type\": \"offer\"}: "
                        + "; ".join(e["msg"] for e in exc.errors()[:3])) from None
    if len(body.sdp) > MAX_SDP_BYTES:
        raise ApiError(OFFER_TOO_LARGE, status=413)
    if not body.sdp.lstrip().startswith("v=0") or "m=" not in body.sdp:
        raise Malformed("malformed SDP: it must start with v=0 and describe at least one media section")
    problem = _media_problem(body.sdp)
    if problem is not None:
        raise Malformed(problem)
    gate.in_flight.add(interview_id)
    try:
        return await _answer(request, interview_id, body.sdp)
    finally:
        gate.in_flight.discard(interview_id)


async def _answer(request: web.Request, interview_id: int, sdp: str) -> web.Response:
    manager = request.app[sessions_key]
    session = await manager.session_for_candidate(interview_id)
    try:
        session.check(Event.OFFER)  # before any WebRTC work: finished, or no room (503)
    except Refused as refused:
        raise _refusal(session, refused) from None
    peer = manager.new_peer(session)
    try:
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        answer = await peer.pc.createAnswer()
        await peer.pc.setLocalDescription(answer)
    except Exception as exc:  # aiortc raises ValueError and friends on SDP it cannot use
        await peer.close()
        logger.info("interview %s: offer refused: %s: %.300s", session.id, type(exc).__name__, exc)
        raise Malformed(OFFER_UNUSABLE) from None
    try:
        await session.offer(peer)
    except Refused as refused:  # the last slot went to another candidate meanwhile
        await peer.close()
        raise _refusal(session, refused) from None
    logger.info("interview %s: new peer connection", session.id)
    return json_response({"sdp": peer.pc.localDescription.sdp, "type": peer.pc.localDescription.type})


def _refusal(session: InterviewSession, refused: Refused) -> ApiError:
    """No room here: the 503 names a process with room (`route`), if one announced it; the
    page offers again through nginx's `?via=` that route."""
    route = session.slots.route_for(refused.code)
    if route is None:
        return ApiError(refused.reason, status=refused.status)
    return ApiError(refused.reason, status=refused.status, route=route)


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
            summary="The candidate's control websocket (start, next, withdraw; questions, captions, state)",
            auth="candidate", content_type="", status=101, errors=(404, 410, 503), tag="candidate")
async def candidate_ws(request: web.Request) -> web.StreamResponse:
    link = await _link(request)
    manager = request.app[sessions_key]
    assert link.interview.id is not None
    session = await manager.session_for_candidate(link.interview.id)
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
            try:
                await _handle(session, sock, msg.data)
            except Exception:  # logged here, without the link's token (the request path has it)
                logger.exception("interview %s: candidate message failed", session.id)
                sock.send({"type": "error", "error": "the server could not handle that message"})
    finally:
        session.detach_candidate(sock)
        if not sock.task.done() and sock.closing_reason is None:
            sock.queue.put_nowait(None)
        await asyncio.wait([sock.task], timeout=2)
        await sock.stop()
    return ws


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `limit`: a scan, no recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > limit:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


async def _handle(session: InterviewSession, sock: _Socket, data: str) -> None:
    if _nested_deeper_than(data, MAX_JSON_DEPTH):
        sock.send({"type": "error", "error": f"JSON nested too deeply (at most {MAX_JSON_DEPTH} levels)"})
        return
    try:
        message = json.loads(data)
    except (json.JSONDecodeError, RecursionError):
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
        # The notice version the page showed (absent: the current one) and, for profiles that
        # ask for it separately, the answer to the biometric consent (absent: no).
        version = message.get("notice_version")
        biometric = message.get("biometric_consent")
        if version is not None and not (isinstance(version, str) and 0 < len(version) <= 32):
            sock.send({"type": "error", "error": '"notice_version" must be the version string the page showed'})
            return
        if biometric is not None and not isinstance(biometric, bool):
            sock.send({"type": "error", "error": '"biometric_consent" must be true or false'})
            return
        language = message.get("notice_language")
        if language is not None and not (isinstance(language, str) and 0 < len(language) <= 16):
            sock.send({"type": "error", "error": '"notice_language" must be the language code the page showed'})
            return
        await session.start(consent, version, biometric, language)
    elif kind == "withdraw":
        if not await session.withdraw():
            sock.send({"type": "error", "error": "there is no consent to analysis to withdraw"})
    elif kind == "next":
        await session.candidate_next()
    elif kind == "ping":
        sock.send({"type": "pong"})
    else:
        sock.send({"type": "error", "error": f"unknown message type {kind!r}"})
