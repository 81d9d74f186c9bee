"""Managing webhooks (admin): add a hook (its secret is shown once), list, delete, rotate the
secret, the delivery log, redeliver, a test ping. The API routes are here; the page
(server/pages/webhooks.py) uses the same functions. Secrets are stored sealed
(server/sealing.py): the server must read them back to sign."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field
from sqlmodel import Session, col, func, select, update

from server import audit
from server.api import router
from server.api_router import Call, QueryParam
from server.auth import Principal
from server.errors import Conflict, Malformed, NotFound
from server.schemas import Body
from server.sealing import Sealer, sealer_key
from server.store import stored_id
from server.tables import Webhook, WebhookDelivery, utcnow
from server.web import store_key
from server.webhook_events import EVENTS, iso
from server.webhooks import sender_key, webhooks_ctx  # noqa: F401  (create_app takes the ctx from here)

PING = "ping"  # a test delivery to one hook, whatever it subscribed to
EVENT_LABELS = {"invitation.sent": "Invitation sent", "interview.completed": "Interview completed",
                "decision.made": "Decision made"}
MAX_LOG_LIMIT = 200


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host and no credentials (they would be shown in lists)."""
    value = value.strip()
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold a user name or password (the signature authenticates Candor)")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return value


def check_events(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event {unknown[0][:64]!r}: use {', '.join(EVENTS)}")
    if not values:
        raise ValueError(f"choose at least one event ({', '.join(EVENTS)})")
    return [e for e in EVENTS if e in values]  # the canonical order, no repeats


class WebhookIn(Body):
    url: Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra={"format": "uri", "pattern": "^https?://"}),
                   AfterValidator(check_url)]
    events: Annotated[list[str], Field(max_length=20), AfterValidator(check_events)] = Field(
        description=f"any of {', '.join(EVENTS)}")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: str


class WebhookCreated(BaseModel):
    id: int
    url: str
    events: list[str]
    secret: str = Field(description="The signing secret: shown only in this answer")


class SecretOut(BaseModel):
    id: int
    secret: str = Field(description="The new signing secret: shown only in this answer")


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event: str
    state: str = Field(description="queued | sending | delivered | failed")
    attempts: int
    last_status: Optional[int]
    last_error: str
    created_at: str
    delivered_at: Optional[str]
    next_attempt_at: Optional[str] = Field(description="null: no more automatic tries")


class DeliveriesOut(BaseModel):
    total: int
    deliveries: list[DeliveryOut]


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class QueuedOut(BaseModel):
    delivery_id: int


class Empty(Body):
    pass


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def hook_out(hook: Webhook) -> WebhookOut:
    return WebhookOut(id=stored_id(hook), url=hook.url, events=list(hook.events), active=hook.active,
                      created_at=iso(hook.created_at) or "")


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(id=stored_id(d), webhook_id=d.webhook_id, event=d.event, state=d.state, attempts=d.attempts,
                       last_status=d.last_status, last_error=d.last_error, created_at=iso(d.created_at) or "",
                       delivered_at=iso(d.delivered_at), next_attempt_at=iso(d.next_attempt_at))


def _hook(db: Session, webhook_id: int, *, active: bool = True) -> Webhook:
    hook = db.get(Webhook, webhook_id)
    if hook is None or (active and not hook.active):
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def create_hook(db: Session, who: Principal, sealer: Sealer, url: str, events: list[str]) -> tuple[Webhook, str]:
    secret = new_secret()
    hook = Webhook(url=url, events=events, secret_sealed=sealer.seal(secret), created_by=who.id)
    db.add(hook)
    db.flush()
    audit.record(db, "hr", who.id, "webhook.create", "webhook", hook.id, url=url, events=events)
    return hook, secret


def list_hooks(db: Session) -> list[WebhookOut]:
    return [hook_out(h) for h in db.exec(select(Webhook).where(col(Webhook.active).is_(True))
                                         .order_by(col(Webhook.id)))]


def delete_hook(db: Session, who: Principal, webhook_id: int) -> None:
    """Deactivate: nothing more is sent (what was waiting fails with that reason); the hook and
    its delivery log stay for the record."""
    hook = _hook(db, webhook_id)
    hook.active = False
    db.add(hook)
    db.exec(update(WebhookDelivery)
            .where(col(WebhookDelivery.webhook_id) == webhook_id,
                   col(WebhookDelivery.state).in_(("queued", "failed")))
            .values(state="failed", next_attempt_at=None, last_error="the webhook was deleted"))
    audit.record(db, "hr", who.id, "webhook.delete", "webhook", webhook_id, url=hook.url)


def rotate_secret(db: Session, who: Principal, sealer: Sealer, webhook_id: int) -> str:
    """A new secret; deliveries not yet sent are signed with it."""
    hook = _hook(db, webhook_id)
    secret = new_secret()
    hook.secret_sealed = sealer.seal(secret)
    db.add(hook)
    audit.record(db, "hr", who.id, "webhook.secret_rotate", "webhook", webhook_id)
    return secret


def deliveries(db: Session, webhook_id: int, limit: int, offset: int) -> DeliveriesOut:
    """A hook's delivery log, newest first (also of a deleted hook: the record stays)."""
    _hook(db, webhook_id, active=False)
    where = col(WebhookDelivery.webhook_id) == webhook_id
    total = db.exec(select(func.count()).select_from(WebhookDelivery).where(where)).one()
    rows = db.exec(select(WebhookDelivery).where(where).order_by(col(WebhookDelivery.id).desc())
                   .offset(offset).limit(limit)).all()
    return DeliveriesOut(total=int(total), deliveries=[delivery_out(d) for d in rows])


def redeliver(db: Session, who: Principal, delivery_id: int) -> DeliveryOut:
    """Send a delivered or failed delivery again, now (one more attempt, the same id: a
    receiver that deduplicates on X-Candor-Delivery sees it is the same event)."""
    delivery = db.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    hook = db.get(Webhook, delivery.webhook_id)
    if hook is None or not hook.active:
        raise Conflict("the webhook of this delivery was deleted")
    if delivery.state in ("queued", "sending"):
        raise Conflict(f"the delivery is {delivery.state} already")
    delivery.state, delivery.next_attempt_at = "queued", utcnow()
    db.add(delivery)
    audit.record(db, "hr", who.id, "webhook.redeliver", "webhook_delivery", delivery_id)
    return delivery_out(delivery)


def queue_ping(db: Session, who: Principal, webhook_id: int) -> int:
    hook = _hook(db, webhook_id)
    delivery = WebhookDelivery(webhook_id=webhook_id, event=PING, payload={
        "webhook_id": webhook_id, "url": hook.url, "events": list(hook.events), "sent_by": who.email})
    db.add(delivery)
    db.flush()
    return stored_id(delivery)


@dataclass(frozen=True, slots=True)
class HookView:
    """A hook and its latest deliveries, for the page."""

    hook: WebhookOut
    deliveries: list[WebhookDelivery]
    total: int


def hooks_with_deliveries(db: Session, per_hook: int = 10) -> list[HookView]:
    views = []
    for hook in list_hooks(db):
        where = col(WebhookDelivery.webhook_id) == hook.id
        total = db.exec(select(func.count()).select_from(WebhookDelivery).where(where)).one()
        rows = db.exec(select(WebhookDelivery).where(where).order_by(col(WebhookDelivery.id).desc())
                       .limit(per_hook)).all()
        views.append(HookView(hook, list(rows), int(total)))
    return views


def _page_args(call: Call) -> tuple[int, int]:
    def whole(name: str, default: int, highest: int) -> int:
        raw = call.request.query.get(name, "")
        if raw == "":
            return default
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise Malformed(f"{name} must be a whole number")
        value = int(raw)
        if value > highest:
            raise Malformed(f"{name} must be at most {highest}")
        return value

    limit = whole("limit", 50, MAX_LOG_LIMIT)
    if limit == 0:
        raise Malformed("limit must be at least 1")
    return limit, whole("offset", 0, 10**9)


# --- the API -------------------------------------------------------------------------------------

@router.route("POST", "/api/webhooks", summary="Add a webhook: events are POSTed to the URL, signed with the "
                                               "secret in this answer (shown only here)",
              auth="admin", body=WebhookIn, response=WebhookCreated, status=201, errors=(422,), tag="webhooks")
async def post_webhook(call: Call) -> WebhookCreated:
    body: WebhookIn = call.body
    sealer = call.request.app[sealer_key]

    def work(db: Session) -> WebhookCreated:
        hook, secret = create_hook(db, call.who, sealer, body.url, body.events)
        return WebhookCreated(id=stored_id(hook), url=hook.url, events=hook.events, secret=secret)

    return await call.request.app[store_key].run(work)


@router.route("GET", "/api/webhooks", summary="The webhooks (without their secrets)", auth="admin",
              response=WebhooksOut, tag="webhooks")
async def get_webhooks(call: Call) -> WebhooksOut:
    return WebhooksOut(webhooks=await call.request.app[store_key].run(list_hooks))


@router.route("DELETE", "/api/webhooks/{webhook_id}", summary="Delete a webhook (its delivery log stays)",
              auth="admin", errors=(404,), tag="webhooks")
async def delete_webhook(call: Call) -> dict[str, Any]:
    webhook_id = call.int_param("webhook_id")
    await call.request.app[store_key].run(lambda db: delete_hook(db, call.who, webhook_id))
    return {"ok": True}


@router.route("POST", "/api/webhooks/{webhook_id}/secret",
              summary="Rotate a webhook's secret; the new one is shown only in this answer", auth="admin",
              body=Empty, response=SecretOut, errors=(404,), tag="webhooks")
async def post_secret(call: Call) -> SecretOut:
    webhook_id = call.int_param("webhook_id")
    sealer = call.request.app[sealer_key]
    secret = await call.request.app[store_key].run(lambda db: rotate_secret(db, call.who, sealer, webhook_id))
    return SecretOut(id=webhook_id, secret=secret)


@router.route("GET", "/api/webhooks/{webhook_id}/deliveries", summary="A webhook's delivery log, newest first",
              auth="admin", response=DeliveriesOut, errors=(400, 404), tag="webhooks", query=(
                  QueryParam("limit", f"deliveries, a whole number (default 50, at most {MAX_LOG_LIMIT})"),
                  QueryParam("offset", "deliveries to skip, a whole number (default 0)")))
async def get_deliveries(call: Call) -> DeliveriesOut:
    webhook_id = call.int_param("webhook_id")
    limit, offset = _page_args(call)
    return await call.request.app[store_key].run(lambda db: deliveries(db, webhook_id, limit, offset))


@router.route("POST", "/api/webhooks/deliveries/{delivery_id}/redeliver",
              summary="Send a delivered or failed delivery again now (one more attempt, same delivery id)",
              auth="admin", body=Empty, response=DeliveryOut, errors=(404, 409), tag="webhooks")
async def post_redeliver(call: Call) -> DeliveryOut:
    delivery_id = call.int_param("delivery_id")
    out = await call.request.app[store_key].run(lambda db: redeliver(db, call.who, delivery_id))
    call.request.app[sender_key].wake()
    return out


@router.route("POST", "/api/webhooks/{webhook_id}/test", summary="Queue a `ping` delivery to this webhook",
              auth="admin", body=Empty, response=QueuedOut, status=202, errors=(404,), tag="webhooks")
async def post_test(call: Call) -> QueuedOut:
    webhook_id = call.int_param("webhook_id")
    delivery_id = await call.request.app[store_key].run(lambda db: queue_ping(db, call.who, webhook_id))
    return QueuedOut(delivery_id=delivery_id)
