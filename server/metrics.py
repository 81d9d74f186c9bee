"""Operator endpoints: `GET /api/ready` (may a load balancer send traffic here?) and
`GET /metrics` (Prometheus text format, this process only; CANDOR_METRICS_ALLOW addresses).

The numbers are read at scrape time from what the sessions already count (server/media.py
MediaCounters, the recogniser's lag); nothing on the media path is touched. Counts a leak would
grow (asyncio tasks, peer connections alive, OS threads) are read at scrape time too, for a soak
to watch (bench/soak.py). Row counts of the mail outbox and webhook queue are cached for
QUEUE_CACHE_S so a busy scraper costs no more than one small query per table every few seconds."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, text
from sqlmodel import Session, select

from server.api import router
from server.interview_machine import State
from server.model_bank import ModelBank, models_key
from server.peer_registry import count_by_state as peer_connections_by_state
from server.sessions import SessionManager, sessions_key
from server.settings import Settings
from server.store import Store
from server.tables import OutboundMail, WebhookDelivery
from server.web import client_address, settings_key, store_key

logger = logging.getLogger(__name__)
QUEUE_CACHE_S = 5.0
READY_STORE_TIMEOUT_S = 3.0


@dataclass(slots=True)
class QueueCounts:
    """Rows by state in the mail outbox and the webhook queue, as of `at` (monotonic)."""

    mail: dict[str, int] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)
    at: float = float("-inf")


def _count_queues(db: Session) -> QueueCounts:
    def by_state(column: Any) -> dict[str, int]:
        return {str(state): int(n) for state, n in db.exec(select(column, func.count()).group_by(column))}

    return QueueCounts(by_state(OutboundMail.state), by_state(WebhookDelivery.state), time.monotonic())


class CandorCollector(Collector):
    """Reads the process's sessions at each scrape. The analysed frame rate is the change in
    frames analysed since the previous scrape (per interview), so the first scrape after a
    session starts shows none."""

    def __init__(self, manager: SessionManager, bank: ModelBank, store: Store, settings: Settings,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.manager = manager
        self.loop = loop  # the app's loop, whose tasks are counted
        self.bank = bank
        self.store = store
        self.settings = settings
        self.queues = QueueCounts()
        self._frames_seen: dict[int, tuple[float, int]] = {}  # interview id -> (monotonic, analysed)

    async def refresh_queues(self) -> None:
        if time.monotonic() - self.queues.at < QUEUE_CACHE_S:
            return
        try:
            self.queues = await self.store.run(_count_queues)
        except Exception:  # a scrape never fails over the database; the old counts stay
            logger.warning("metrics: could not count the mail and webhook queues", exc_info=True)

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        sessions = list(self.manager.sessions.values())
        by_state = GaugeMetricFamily("candor_sessions", "Interview sessions held by this process, by state",
                                     labels=["state"])
        counts = {s.value: 0 for s in State}
        for session in sessions:
            counts[session.state.value] = counts.get(session.state.value, 0) + 1
        for state, n in counts.items():
            by_state.add_metric([state], n)
        yield by_state
        yield GaugeMetricFamily("candor_max_sessions", "CANDOR_MAX_SESSIONS: live interviews this process admits",
                                value=self.settings.max_sessions)

        fps = GaugeMetricFamily("candor_session_analysis_fps", "Frames analysed per second since the last scrape",
                                labels=["interview_id"])
        lag = GaugeMetricFamily("candor_session_asr_lag_seconds", "Speech recognition behind live audio",
                                labels=["interview_id"])
        dropped = GaugeMetricFamily("candor_session_frames_dropped",
                                    "Video frames never analysed (a newer one came), current connection",
                                    labels=["interview_id"])
        received = GaugeMetricFamily("candor_session_frames_received", "Video frames received, current connection",
                                     labels=["interview_id"])
        audio = GaugeMetricFamily("candor_session_audio_seconds", "Audio received, current connection",
                                  labels=["interview_id"])
        total_fps = 0.0
        max_lag = 0.0
        seen: dict[int, tuple[float, int]] = {}
        for session in sessions:
            peer = session.peer
            if peer is None:
                continue
            label = [str(session.id)]
            c = peer.counters
            before = self._frames_seen.get(session.id)
            rate = 0.0
            # A new connection starts its counters again: no rate across that.
            if before is not None and now > before[0] and c.frames_analysed >= before[1]:
                rate = (c.frames_analysed - before[1]) / (now - before[0])
            seen[session.id] = (now, c.frames_analysed)
            total_fps += rate
            fps.add_metric(label, round(rate, 3))
            dropped.add_metric(label, c.frames_dropped)
            received.add_metric(label, c.frames_received)
            audio.add_metric(label, round(c.audio_seconds, 3))
            if peer.speech is not None:
                lag_s = float(peer.speech.lag_s)
                max_lag = max(max_lag, lag_s)
                lag.add_metric(label, round(lag_s, 3))
        self._frames_seen = seen
        yield from (fps, lag, dropped, received, audio)
        yield GaugeMetricFamily("candor_analysis_fps", "Frames analysed per second, all sessions of this process",
                                value=round(total_fps, 3))
        yield GaugeMetricFamily("candor_asr_lag_seconds_max", "The largest speech recognition lag of any session",
                                value=round(max_lag, 3))
        yield GaugeMetricFamily("candor_models_ready", "1 when every model has loaded", value=int(self.bank.ready))
        yield GaugeMetricFamily("candor_store_queue_depth", "Database calls waiting for a store thread",
                                value=_store_queue_depth(self.store))
        mail = GaugeMetricFamily("candor_mail_outbox", "Outbound mail rows by state (cached a few seconds)",
                                 labels=["state"])
        for state, n in sorted(self.queues.mail.items()):
            mail.add_metric([state], n)
        yield mail
        hooks = GaugeMetricFamily("candor_webhook_deliveries", "Webhook deliveries by state (cached a few seconds)",
                                  labels=["state"])
        for state, n in sorted(self.queues.webhooks.items()):
            hooks.add_metric([state], n)
        yield hooks
        yield from self._leak_watch()

    def _leak_watch(self) -> Iterator[Metric]:
        """What grows when something is not cleaned up after an interview."""
        if self.loop is not None:
            yield GaugeMetricFamily("candor_asyncio_tasks", "asyncio tasks not yet done on the server's event loop",
                                    value=len(asyncio.all_tasks(self.loop)))
        pcs = GaugeMetricFamily("candor_peer_connections",
                                "RTCPeerConnection objects alive in this process (not yet garbage-collected), "
                                "by connectionState", labels=["state"])
        by_state = peer_connections_by_state()
        for state in ("new", "connecting", "connected", "disconnected", "failed", "closed"):
            pcs.add_metric([state], by_state.pop(state, 0))
        for state, n in sorted(by_state.items()):
            pcs.add_metric([state], n)
        yield pcs
        yield GaugeMetricFamily("candor_threads", "OS threads of this process (native ones included)",
                                value=_os_threads())
        yield GaugeMetricFamily("candor_python_threads", "Python threads of this process (threading)",
                                value=threading.active_count())
        workers = self.manager.vision_workers
        if workers is not None:
            w = workers.stats()
            yield GaugeMetricFamily("candor_vision_worker_processes", "Vision worker processes running",
                                    value=w.processes)
            yield GaugeMetricFamily("candor_vision_worker_resident_memory_bytes",
                                    "Resident memory of the vision worker processes, summed", value=w.resident_bytes)
            yield GaugeMetricFamily("candor_vision_worker_streams",
                                    "Video streams assigned to the vision workers", value=w.streams)
            yield CounterMetricFamily("candor_vision_worker_starts",
                                      "Vision worker processes started (more than running: restarts)", value=w.starts)
        trimmer = self.manager.memory
        yield CounterMetricFamily("candor_malloc_trims", "Times freed memory was handed back to the system "
                                  "(server/memory.py)", value=trimmer.trims)
        yield CounterMetricFamily("candor_malloc_trim_seconds", "Time spent handing freed memory back",
                                  value=round(trimmer.seconds, 6))
        yield CounterMetricFamily("candor_gc_collections", "Full garbage collections after a session left memory",
                                  value=trimmer.collections)
        yield CounterMetricFamily("candor_gc_collect_seconds", "Event-loop time those collections took",
                                  value=round(trimmer.collect_seconds, 6))


def _os_threads() -> int:
    """Threads the kernel lists for this process: also those onnxruntime and FFmpeg start."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux
        return threading.active_count()


def _store_queue_depth(store: Store) -> int:
    """Calls queued behind the store's busy threads (its executor's work queue; 0 if unknown)."""
    queue = getattr(getattr(store, "_executor", None), "_work_queue", None)
    return int(queue.qsize()) if queue is not None else 0


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry
    collector: CandorCollector


metrics_key = web.AppKey("metrics", Metrics)


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """One registry per app (tests run several apps in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)  # CPU seconds, resident memory, open files
    collector = CandorCollector(app[sessions_key], app[models_key], app[store_key], app[settings_key],
                                asyncio.get_running_loop())
    registry.register(collector)
    app[metrics_key] = Metrics(registry, collector)
    yield


def allowed(settings: Settings, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in settings.metrics_allow)


@router.raw("GET", "/metrics", summary="Prometheus metrics of this process (CANDOR_METRICS_ALLOW addresses)",
            content_type="text/plain", errors=(403,), tag="meta")
async def metrics(request: web.Request) -> web.Response:
    # The client's address as the login limits see it: behind a trusted proxy the forwarded
    # one, so a proxy on 127.0.0.1 does not open /metrics to the world.
    if not allowed(request.app[settings_key], client_address(request)):
        # JSON like the API (a scraper is no person): /metrics is outside /api/.
        return web.json_response({"error": "metrics are served only to the addresses in CANDOR_METRICS_ALLOW"},
                                 status=403)
    state = request.app[metrics_key]
    await state.collector.refresh_queues()
    body = generate_latest(state.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


@router.raw("GET", "/api/ready", summary="Readiness: 200 once the models are loaded and the database answers",
            content_type="application/json", errors=(503,), tag="meta")
async def ready(request: web.Request) -> web.Response:
    bank = request.app[models_key]
    store = request.app[store_key]
    models_ok = bank.ready or not bank.enabled
    try:
        await asyncio.wait_for(store.run(lambda db: db.connection().execute(text("select 1")).scalar_one()),
                               READY_STORE_TIMEOUT_S)
        store_ok = True
    except Exception:  # any failure means not ready; the log says which
        logger.warning("readiness: the database did not answer", exc_info=True)
        store_ok = False
    is_ready = models_ok and store_ok
    body: dict[str, Any] = {"ready": is_ready, "models_ready": models_ok, "store_ready": store_ok,
            "sessions": len(request.app[sessions_key].sessions)}
    if not is_ready:
        body["error"] = "not ready: " + ", ".join(
            what for what, ok in (("models loading", models_ok), ("database not answering", store_ok)) if not ok)
    return web.json_response(body, status=200 if is_ready else 503, headers={"Cache-Control": "no-store"})
