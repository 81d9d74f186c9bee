"""Sending webhook deliveries: signed POSTs, retried with back-off, at most one sender at a time
per delivery even with several server processes on one database.

The wire format (what a receiver, e.g. an ATS, gets):

    POST <hook url>
    Content-Type: application/json
    User-Agent: Candor-Webhooks
    X-Candor-Event: decision.made
    X-Candor-Delivery: 42                  (the same id on every retry: receivers dedupe on it)
    X-Candor-Timestamp: 1796166000         (unix seconds, when this attempt was signed)
    X-Candor-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

    {"id": 42, "event": "decision.made", "created_at": "2026-12-01T21:00:00Z", "data": {...}}

Any 2xx answer is success; anything else (a redirect too: none is followed), a refused
connection or no answer within CANDOR_WEBHOOK_TIMEOUT_S is a failure, tried again after
CANDOR_WEBHOOK_RETRY_S * 2^(attempt-1) seconds until CANDOR_WEBHOOK_MAX_ATTEMPTS; then the
delivery stays failed (HR can redeliver it).

Claiming: due deliveries become `sending` in one UPDATE whose WHERE re-checks that each row is
still due, so of two processes polling the same database exactly one sends a delivery. A claim
is a lease: `next_attempt_at` is set to when the attempt must be over; a `sending` row whose
lease ran out (its process was killed mid-send) is due again, so nothing queued is lost to a
crash (a receiver may then get that delivery twice: it dedupes on X-Candor-Delivery). A
process that stops cleanly hands its in-flight deliveries back at once."""
from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Callable

import aiohttp
from aiohttp import web
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select, update

from server.sealing import Sealer, Unsealable, sealer_key
from server.settings import Settings
from server.store import Store
from server.tables import Webhook, WebhookDelivery, utcnow
from server.web import dumps, settings_key, store_key
from server.webhook_events import iso

logger = logging.getLogger(__name__)

USER_AGENT = "Candor-Webhooks"
SIGNATURE_PREFIX = "sha256="
# A receiver should refuse a signature older than this (replayed); `verify` does.
TOLERANCE_S = 300
BATCH = 20  # deliveries claimed (and sent concurrently) per pass
KEPT_ANSWER_CHARS = 200  # of a failing receiver's answer, for the delivery log
LONGEST_BACKOFF_S = 24 * 3600.0
DUE_STATES = ("queued", "failed", "sending")  # sending: only once its lease ran out


# --- signing -------------------------------------------------------------------------------------

def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Candor-Signature value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature_header: str, *,
           tolerance_s: float = TOLERANCE_S, now: float | None = None) -> bool:
    """What a receiver checks (copy this logic): the signature over the timestamp and the raw
    body, compared in constant time, and a timestamp no further than `tolerance_s` from now."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signature_header.strip())


# --- waking the sender when this process queues work --------------------------------------------

# Wakers of the senders running in this process; called from the store's thread after a commit
# that added deliveries, so an event goes out at once instead of at the next poll.
_wakers: set[Callable[[], None]] = set()


@event.listens_for(OrmSession, "after_flush")
def _notice_queued(session: OrmSession, _context: Any) -> None:
    if any(isinstance(o, WebhookDelivery) and o.state == "queued" for o in (*session.new, *session.dirty)):
        session.info["webhook_queued"] = True


@event.listens_for(OrmSession, "after_commit")
def _wake_after_commit(session: OrmSession) -> None:
    if session.info.pop("webhook_queued", False):
        for wake in list(_wakers):
            wake()


@event.listens_for(OrmSession, "after_rollback")
def _forget_on_rollback(session: OrmSession) -> None:
    session.info.pop("webhook_queued", None)


# --- claiming and recording ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this process now sends: its attempt number and what goes on the wire."""

    id: int
    webhook_id: int
    event: str
    attempts: int
    url: str
    secret: str | None  # None: the sealed secret cannot be read (the secret key changed)
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str = ""


def wire_body(delivery_id: int, event_name: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    return dumps({"id": delivery_id, "event": event_name, "created_at": iso(created_at), "data": data}).encode()


def _due(now: datetime) -> tuple[Any, ...]:
    return (col(WebhookDelivery.state).in_(DUE_STATES), col(WebhookDelivery.next_attempt_at).is_not(None),
            col(WebhookDelivery.next_attempt_at) <= now)


def claim(db: Session, sealer: Sealer, now: datetime, lease_until: datetime, limit: int = BATCH) -> list[Claimed]:
    """Make up to `limit` due deliveries of active hooks `sending` (this process's), oldest
    due first, in one UPDATE that writes first (SQLite takes its write lock before reading, so
    two processes queue up instead of failing) and re-checks the due condition on each row
    (PostgreSQL re-reads a row another process just updated: it is no longer due). The lease
    end, unique to this pass, tells this pass's rows apart."""
    due_ids = (select(WebhookDelivery.id).join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
               .where(col(Webhook.active).is_(True), *_due(now))
               .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)).limit(limit))
    db.exec(update(WebhookDelivery).where(col(WebhookDelivery.id).in_(due_ids), *_due(now))
            .values(state="sending", attempts=col(WebhookDelivery.attempts) + 1, next_attempt_at=lease_until)
            .execution_options(synchronize_session=False))
    rows = db.exec(select(WebhookDelivery, Webhook).join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
                   .where(col(WebhookDelivery.state) == "sending", col(WebhookDelivery.next_attempt_at) == lease_until)
                   .order_by(col(WebhookDelivery.id))).all()
    claimed = []
    for delivery, hook in rows:
        assert delivery.id is not None
        try:
            secret: str | None = sealer.unseal(hook.secret_sealed)
        except Unsealable:
            secret = None
        claimed.append(Claimed(delivery.id, delivery.webhook_id, delivery.event, delivery.attempts, hook.url,
                               secret, wire_body(delivery.id, delivery.event, delivery.created_at, delivery.payload)))
    return claimed


def backoff_s(settings: Settings, attempts: int) -> float:
    return float(min(settings.webhook_retry_s * 2 ** max(attempts - 1, 0), LONGEST_BACKOFF_S))


def record(db: Session, settings: Settings, results: list[tuple[Claimed, Outcome]], now: datetime) -> None:
    """Store each attempt's result, unless the claim was lost meanwhile (the lease ran out and
    another process took the delivery: its result is the one that counts)."""
    for claimed, outcome in results:
        values: dict[str, Any] = {"last_status": outcome.status}
        if outcome.ok:
            # last_error stays: the log then shows that earlier attempts failed, and why.
            values.update(state="delivered", delivered_at=now, next_attempt_at=None)
        else:
            values.update(state="failed", last_error=outcome.error[:1000], next_attempt_at=(
                None if claimed.attempts >= settings.webhook_max_attempts
                else now + timedelta(seconds=backoff_s(settings, claimed.attempts))))
        stored = db.exec(update(WebhookDelivery).where(col(WebhookDelivery.id) == claimed.id,
                                                       col(WebhookDelivery.state) == "sending",
                                                       col(WebhookDelivery.attempts) == claimed.attempts)
                         .values(**values))
        if stored.rowcount != 1:
            logger.info("webhook delivery %d: attempt %d ran past its lease; another sender took it over",
                        claimed.id, claimed.attempts)


def release(db: Session, claimed: list[Claimed], now: datetime) -> None:
    """Hand deliveries back unsent (a clean stop): due now, the attempt not counted."""
    for c in claimed:
        db.exec(update(WebhookDelivery).where(col(WebhookDelivery.id) == c.id, col(WebhookDelivery.state) == "sending",
                                              col(WebhookDelivery.attempts) == c.attempts)
                .values(state="queued", attempts=c.attempts - 1, next_attempt_at=now))


# --- the sender ----------------------------------------------------------------------------------

class Sender:
    """The app's webhook worker: one task, owned here, polling every CANDOR_OUTBOX_POLL_S and
    woken at once when this process queues a delivery."""

    def __init__(self, settings: Settings, store: Store, sealer: Sealer) -> None:
        self.settings = settings
        self.store = store
        self.sealer = sealer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._in_flight: list[Claimed] = []
        self._retries: list[float] = []  # (heap) monotonic times of retries this process scheduled
        self._waker: Callable[[], None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def waker() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._wake.set)

        self._waker = waker
        _wakers.add(waker)
        # No proxies from the environment, no cookies kept between receivers.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def close(self) -> None:
        if self._waker is not None:
            _wakers.discard(self._waker)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._in_flight:
            unsent, self._in_flight = self._in_flight, []
            try:
                await self.store.run(lambda db: release(db, unsent, utcnow()))
            except RuntimeError as exc:
                if not _store_closed(exc):
                    raise
                logger.info("webhook sender: the store closed first; %d deliveries are due again after "
                            "their lease", len(unsent))
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _store_closed(exc):
                    logger.info("webhook sender: the store closed before the sender; it stops")
                    return
                logger.exception("webhook sender: a pass failed; trying again at the next poll")
                sent = 0
            if sent >= BATCH:
                continue  # more may be due
            try:
                await asyncio.wait_for(self._wake.wait(), self._wait_s())
            except TimeoutError:
                pass

    def _wait_s(self) -> float:
        """Until the next poll, or sooner when a retry this process scheduled is due before it."""
        now = time.monotonic()
        while self._retries and self._retries[0] <= now:
            heapq.heappop(self._retries)
        if self._retries:
            return min(self.settings.outbox_poll_s, self._retries[0] - now + 0.01)
        return self.settings.outbox_poll_s

    async def send_due(self) -> int:
        """One pass: claim what is due, send it, store the outcomes; how many were claimed."""
        now = utcnow()
        # The lease's end also marks this pass's claims: a few random microseconds keep it
        # unique even if two processes claim in the same microsecond.
        lease = now + timedelta(seconds=2 * self.settings.webhook_timeout_s + 1,
                                microseconds=secrets.randbelow(1000))
        claimed = await self.store.run(lambda db: claim(db, self.sealer, now, lease))
        if not claimed:
            return 0
        self._in_flight = claimed
        outcomes = await asyncio.gather(*(self._send(c) for c in claimed))
        results = list(zip(claimed, outcomes, strict=True))
        await self.store.run(lambda db: record(db, self.settings, results, utcnow()))
        self._in_flight = []
        for c, o in results:
            self._log(c, o)
            if not o.ok and c.attempts < self.settings.webhook_max_attempts and len(self._retries) < 10_000:
                heapq.heappush(self._retries, time.monotonic() + backoff_s(self.settings, c.attempts))
        return len(claimed)

    def _log(self, c: Claimed, o: Outcome) -> None:
        if o.ok:
            logger.info("webhook delivery %d (%s) to hook %d delivered on attempt %d (HTTP %s)",
                        c.id, c.event, c.webhook_id, c.attempts, o.status)
        elif c.attempts >= self.settings.webhook_max_attempts:
            logger.warning("webhook delivery %d (%s) to hook %d failed on attempt %d, giving up: %s",
                           c.id, c.event, c.webhook_id, c.attempts, o.error)
        else:
            logger.warning("webhook delivery %d (%s) to hook %d failed on attempt %d, next in %g s: %s",
                           c.id, c.event, c.webhook_id, c.attempts, backoff_s(self.settings, c.attempts), o.error)

    async def _send(self, c: Claimed) -> Outcome:
        if c.secret is None:
            return Outcome(False, None, "the hook's secret cannot be unsealed (was CANDOR_SECRET_KEY or "
                                        "secret.key changed?): rotate the secret")
        assert self._http is not None
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Candor-Event": c.event,
            "X-Candor-Delivery": str(c.id), "X-Candor-Timestamp": str(timestamp),
            "X-Candor-Signature": signature(c.secret, timestamp, c.body),
        }
        try:
            async with self._http.post(c.url, data=c.body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return Outcome(True, response.status)
                answer = (await response.content.read(KEPT_ANSWER_CHARS)).decode("utf-8", "replace").strip()
                what = f"HTTP {response.status}" + (" (redirects are not followed)" if 300 <= response.status < 400
                                                     else "")
                return Outcome(False, response.status, f"{what}: {answer}" if answer else what)
        except TimeoutError:
            return Outcome(False, None, f"no answer within {self.settings.webhook_timeout_s:g} s")
        except Exception as exc:  # refused, reset, bad TLS, a host name that cannot be encoded...
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:1000])


def _store_closed(exc: BaseException) -> bool:
    """The store's executor was shut down (the app is stopping, the store went first)."""
    return isinstance(exc, RuntimeError) and "after shutdown" in str(exc)


sender_key = web.AppKey("webhook_sender", Sender)


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    sender = Sender(settings, app[store_key], app[sealer_key])
    app[sender_key] = sender
    sender.start()
    yield
    await sender.close()
