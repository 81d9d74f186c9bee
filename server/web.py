"""HTTP plumbing shared by the API, the HR pages and the candidate page: JSON encoding, error
responses, and finding the HR user behind a request."""
from __future__ import annotations

import functools
import ipaddress
import json
import logging
from datetime import date, datetime
from typing import Any, Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

from server.auth import Principal, resolve_token
from server.errors import ApiError, Malformed
from server.settings import Settings
from server.store import Store

logger = logging.getLogger(__name__)

SESSION_COOKIE = "candor_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

settings_key = web.AppKey("settings", Settings)
store_key = web.AppKey("store", Store)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat()
        if value.tzinfo is None:
            return text + "Z"
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    # allow_nan=False: NaN/Infinity are not JSON; a non-finite number is a bug (ValueError),
    # never sent as a bare `NaN` that clients cannot parse.
    return json.dumps(value, default=_default, ensure_ascii=False, allow_nan=False)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(value), status=status, content_type="application/json")


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"error": message, **extra}, status=status)


def wants_json(request: web.Request) -> bool:
    path = request.path
    return path.startswith("/api/") or path.startswith("/ws/") or (
        path.startswith("/i/") and path.count("/") >= 3
    )


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure becomes a clear response: JSON `{"error"}` for API clients, a short page for
    people. Nothing escapes as a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        if wants_json(request):
            return error_response(exc.status, exc.message, **exc.extra)
        return error_page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: "no such page or route",
            405: f"method {request.method} is not allowed here",
            413: "request body too large",
        }.get(exc.status, exc.reason)
        if wants_json(request):
            return error_response(exc.status, message)
        return error_page(request, exc.status, message)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        if wants_json(request):
            return error_response(500, "internal error; the operator's log has the details")
        return error_page(request, 500, "Something went wrong on our side. Please try again.")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    from html import escape

    titles = {400: "Bad request", 401: "Please log in", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 410: "This link no longer works", 422: "Please check the form"}
    title = titles.get(status, "Error")
    # A way back, except on a candidate's link (there is nothing else there for them).
    back = "" if request.path.startswith("/i/") else "<p><a href='/'>Go to Candor's start page</a></p>"
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} - Candor</title><link rel='stylesheet' href='/static/candor.css'>"
        f"</head><body class='error-page'><main><h1>{escape(title)}</h1>"
        f"<p class='error-message'>{escape(message)}</p>{back}</main></body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if request.path.startswith("/ws/"):
        return request.query.get("token") or None
    return None


async def principal_of(request: web.Request) -> Principal | None:
    """The HR user behind a request: a bearer token, or the page session cookie. A cookie on an
    unsafe method must come with the session's CSRF token (header or form field, checked by the
    caller for forms)."""
    store = request.app[store_key]
    # Each kind of token only in its own carrier: an API token put in the cookie would skip
    # the CSRF check that cookie sessions need.
    token = bearer_token(request)
    if token is not None:
        return await store.run(lambda db: resolve_token(db, token, kind="api"))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await store.run(lambda db: resolve_token(db, cookie, kind="session"))
    return None


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request) -> str:
    """Who is at the other end, for per-address limits. Behind a trusted reverse proxy
    (CANDOR_TRUSTED_PROXIES) the nearest address in X-Forwarded-For that is not one of the
    proxies; from anyone else the header is ignored (it can say anything)."""
    remote = request.remote or ""
    networks = _networks(request.app[settings_key].trusted_proxies)
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # garbage from the proxy's side: count the proxy
    return remote


def base_url(request: web.Request) -> str:
    """Where links (invitation links, report clips) point: CANDOR_PUBLIC_URL, or without it the
    request's Host when CANDOR_ALLOWED_HOSTS allows it. Anyone can send any Host header, so an
    unknown one is refused rather than written into a link sent to a candidate."""
    settings = request.app[settings_key]
    if settings.public_url:
        return settings.public_url
    host = request.host
    if settings.allowed_host(host):
        return f"{request.scheme}://{host}"
    logger.warning("refused to build links for Host %r: set CANDOR_PUBLIC_URL", host[:100])
    raise Malformed(
        f"cannot build links for the host {host[:100]!r}: the operator must set CANDOR_PUBLIC_URL "
        "to the address candidates use (or add this host to CANDOR_ALLOWED_HOSTS)"
    )
