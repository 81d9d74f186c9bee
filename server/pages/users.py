"""HR accounts in the pages: /users (admin: add, deactivate, reactivate, reset a password) and
/account (change your own password). The work is server/users.py's; a password made here is
shown once, in the answer to the POST, never stored in clear or put in a URL."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server import audit, auth
from server.errors import ApiError
from server.i18n import LOCALES, N_, _
from server.pages.common import FormErrors, PageCall, hr_page, see_other, validation_errors
from server.schemas import UserIn
from server.users import (
    change_own_password, current_token, list_users, row_of, set_disabled, set_language, set_password,
    temporary_password,
)
from server.web import client_address

DONE = {
    "disabled": N_("The account was deactivated: its logins ended and it cannot log in."),
    "enabled": N_("The account was reactivated."),
    "password": N_("Your password was changed. Your other logins (other browsers, API tokens) were ended."),
    "language": N_("Your language was saved."),
}


def _done(call: PageCall) -> str:
    done = call.request.query.get("done", "")
    return _(DONE[done]) if done in DONE else ""


def _admin(call: PageCall) -> None:
    if not call.who.is_admin:
        raise ApiError("only an admin manages users", status=403)


async def _users_page(call: PageCall, *, values: dict[str, str] | None = None, errors: FormErrors | None = None,
                      shown: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    users = await call.store.run(list_users)
    response = call.render("hr_users.html", status=status, nav="users", users=users,
                           values=values or {"email": "", "role": "hr"}, errors=errors or FormErrors(),
                           shown=shown, notice=_done(call))
    if shown:
        response.headers["Cache-Control"] = "no-store"  # a password is on this page
    return response


@hr_page("GET", "/users", summary="Admin: HR users (add, deactivate, reset a password)", errors=(403,))
async def users_page(call: PageCall) -> web.Response:
    _admin(call)
    return await _users_page(call)


@hr_page("POST", "/users", summary="Admin: add an HR user (a temporary password is shown once)",
         errors=(409, 422))
async def user_add(call: PageCall) -> web.Response:
    _admin(call)
    values = {"email": call.text("email").strip(), "role": call.text("role") or "hr"}
    password = temporary_password()
    try:
        body = UserIn.model_validate({**values, "password": password}, strict=False)
    except ValidationError as exc:
        errors = validation_errors(exc, lambda loc, kind, described: (
            "add-user", f"{loc[0] if loc else ''} {described}".strip()))
        return await _users_page(call, values=values, errors=errors, status=422)
    password_hash = await auth.hash_password(password)

    def work(db: Any) -> Any:
        user = auth.create_user(db, body.email, password, body.role, password_hash=password_hash)
        audit.record(db, "hr", call.who.id, "user.create", "user", user.id, role=user.role)
        return row_of(user)

    try:
        row = await call.store.run(work)
    except ApiError as exc:
        errors = FormErrors(status=exc.status)
        errors.add(exc.message, "add-user")
        return await _users_page(call, values=values, errors=errors, status=exc.status)
    return await _users_page(call, shown={"email": row.email, "password": password, "new": True})


@hr_page("POST", "/users/{user_id}/disable", summary="Admin: deactivate a user", errors=(404, 409))
async def user_disable(call: PageCall) -> web.Response:
    _admin(call)
    user_id = call.id_param("user_id", "user")
    await call.store.run(lambda db: set_disabled(db, call.who, user_id, True))
    return see_other("/users?done=disabled")


@hr_page("POST", "/users/{user_id}/enable", summary="Admin: reactivate a user", errors=(404,))
async def user_enable(call: PageCall) -> web.Response:
    _admin(call)
    user_id = call.id_param("user_id", "user")
    await call.store.run(lambda db: set_disabled(db, call.who, user_id, False))
    return see_other("/users?done=enabled")


@hr_page("POST", "/users/{user_id}/password",
         summary="Admin: reset a user's password (a temporary one is shown once)", errors=(404,))
async def user_reset(call: PageCall) -> web.Response:
    _admin(call)
    user_id = call.id_param("user_id", "user")
    password = temporary_password()
    password_hash = await auth.hash_password(password)
    row = await call.store.run(lambda db: set_password(db, call.who, user_id, password_hash))
    return await _users_page(call, shown={"email": row.email, "password": password, "new": False})


def _account(call: PageCall, status: int, errors: FormErrors, notice: str) -> web.Response:
    return call.render("hr_account.html", status=status, nav="account", errors=errors, notice=notice,
                       locales=LOCALES, chosen=call.who.language or "")


@hr_page("GET", "/account", summary="HR: your account (language, password)")
async def account_page(call: PageCall) -> web.Response:
    return _account(call, 200, FormErrors(), _done(call))


@hr_page("POST", "/account/language", summary="HR: choose the language of your pages", errors=(422,))
async def account_language(call: PageCall) -> web.Response:
    chosen = call.text("language")
    if chosen and chosen not in LOCALES:
        errors = FormErrors(status=422)
        errors.add(_("choose one of the languages offered"), "language")
        return _account(call, 422, errors, "")
    language = chosen or None
    await call.store.run(lambda db: set_language(db, call.who, language))
    return see_other("/account?done=language")


@hr_page("POST", "/account/password", summary="HR: change your own password", errors=(422, 429))
async def account_password(call: PageCall) -> web.Response:
    current, new, again = call.text("current_password"), call.text("new_password"), call.text("new_password_again")
    errors = FormErrors(status=422)
    if not current:
        errors.add(_("type your current password"), "current_password")
    if len(new) < auth.MIN_PASSWORD_LENGTH:
        errors.add(_("the new password needs at least %(n)s characters", n=auth.MIN_PASSWORD_LENGTH),
                   "new_password")
    elif new != again:
        errors.add(_("the two new passwords differ"), "new_password_again")
    if not errors:
        try:
            await change_own_password(call.store, call.request.app, call.who, current, new,
                                      current_token(call.request), client_address(call.request))
        except auth.TooManyAttempts as exc:
            errors = FormErrors(status=429)
            errors.add(_("too many attempts: wait %(s)s s and try again", s=exc.retry_after), "current_password")
        except ApiError as exc:
            errors = FormErrors(status=exc.status)
            errors.add(exc.message, "current_password")
        else:
            return see_other("/account?done=password")
    return _account(call, errors.status, errors, "")
