"""HR users, password hashing (argon2), login tokens and page sessions, roles.

Tokens are 256-bit random strings handed to the client once; only their sha256 is stored, so a
copy of the database does not let anyone log in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from server.errors import Conflict, Invalid, Unauthorized
from server.store import stored_id
from server.tables import AuthToken, User, utcnow

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps login timing the same either way.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")

TokenKind = Literal["api", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The HR user behind a request."""

    id: int
    email: str
    role: str
    token_kind: TokenKind = "api"
    csrf_token: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(db: Session, email: str, password: str, role: str = "hr") -> User:
    if role not in ("admin", "hr"):
        raise Invalid("role must be admin or hr")
    check_password_policy(password)
    email = email.strip().lower()
    if db.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, password_hash=_hasher.hash(password), role=role)
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, email: str, password: str) -> User:
    user = db.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or user.disabled:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise Unauthorized("wrong email or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong email or password") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.add(user)
    return user


def issue_token(
    db: Session, user: User, kind: TokenKind, hours: float
) -> tuple[str, AuthToken]:
    token = secrets.token_urlsafe(32)
    row = AuthToken(
        token_sha256=_sha256(token),
        user_id=stored_id(user),
        kind=kind,
        csrf_token=secrets.token_urlsafe(32) if kind == "session" else None,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.add(row)
    db.flush()
    return token, row


def resolve_token(db: Session, token: str) -> Principal | None:
    row = db.exec(select(AuthToken).where(AuthToken.token_sha256 == _sha256(token))).first()
    if row is None or row.expires_at <= utcnow():
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return Principal(
        id=stored_id(user),
        email=user.email,
        role=user.role,
        token_kind=cast(TokenKind, row.kind),  # the column is a plain string; issue_token writes only these
        csrf_token=row.csrf_token,
    )


def revoke_token(db: Session, token: str) -> None:
    row = db.exec(select(AuthToken).where(AuthToken.token_sha256 == _sha256(token))).first()
    if row is not None:
        db.delete(row)


def csrf_matches(principal: Principal, submitted: str | None) -> bool:
    if not principal.csrf_token or not submitted:
        return False
    return hmac.compare_digest(principal.csrf_token, submitted)
