"""The bus between server processes, over Redis pub/sub (CANDOR_REDIS_URL).

Every event published on this process's Bus goes to the channel `candor:events` (one sender
task, a bounded queue: publishing never waits for Redis, and when Redis is slower than the
events the newest are dropped and counted); events of the other processes come back from it and
go to local subscribers only (the HR panel on process A sees an interview held by process B).

Commands for an interview held by another process (HR's pause, resume, interventions, a revoked
link; a candidate asking the holder to let go) go to the holder's channel `candor:cmd:{id}`, and
its answer comes back on `candor:reply:{id}`; an owner that does not answer in time is reported
as unreachable (503), never waited on for long."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from server.bus import Bus, Event
from server.errors import ApiError
from server.ownership import snapshot_key

logger = logging.getLogger(__name__)

EVENTS = "candor:events"
OUTBOX_LIMIT = 4096
# Events after which a panel opening elsewhere must draw the new state from the shared snapshot:
# the snapshot is written in the same pipeline just before the event is published, so a panel
# that subscribed too late for the event reads a snapshot at least as new as it.
SNAPSHOT_EVENTS = frozenset({"state", "intervention"})
# How long a command waits for the holder's answer (a dispatch takes milliseconds).
REQUEST_TIMEOUT_S = 5.0

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def commands_channel(process_id: str) -> str:
    return f"candor:cmd:{process_id}"


def replies_channel(process_id: str) -> str:
    return f"candor:reply:{process_id}"


class Unreachable(ApiError):
    """The process holding the interview did not answer (it died, or Redis is down)."""

    status = 503


class RedisBus:
    def __init__(self, redis: Redis, process_id: str, bus: Bus, job_of: Callable[[int], int | None],
                 handle: Handler, snapshot_of: Callable[[int], dict[str, Any] | None] | None = None,
                 snapshot_ttl_ms: int = 15_000) -> None:
        self.redis = redis
        self.snapshot_of = snapshot_of
        self.snapshot_ttl_ms = snapshot_ttl_ms
        self.process_id = process_id
        self.bus = bus
        self.job_of = job_of
        self.handle = handle
        self.dropped = 0
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: PubSub | None = None

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(EVENTS, commands_channel(self.process_id), replies_channel(self.process_id))
        self._tasks = [asyncio.create_task(self._read(), name="redis-bus-reader"),
                       asyncio.create_task(self._send(), name="redis-bus-sender")]
        self.bus.outbox = self._queue

    def _queue(self, event: Event) -> None:
        message = {"origin": self.process_id, "type": event.type, "interview_id": event.interview_id,
                   "seq": event.seq, "ts": event.ts, "data": event.data, "job_id": self.job_of(event.interview_id)}
        if self.snapshot_of is not None and event.type in SNAPSHOT_EVENTS:
            view = self.snapshot_of(event.interview_id)  # now, as the event leaves (never sent itself)
            if view is not None:
                message["_snapshot"] = view
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 100 == 1:
                logger.warning("redis bus: Redis is not keeping up; %d event(s) not sent to other processes",
                               self.dropped)

    async def _send(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 200:
                batch.append(self._outbox.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for message in batch:
                        view = message.pop("_snapshot", None)
                        if view is not None:
                            pipe.set(snapshot_key(int(message["interview_id"])),
                                     json.dumps(view, ensure_ascii=False, default=str), px=self.snapshot_ttl_ms)
                        pipe.publish(EVENTS, json.dumps(message, ensure_ascii=False, default=str))
                    await pipe.execute()
            except Exception:  # Redis away: these events reach this process's panels only
                self.dropped += len(batch)
                logger.warning("redis bus: could not publish %d event(s)", len(batch), exc_info=True)
                await asyncio.sleep(1.0)

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=5.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # redis-py reconnects and subscribes again on the next read
                logger.warning("redis bus: reading failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                self._receive(message["channel"].decode(), json.loads(message["data"]))
            except Exception:
                logger.exception("redis bus: a message could not be handled")

    def _receive(self, channel: str, body: dict[str, Any]) -> None:
        if channel == EVENTS:
            if body.get("origin") != self.process_id:
                self.bus.deliver(Event(body["type"], int(body["interview_id"]), int(body["seq"]), float(body["ts"]),
                                       dict(body["data"]), body.get("job_id")))
        elif channel == replies_channel(self.process_id):
            future = self._pending.pop(str(body.get("request_id")), None)
            if future is not None and not future.done():
                future.set_result(body)
        else:
            task = asyncio.create_task(self._serve(body), name="redis-bus-command")
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _serve(self, body: dict[str, Any]) -> None:
        try:
            reply = await self.handle(body)
        except ApiError as exc:
            reply = {"error": exc.message, "status": exc.status}
        except Exception:
            logger.exception("redis bus: command %s for interview %s failed", body.get("op"), body.get("interview_id"))
            reply = {"error": "the command failed on the process holding the interview", "status": 500}
        reply["request_id"] = body.get("request_id")
        try:
            await self.redis.publish(replies_channel(str(body["reply_to"])), json.dumps(reply, default=str))
        except Exception:
            logger.warning("redis bus: could not answer a command", exc_info=True)

    async def request(self, process_id: str, message: dict[str, Any],
                      timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Send a command to the process holding an interview and wait for its answer (an
        error answer is raised as the ApiError it was there)."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            body = json.dumps({**message, "request_id": request_id, "reply_to": self.process_id}, default=str)
            try:
                listeners = await self.redis.publish(commands_channel(process_id), body)
            except Exception:
                raise Unreachable("Redis cannot be reached; try again") from None
            if not listeners:
                raise Unreachable("the process holding this interview is gone; try again in a few seconds")
            try:
                reply = await asyncio.wait_for(future, timeout_s)
            except asyncio.TimeoutError:
                raise Unreachable("the process holding this interview does not answer; try again") from None
        finally:
            self._pending.pop(request_id, None)
        if "error" in reply:
            raise ApiError(str(reply["error"]), status=int(reply.get("status") or 500))
        return reply

    async def close(self) -> None:
        if self.bus.outbox == self._queue:
            self.bus.outbox = None
        for task in [*self._tasks, *self._serving]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._serving, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
