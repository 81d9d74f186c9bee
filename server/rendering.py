"""Jinja2 environment for the HR pages and the candidate page (autoescaped, translated)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from aiohttp import web

from server import i18n
from server.i18n import N_

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
jinja_key = web.AppKey("jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # {% trans %} and _() read the request's language (server/i18n.py); newstyle: _() fills in
    # %(name)s itself and escapes the values; trimmed: a block's line breaks are not in its msgid.
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True
    for locale in i18n.LOCALES:  # read (and check) the catalogues at start-up, not on a first page
        i18n.catalogue(locale)
    env.globals.update(
        html_lang=lambda: i18n.HTML_LANG[i18n.current_locale()],
        current_locale=i18n.current_locale,
        js_messages=i18n.js_messages,
        locale_names=i18n.LOCALE_NAMES,
    )
    env.filters["when"] = _when
    env.filters["candidate_status"] = lambda status: (
        i18n.gettext(CANDIDATE_STATUS_WORDS[status]) if status in CANDIDATE_STATUS_WORDS else status)
    return env


# A candidate's status (candidates.status) in the words the pages show.
CANDIDATE_STATUS_WORDS = {
    "new": N_("New"), "invited": N_("Invited"), "interviewed": N_("Interviewed, awaiting decision"),
    "hired": N_("Hired"), "second_interview": N_("Invited to a second interview"),
    "talent_pool": N_("In the talent pool"), "not_recommended": N_("Not recommended"),
}


def _when(value: datetime | None) -> Markup | str:
    """A time as UTC text in a <time> element; the pages' scripts show it in the viewer's own
    time zone and language (the UTC text stays without JavaScript and as the element's title)."""
    if value is None:
        return ""
    utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return Markup('<time class="when" datetime="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M UTC"))


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    if not i18n.locale_is_set():
        # A page rendered outside the HR gate and the candidate's pages (login, errors): the
        # logged-in user's choice if there is one, else the browser's language.
        who = context.get("who")
        i18n.use_locale(i18n.user_locale(getattr(who, "language", None),
                                         request.headers.get("Accept-Language")))
    html = request.app[jinja_key].get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")
