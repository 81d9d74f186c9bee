"""The live monitoring panel: `GET /monitor`, one card per live interview.

The page is a shell: static/monitor.js opens `/ws/monitor` (the session cookie authenticates it),
draws the snapshot and the events, and sends HR's controls to the JSON API with the session's
CSRF token, which it reads from the page's config (a JSON script element: the CSP allows no
inline script).
"""
from __future__ import annotations

from aiohttp import web

from server.interview_machine import state_sets
from server.pages.common import PageCall, hr_page
from server.pages.interviews import STATE_LABELS
from server.i18n import _

# How long a finished interview's card stays (faded) before it leaves the panel.
FINISHED_LINGER_S = 60
# How often a card's thumbnail is fetched again.
THUMBNAIL_EVERY_S = 1.0


@hr_page("GET", "/monitor", summary="HR: the live monitoring panel (live interviews, controls)")
async def monitor_page(call: PageCall) -> web.Response:
    config = {
        "csrf_token": call.who.csrf_token or "",
        "ws_path": "/ws/monitor",
        "finished_linger_s": FINISHED_LINGER_S,
        "thumbnail_every_s": THUMBNAIL_EVERY_S,
        "state_labels": {k: _(v) for k, v in STATE_LABELS.items()},
        "states": state_sets(),
    }
    return call.render("hr_monitor.html", nav="monitor", config=config)
