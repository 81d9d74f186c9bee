"""Logging in and out of the HR pages: an HttpOnly, SameSite session cookie whose token also
carries the CSRF token every form must send back."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import Session

from server import audit, auth
from server.api import router
from server.api_router import QueryParam
from server.errors import Unauthorized
from server.pages.common import (
    PageCall, error_page, form_text, hr_page, page_response, safe_next, see_other,
)
from server.schemas import LoginIn
from server.i18n import N_, _, negotiate, use_locale
from server.web import SESSION_COOKIE, base_url, client_address, principal_of, settings_key, store_key

logger = logging.getLogger(__name__)

WRONG_LOGIN = N_("Wrong email or password. Please try again.")


def throttled_message(exc: auth.TooManyAttempts) -> str:
    if exc.busy:
        return _("Too many people are logging in right now. Please try again in a few seconds.")
    return _("Too many failed attempts to log in. For your security, please wait %(wait)s before trying again.",
             wait=auth.describe_wait(exc.retry_after))


def _same_origin(request: web.Request) -> bool:
    """A login form posted from another site is refused (login CSRF). Browsers send Origin on
    POST; a client that sends none is not a browser acting for someone else."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.netloc == request.host:
        return True
    return origin.rstrip("/") == base_url(request).rstrip("/")


def _login_form(
    request: web.Request, status: int = 200, *, email: str = "", next_path: str = "",
    error: str = "",
) -> web.Response:
    # error: a msgid or a message already in the page's language
    return page_response(
        request, "login.html", None, status=status, email=email, next_path=next_path, error=_(error) if error else "",
    )


@router.raw("GET", "/", summary="Home: the HR jobs page, or the login page", auth="public", status=303)
async def home(request: web.Request) -> web.Response:
    return see_other("/jobs" if await principal_of(request) is not None else "/login")


@router.raw("GET", "/login", summary="HR login page", auth="public",
            query=(QueryParam("next", "a local path to go to after logging in"),))
async def login_page(request: web.Request) -> web.Response:
    next_path = safe_next(request.query.get("next"), default="")
    if await principal_of(request) is not None:
        return see_other(next_path or "/jobs")
    return _login_form(request, next_path=next_path)


@router.raw("POST", "/login", summary="Log in to the HR pages (sets the session cookie)",
            auth="public", errors=(401, 403, 429))
async def login_submit(request: web.Request) -> web.Response:
    use_locale(negotiate(request.headers.get("Accept-Language")))  # before anyone is logged in
    if not _same_origin(request):
        return error_page(request, None, 403, "this login form was sent from another site")
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return error_page(request, None, 400, "the form data could not be read")
    email = form_text(form, "email").strip()
    password = form_text(form, "password")
    next_path = safe_next(form_text(form, "next"), default="")
    hours = request.app[settings_key].session_hours
    try:
        body = LoginIn.model_validate({"email": email, "password": password}, strict=False)
    except ValidationError:
        return _login_form(request, 401, email=email, next_path=next_path, error=WRONG_LOGIN)

    try:
        # Throttled before any hashing; argon2 runs on its own executor, not the store thread.
        finish = await auth.check_login(request.app[store_key], auth.login_throttle(request.app),
                                        body.email, body.password, client_address(request))
    except auth.TooManyAttempts as exc:
        logger.info("throttled page login for %s", body.email)
        response = _login_form(request, 429, email=email, next_path=next_path, error=throttled_message(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized:
        logger.info("failed page login for %s", body.email)
        return _login_form(request, 401, email=email, next_path=next_path, error=WRONG_LOGIN)

    def work(db: Session) -> str:
        user = finish(db)
        token, _ = auth.issue_token(db, user, "session", hours)
        audit.record(db, "hr", user.id, "login", "user", user.id, via="page")
        return token

    try:
        token = await request.app[store_key].run(work)
    except Unauthorized:
        return _login_form(request, 401, email=email, next_path=next_path, error=WRONG_LOGIN)
    response = see_other(next_path or "/jobs")
    response.set_cookie(
        SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
        secure=request.scheme == "https", max_age=int(hours * 3600),
    )
    return response


@hr_page("POST", "/logout", summary="Log out of the HR pages (ends the session)")
async def logout(call: PageCall) -> web.Response:
    token = call.request.cookies.get(SESSION_COOKIE)
    if token:
        await call.store.run(lambda db: auth.revoke_token(db, token))
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
