"""The one place that puts security headers on responses: every page (HR and candidate), every
JSON answer, every error and every /static/ file gets the same Content-Security-Policy (no
inline script, no framing), X-Frame-Options, X-Content-Type-Options, a Referrer-Policy and a
`Server` header without versions; cookies get the Secure flag when the settings say so.

`security_headers` is a middleware (first in server/app.py's list, so it sees the final
response, errors included). A few responses are sent from inside their handler (websocket
handshakes call `prepare()` themselves), so the same function also runs from
`app.on_response_prepare` (registered next to the middleware in create_app); applying it twice
changes nothing. Responses aiohttp writes before any application code runs (a request it
cannot parse: 400 from its HTTP parser) get the same `Server` value through
`hide_server_version`.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web, web_response

from server.web import settings_key

SERVER_NAME = "Candor"

# Scripts and styles only from /static/ (no inline script or style, no eval), nothing from
# elsewhere, never in a frame. JSON data blocks (<script type="application/json">) are not
# scripts and are unaffected. connect-src 'self' covers the same-origin websockets.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

# Set on every response; a handler may already have chosen a stricter Referrer-Policy
# (no-referrer on pages that show invitation links), which is kept. Same-origin rather than
# no-referrer by default: with no-referrer browsers send `Origin: null` on form posts, and the
# login form checks the Origin.
DEFAULTS = {
    "Referrer-Policy": "same-origin",
}
ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Server": SERVER_NAME,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def hide_server_version() -> None:
    """aiohttp's default `Server` header (Python and aiohttp versions) is a module constant of
    its response class, used where no middleware runs (its own 400 for unparseable requests).
    Only server responses read it: the client's User-Agent comes from another module's copy."""
    web_response.SERVER_SOFTWARE = SERVER_NAME


def secure(request: web.Request, response: web.StreamResponse) -> None:
    """Put the security headers on a response not yet sent (idempotent)."""
    headers = response.headers
    for name, value in ALWAYS.items():
        headers[name] = value
    for name, value in DEFAULTS.items():
        headers.setdefault(name, value)
    if request.path.startswith("/i/"):
        # The candidate's link token is in the URL: never in a Referer, even on error pages.
        headers["Referrer-Policy"] = "no-referrer"
    settings = request.app.get(settings_key)
    if settings is not None and settings.cookies_secure:
        # Behind a TLS-terminating proxy request.scheme is http: the flag follows the setting.
        for morsel in response.cookies.values():
            morsel["secure"] = True


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a redirect or error raised past the error middleware
        secure(request, exc)
        raise
    if not response.prepared:
        secure(request, response)
    return response


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    secure(request, response)

