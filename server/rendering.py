"""Jinja2 environment for the HR pages and the candidate page (autoescaped)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from aiohttp import web

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
jinja_key = web.AppKey("jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["candidate_status"] = lambda status: CANDIDATE_STATUS_WORDS.get(status, status)
    return env


# A candidate's status (candidates.status) in the words the pages show.
CANDIDATE_STATUS_WORDS = {
    "new": "New", "invited": "Invited", "interviewed": "Interviewed, awaiting decision", "hired": "Hired",
    "second_interview": "Invited to a second interview", "talent_pool": "In the talent pool",
    "not_recommended": "Not recommended",
}


def _when(value: datetime | None) -> Markup | str:
    """A time as UTC text in a <time> element; the pages' scripts show it in the viewer's own
    time zone (the UTC text stays without JavaScript and as the element's title)."""
    if value is None:
        return ""
    utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return Markup('<time class="when" datetime="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M UTC"))


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    html = request.app[jinja_key].get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")
