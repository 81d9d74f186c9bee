"""A real SMTP server for tests (aiosmtpd, on 127.0.0.1 in its own thread) that keeps what it
receives and can be told to refuse recipients or to hold a message in DATA."""
from __future__ import annotations

import asyncio
import contextlib
import email
import errno
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.server import PORT_ATTEMPTS, free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""  # type: ignore[no-any-return]

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""  # type: ignore[no-any-return]


@dataclass
class MailHandler:
    received: list[Received] = field(default_factory=list)
    # Answers for the next RCPT commands (e.g. "550 5.1.1 mailbox unavailable"), used up in order.
    refuse_next: list[str] = field(default_factory=list)
    hold: threading.Event | None = None  # while set to an unset Event, DATA waits for it
    holding: threading.Event = field(default_factory=threading.Event)  # a DATA is being held
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        with self.lock:
            answer = self.refuse_next.pop(0) if self.refuse_next else None
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold is not None and not self.hold.is_set():
            self.holding.set()
            while not self.hold.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"  # the held message is not accepted
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} message(s) arrived, expected {count}")


@dataclass
class SmtpServer:
    handler: MailHandler
    port: int
    logins: list[tuple[str, str]]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@contextlib.contextmanager
def smtp_server(*, users: dict[str, str] | None = None, port: int | None = None) -> Iterator[SmtpServer]:
    """`users`: require a login (over plain SMTP, as a test may)."""
    handler = MailHandler()
    logins: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {}
    if users is not None:
        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            if isinstance(data, LoginPassword):
                login, password = data.login.decode(), data.password.decode()
                logins.append((login, password))
                if users.get(login) == password:
                    return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = SmtpServer(handler, port or free_port(), logins)
        controller = Controller(handler, hostname="127.0.0.1", port=server.port, **kwargs)
        try:
            controller.start()
        except OSError as exc:
            # The free port was taken before we bound it (see tests/support/server.py).
            if port is not None or attempt == PORT_ATTEMPTS or exc.errno != errno.EADDRINUSE:
                raise
            continue
        break
    try:
        yield server
    finally:
        if handler.hold is not None:
            handler.hold.set()
        controller.stop()
