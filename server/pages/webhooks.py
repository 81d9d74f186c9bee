"""Webhooks in the pages (admin): /webhooks lists the hooks with their latest deliveries, adds
one (its secret is shown once, in the answer to the POST), deletes, rotates a secret, sends a
test ping and redelivers. The work is server/webhook_admin.py's."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server.errors import ApiError
from server.i18n import N_, _
from server.pages.common import FormErrors, PageCall, form_texts, hr_page, see_other, validation_errors
from server.sealing import sealer_key
from server.store import stored_id
from server.tables import Webhook
from server.webhook_admin import (
    EVENT_LABELS, WebhookIn, create_hook, delete_hook, hooks_with_deliveries, queue_ping, redeliver, rotate_secret,
)
from server.webhook_events import EVENTS
from server.webhooks import sender_key

DONE = {
    "deleted": N_("The webhook was deleted: nothing more is sent to it. Its delivery log is kept."),
    "ping": N_("A test ping was queued; its delivery shows below."),
    "redeliver": N_("The delivery was queued again."),
}
# A delivery's state as the page shows it: (words, the badge's colour class).
STATES = {"queued": (N_("Queued"), "paused"), "sending": (N_("Sending"), "connecting"),
          "delivered": (N_("Delivered"), "completed"), "failed": (N_("Failed"), "expired")}
# The event names of server/webhook_admin.py's EVENT_LABELS, for the catalogue (shown with _()).
_EVENT_WORDS = (N_("Invitation sent"), N_("Interview completed"), N_("Decision made"))


def _admin(call: PageCall) -> None:
    if not call.who.is_admin:
        raise ApiError("only an admin manages webhooks", status=403)


async def _page(call: PageCall, *, values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                shown: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    hooks = await call.store.run(hooks_with_deliveries)
    response = call.render("hr_webhooks.html", status=status, nav="webhooks", hooks=hooks,
                           events=EVENTS, labels={event: _(label) for event, label in EVENT_LABELS.items()},
                           states={state: (_(words), css) for state, (words, css) in STATES.items()},
                           values=values or {"url": "", "events": list(EVENTS)}, errors=errors or FormErrors(),
                           shown=shown, notice=_(DONE[done]) if (done := call.request.query.get("done", "")) in DONE
                           else "")
    if shown:
        response.headers["Cache-Control"] = "no-store"  # a secret is on this page
    return response


@hr_page("GET", "/webhooks", summary="Admin: webhooks and their delivery log", errors=(403,))
async def webhooks_page(call: PageCall) -> web.Response:
    _admin(call)
    return await _page(call)


@hr_page("POST", "/webhooks", summary="Admin: add a webhook (its secret is shown once)", errors=(422,))
async def webhook_add(call: PageCall) -> web.Response:
    _admin(call)
    values = {"url": call.text("url").strip(), "events": form_texts(call.form, "events")}
    try:
        body = WebhookIn.model_validate(values, strict=False)
    except ValidationError as exc:
        errors = validation_errors(exc, lambda loc, kind, described: (
            "url" if loc and loc[0] == "url" else "events",
            ("The URL " if loc and loc[0] == "url" else "Events: ") + described))
        return await _page(call, values=values, errors=errors, status=422)
    sealer = call.request.app[sealer_key]

    def work(db: Any) -> dict[str, Any]:
        hook, secret = create_hook(db, call.who, sealer, body.url, body.events)
        return {"id": stored_id(hook), "url": hook.url, "secret": secret, "new": True}

    return await _page(call, shown=await call.store.run(work))


@hr_page("POST", "/webhooks/{webhook_id}/delete", summary="Admin: delete a webhook", errors=(404,))
async def webhook_delete(call: PageCall) -> web.Response:
    _admin(call)
    webhook_id = call.id_param("webhook_id", "webhook")
    await call.store.run(lambda db: delete_hook(db, call.who, webhook_id))
    return see_other("/webhooks?done=deleted")


@hr_page("POST", "/webhooks/{webhook_id}/secret", summary="Admin: rotate a webhook's secret (shown once)",
         errors=(404,))
async def webhook_rotate(call: PageCall) -> web.Response:
    _admin(call)
    webhook_id = call.id_param("webhook_id", "webhook")
    sealer = call.request.app[sealer_key]

    def work(db: Any) -> dict[str, Any]:
        secret = rotate_secret(db, call.who, sealer, webhook_id)
        return {"id": webhook_id, "url": db.get(Webhook, webhook_id).url, "secret": secret, "new": False}

    return await _page(call, shown=await call.store.run(work))


@hr_page("POST", "/webhooks/{webhook_id}/test", summary="Admin: send a test ping to a webhook", errors=(404,))
async def webhook_test(call: PageCall) -> web.Response:
    _admin(call)
    webhook_id = call.id_param("webhook_id", "webhook")
    await call.store.run(lambda db: queue_ping(db, call.who, webhook_id))
    return see_other("/webhooks?done=ping")


@hr_page("POST", "/webhooks/deliveries/{delivery_id}/redeliver", summary="Admin: send a delivery again",
         errors=(404, 409))
async def webhook_redeliver(call: PageCall) -> web.Response:
    _admin(call)
    delivery_id = call.id_param("delivery_id", "delivery")
    await call.store.run(lambda db: redeliver(db, call.who, delivery_id))
    call.request.app[sender_key].wake()
    return see_other("/webhooks?done=redeliver")
