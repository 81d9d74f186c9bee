"""HR users, password hashing (argon2), login tokens and page sessions, roles, and the login
throttle.

Tokens are 256-bit random strings handed to the client once; only their sha256 is stored, so a
copy of the database does not let anyone log in. A token's kind is bound to its carrier: an
"api" token is a bearer token (Authorization header, or `?token=` on a websocket), a "session"
token lives only in the page cookie and needs the session's CSRF token on unsafe methods.

Logging in (`log_in`) is three steps so that argon2 never runs on the store's single thread:
the throttle decides first (no hashing for a refused attempt), the user row is read on the
store thread, the password is verified on a small executor of its own, and only then is the
token written (store thread again).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Callable, Literal, cast

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from server.i18n import ngettext
from server.errors import ApiError, Conflict, Invalid, Unauthorized
from server.store import stored_id
from server.tables import AuthToken, User, utcnow

if TYPE_CHECKING:
    from server.store import Store

logger = logging.getLogger(__name__)

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
    language: str | None = None  # the pages' language the user chose (server/i18n.py); None: the browser's

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def token_digest(token: str) -> str:
    """What is stored of a secret token (logins and invitation links): its sha256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(db: Session, email: str, password: str, role: str = "hr", *,
                password_hash: str | None = None) -> User:
    """`password_hash` from `hash_password` (request handlers: argon2 never on the store thread);
    without it the password is hashed here (command line, tests)."""
    if role not in ("admin", "hr"):
        raise Invalid("role must be admin or hr")
    check_password_policy(password)
    email = email.strip().lower()
    if db.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, password_hash=password_hash or _hasher.hash(password), role=role)
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, email: str, password: str) -> User:
    """Check a password in one go, argon2 included, unthrottled: for scripts and tests only.
    Request handlers use `check_login` (throttled; argon2 off the store thread)."""
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
        token_sha256=token_digest(token),
        user_id=stored_id(user),
        kind=kind,
        csrf_token=secrets.token_urlsafe(32) if kind == "session" else None,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.add(row)
    db.flush()
    return token, row


def resolve_token(db: Session, token: str, kind: TokenKind | None = None) -> Principal | None:
    """The user behind `token`, or None. `kind` is what the carrier allows: "api" for a bearer
    token (header or websocket query), "session" for the page cookie; a token of the other kind
    is refused, so an API token put in the cookie cannot skip the CSRF check."""
    row = db.exec(select(AuthToken).where(AuthToken.token_sha256 == token_digest(token))).first()
    if row is None or row.expires_at <= utcnow():
        return None
    if kind is not None and row.kind != kind:
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
        language=user.language,
    )


def revoke_token(db: Session, token: str) -> None:
    row = db.exec(select(AuthToken).where(AuthToken.token_sha256 == token_digest(token))).first()
    if row is not None:
        db.delete(row)


def csrf_matches(principal: Principal, submitted: str | None) -> bool:
    if not principal.csrf_token or not submitted:
        return False
    return hmac.compare_digest(principal.csrf_token, submitted)


# --- logging in: throttle, then lookup (store thread), then argon2 (its own executor) ------------

# argon2 is deliberately slow (~0.1-0.3 s of CPU): it gets its own thread, so a flood of wrong
# passwords never holds the store's single thread (every database-backed request waited behind
# it). Normal priority: a niced one could keep a real HR login waiting while interviews run.
PASSWORD_WORKERS = 1
# Verifications queued or running at once, over all clients; more are refused at once (429).
MAX_PENDING_VERIFICATIONS = 16
_password_pool: ThreadPoolExecutor | None = None


def _password_executor() -> ThreadPoolExecutor:
    global _password_pool
    if _password_pool is None:
        _password_pool = ThreadPoolExecutor(max_workers=PASSWORD_WORKERS, thread_name_prefix="argon2")
    return _password_pool


async def hash_password(password: str) -> str:
    """argon2 on the password executor, after the policy check (a refused password costs nothing)."""
    check_password_policy(password)
    return await asyncio.get_running_loop().run_in_executor(_password_executor(), _hasher.hash, password)


class TooManyAttempts(ApiError):
    """429: the throttle refused a login before any hashing. `retry_after` is in whole seconds."""

    status = 429

    def __init__(self, retry_after: float, *, busy: bool = False) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        self.busy = busy  # refused because too many logins are being checked at once
        super().__init__(
            "too many logins at once; try again in a few seconds" if busy
            else f"too many login attempts; try again in {describe_wait(self.retry_after)}")


def describe_wait(seconds: int) -> str:
    """The wait in the request's language (the login page's; English for the API)."""
    if seconds < 60:
        return ngettext("%(num)s second", "%(num)s seconds", seconds) % {"num": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(num)s minute", "%(num)s minutes", minutes) % {"num": minutes}


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)  # times of recent failures
    blocked_until: float = 0.0
    strikes: int = 0  # back-off periods served since the failures began
    inflight: int = 0  # attempts admitted and not yet decided


class _Limiter:
    """Failures per key in a sliding window; once `limit` is reached every further failure
    blocks the key for 1, 2, 4 ... seconds (capped). Attempts in flight count against the
    remaining allowance, so concurrent guesses cannot overshoot it. Bounded: the least recently
    used keys are forgotten beyond `max_entries`."""

    def __init__(self, limit: int, window_s: float, cap_s: float, max_entries: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.cap_s = cap_s
        self.max_entries = max_entries
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        while entry.failures and entry.failures[0] <= now - self.window_s:
            entry.failures.popleft()
        if not entry.failures and entry.blocked_until + self.window_s <= now and entry.inflight == 0:
            # Quiet for a whole window (and a window after its last block): forgotten, strikes
            # and all. Until then the strikes stay, so the back-off keeps growing to the cap.
            del self.entries[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        entry = self._live(key, now)
        if entry is None:
            return 0.0
        if entry.blocked_until > now:
            return entry.blocked_until - now
        allowance = 1 if entry.strikes else self.limit - len(entry.failures)
        if entry.inflight >= allowance:
            return 1.0  # the attempts already in flight may use up what is left
        return 0.0

    def admit(self, key: str, now: float) -> None:
        entry = self._live(key, now) or self.entries.setdefault(key, _Entry())
        entry.inflight += 1
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def settle(self, key: str, now: float, failed: bool, forget: bool = False) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            entry.inflight = max(0, entry.inflight - 1)
        if forget:
            if entry is not None and entry.inflight == 0:
                del self.entries[key]
            return
        if not failed:
            return
        if entry is None:
            entry = self.entries.setdefault(key, _Entry())
        entry.failures.append(now)
        while len(entry.failures) > self.limit:
            entry.failures.popleft()
        if entry.strikes or len(entry.failures) >= self.limit:
            entry.blocked_until = now + min(self.cap_s, 2.0 ** entry.strikes)
            entry.strikes += 1
        self.entries.move_to_end(key)


@dataclass(frozen=True, slots=True)
class LoginTicket:
    """An admitted attempt; hand it back to `LoginThrottle.settle` exactly once."""

    account: str
    address: str


class LoginThrottle:
    """In-memory login throttle, one per app (`login_throttle_key`). Decides before any hashing:

    - per account (normalised email, known or not): after `account_limit` failures within
      `account_window_s`, each further failure blocks the account for 1, 2, 4 ... s (at most
      `account_cap_s`); while blocked even the right password gets 429. A success clears it.
    - per client address (IPv6 by /64): the same with `address_limit` / `address_window_s`; a
      success does not clear it (one's own account must not reset the count of guesses at
      others').
    - at most `max_pending` verifications waiting or running at once, over all clients.
    """

    def __init__(
        self, *, account_limit: int = 5, account_window_s: float = 15 * 60,
        account_cap_s: float = 15 * 60, address_limit: int = 20, address_window_s: float = 5 * 60,
        address_cap_s: float = 15 * 60, max_entries: int = 10_000,
        max_pending: int = MAX_PENDING_VERIFICATIONS, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = _Limiter(account_limit, account_window_s, account_cap_s, max_entries)
        self.addresses = _Limiter(address_limit, address_window_s, address_cap_s, max_entries)
        self.max_pending = max_pending
        self.pending = 0
        self.clock = clock

    @staticmethod
    def account_key(email: str) -> str:
        return email.strip().lower()[:320]

    @staticmethod
    def address_key(remote: str | None) -> str:
        if not remote:
            return "unknown"
        try:
            ip = ipaddress.ip_address(remote)
        except ValueError:
            return remote[:64]
        if ip.version == 6:
            mapped = ip.ipv4_mapped
            if mapped is not None:
                return str(mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def admit(self, email: str, remote: str | None) -> LoginTicket:
        """Admit one attempt, or raise TooManyAttempts (429) with how long to wait."""
        now = self.clock()
        ticket = LoginTicket(self.account_key(email), self.address_key(remote))
        wait = max(self.accounts.wait(ticket.account, now), self.addresses.wait(ticket.address, now))
        if wait > 0:
            raise TooManyAttempts(wait)
        if self.pending >= self.max_pending:
            raise TooManyAttempts(1, busy=True)
        self.accounts.admit(ticket.account, now)
        self.addresses.admit(ticket.address, now)
        self.pending += 1
        return ticket

    def settle(self, ticket: LoginTicket, ok: bool | None) -> None:
        """The attempt's outcome: True right password, False wrong, None undecided (an error)."""
        now = self.clock()
        self.pending = max(0, self.pending - 1)
        self.accounts.settle(ticket.account, now, failed=ok is False, forget=ok is True)
        self.addresses.settle(ticket.address, now, failed=ok is False)


login_throttle_key = web.AppKey("login_throttle", LoginThrottle)


def login_throttle(app: web.Application) -> LoginThrottle:
    return app[login_throttle_key]


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    password_hash: str


def _find_account(db: Session, email: str) -> _Account | None:
    user = db.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or user.disabled:
        return None
    return _Account(stored_id(user), user.password_hash)


def _verify(account: _Account | None, password: str) -> tuple[bool, str | None]:
    """(right password, a new hash when the parameters changed). Runs on the argon2 executor."""
    if account is None:
        try:
            _hasher.verify(_DUMMY_HASH, password)  # the same time whether the email exists or not
        except VerificationError:
            pass
        return False, None
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if _hasher.check_needs_rehash(account.password_hash):
        return True, _hasher.hash(password)
    return True, None


async def check_login(
    store: Store, throttle: LoginThrottle, email: str, password: str, remote: str | None
) -> Callable[[Session], User]:
    """Throttle, look up, verify; raises TooManyAttempts (429) or Unauthorized (401). Returns the
    store work that finishes the login: it re-reads the user (still there, not disabled) and
    stores a rehash, for the caller to run together with issuing its token."""
    ticket = throttle.admit(email, remote)
    verdict: bool | None = None  # None: not decided (an error), which counts as no failure
    try:
        account = await store.run(lambda db: _find_account(db, email))
        loop = asyncio.get_running_loop()
        ok, new_hash = await loop.run_in_executor(_password_executor(), _verify, account, password)
        verdict = ok
    finally:
        throttle.settle(ticket, verdict)
    if not ok or account is None:
        logger.info("failed login for %s from %s", ticket.account, ticket.address)
        raise Unauthorized("wrong email or password")
    user_id = account.id

    def finish(db: Session) -> User:
        user = db.get(User, user_id)
        if user is None or user.disabled:
            raise Unauthorized("wrong email or password")
        if new_hash is not None:
            user.password_hash = new_hash
            db.add(user)
        return user

    return finish


def too_many_attempts_response(exc: TooManyAttempts) -> web.Response:
    from server.web import error_response  # server.web imports this module

    response = error_response(exc.status, exc.message, retry_after=exc.retry_after)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response
