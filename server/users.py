"""HR accounts after the first: the admin lists, deactivates, reactivates and resets the password
of users; everyone changes their own password. Every change is audited, and a change that should
end someone's access (deactivation, a reset, a new password) revokes their other logins at once.

argon2 never runs on the store thread: hashes are made on the password executor
(`auth.hash_password`) and the current password is checked through the login throttle."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Literal, Optional

from aiohttp import web
from pydantic import BaseModel, Field
from sqlmodel import Session, col, delete, select

from server import audit, auth
from server.api import router
from server.api_router import Call
from server.auth import Principal, token_digest
from server.errors import Conflict, Invalid, NotFound, Unauthorized
from server.schemas import Body
from server.store import Store, stored_id
from server.tables import AuthToken, User
from server.web import SESSION_COOKIE, bearer_token, client_address, store_key


class UserRow(BaseModel):
    id: int
    email: str
    role: str
    disabled: bool
    created_at: datetime


class UsersOut(BaseModel):
    users: list[UserRow]


class PasswordIn(Body):
    password: str = Field(min_length=auth.MIN_PASSWORD_LENGTH, max_length=1024)


class OwnPasswordIn(Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=auth.MIN_PASSWORD_LENGTH, max_length=1024)


class Empty(Body):
    pass


class LanguageIn(Body):
    # null: follow the browser's Accept-Language again
    language: Optional[Literal["en", "zh_CN", "ko"]] = Field(
        description="The pages' language: en, zh_CN or ko; null follows the browser")


class MeOut(BaseModel):
    id: int
    email: str
    role: str
    language: Optional[str]


def row_of(user: User) -> UserRow:
    return UserRow(id=stored_id(user), email=user.email, role=user.role, disabled=user.disabled,
                   created_at=user.created_at)


def list_users(db: Session) -> list[UserRow]:
    return [row_of(u) for u in db.exec(select(User).order_by(col(User.email)))]


def _user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def _revoke_logins(db: Session, user_id: int, keep_sha256: str | None = None) -> None:
    query = delete(AuthToken).where(col(AuthToken.user_id) == user_id)
    if keep_sha256 is not None:
        query = query.where(col(AuthToken.token_sha256) != keep_sha256)
    db.exec(query)


def set_disabled(db: Session, who: Principal, user_id: int, disabled: bool) -> UserRow:
    """Deactivate (every login of that user ends now) or reactivate an account. Nobody
    deactivates themselves (so an admin always remains: the one asking)."""
    user = _user(db, user_id)
    if disabled and user_id == who.id:
        raise Conflict("you cannot deactivate your own account (another admin can)")
    if user.disabled != disabled:
        user.disabled = disabled
        db.add(user)
        if disabled:
            _revoke_logins(db, user_id)
        audit.record(db, "hr", who.id, "user.disable" if disabled else "user.enable", "user", user_id)
    return row_of(user)


def set_password(db: Session, who: Principal, user_id: int, password_hash: str) -> UserRow:
    """An admin's reset: the new password works at once, every login of that user ends."""
    user = _user(db, user_id)
    user.password_hash = password_hash
    db.add(user)
    _revoke_logins(db, user_id)
    audit.record(db, "hr", who.id, "user.password_reset", "user", user_id)
    return row_of(user)


def set_language(db: Session, who: Principal, language: str | None) -> MeOut:
    """The pages' language of the logged-in user (server/i18n.py); audited like other changes."""
    user = _user(db, who.id)
    before = user.language
    user.language = language
    db.add(user)
    audit.record(db, "hr", who.id, "user.language", "user", who.id, before=before, after=language)
    return MeOut(id=stored_id(user), email=user.email, role=user.role, language=user.language)


def temporary_password() -> str:
    """For a new account or a reset done in the pages: shown to the admin once, to pass on."""
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


async def change_own_password(store: Store, app: Any, who: Principal, current: str, new: str,
                              current_token: str | None, address: str | None) -> None:
    """Check the current password (throttled like a login: a stolen session cannot guess it),
    then store the new one; the user's other logins end, this one stays."""
    if current == new:
        raise Invalid("the new password must differ from the current one")
    new_hash = await auth.hash_password(new)
    try:
        finish = await auth.check_login(store, auth.login_throttle(app), who.email, current, address)
    except Unauthorized:  # still logged in: a form error, not "log in again"
        raise Invalid("the current password is not right") from None
    keep = token_digest(current_token) if current_token else None

    def work(db: Session) -> None:
        user = finish(db)
        user.password_hash = new_hash
        db.add(user)
        _revoke_logins(db, stored_id(user), keep_sha256=keep)
        audit.record(db, "hr", who.id, "user.password_change", "user", who.id)

    await store.run(work)


def current_token(request: Any) -> str | None:
    """The credential this request came with (bearer token, else the page session)."""
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE)


# --- the API ---------------------------------------------------------------------------------

@router.route("GET", "/api/users", summary="Every HR user (admin)", auth="admin", response=UsersOut, tag="auth")
async def get_users(call: Call) -> UsersOut:
    return UsersOut(users=await call.request.app[store_key].run(list_users))


@router.route("POST", "/api/users/{user_id}/disable", summary="Deactivate a user: their logins end now (admin)",
              auth="admin", body=Empty, response=UserRow, errors=(404, 409), tag="auth")
async def disable_user(call: Call) -> UserRow:
    user_id = call.int_param("user_id")
    return await call.request.app[store_key].run(lambda db: set_disabled(db, call.who, user_id, True))


@router.route("POST", "/api/users/{user_id}/enable", summary="Reactivate a user (admin)", auth="admin",
              body=Empty, response=UserRow, errors=(404,), tag="auth")
async def enable_user(call: Call) -> UserRow:
    user_id = call.int_param("user_id")
    return await call.request.app[store_key].run(lambda db: set_disabled(db, call.who, user_id, False))


@router.route("POST", "/api/users/{user_id}/password",
              summary="Set a user's password; their logins end (admin)", auth="admin", body=PasswordIn,
              response=UserRow, errors=(404,), tag="auth")
async def reset_password(call: Call) -> UserRow:
    user_id = call.int_param("user_id")
    body: PasswordIn = call.body
    password_hash = await auth.hash_password(body.password)
    return await call.request.app[store_key].run(lambda db: set_password(db, call.who, user_id, password_hash))


@router.route("POST", "/api/me/password",
              summary="Change your own password (your other logins end)", body=OwnPasswordIn,
              errors=(422, 429), tag="auth")
async def own_password(call: Call) -> dict[str, Any] | web.Response:
    body: OwnPasswordIn = call.body
    request = call.request
    try:
        await change_own_password(request.app[store_key], request.app, call.who, body.current_password,
                                  body.new_password, current_token(request), client_address(request))
    except auth.TooManyAttempts as exc:
        return auth.too_many_attempts_response(exc)
    return {"ok": True}


@router.route("PATCH", "/api/me", summary="Choose the language of your pages (en, zh_CN, ko; null: the browser's)",
              body=LanguageIn, response=MeOut, errors=(422,), tag="auth")
async def patch_me(call: Call) -> MeOut:
    body: LanguageIn = call.body
    return await call.request.app[store_key].run(lambda db: set_language(db, call.who, body.language))
