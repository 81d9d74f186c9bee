"""Sends the outbox (server/mail_outbox.py) through the SMTP server of CANDOR_SMTP_URL.

One task per server process, started and cancelled with the app. Each round claims the due
messages (an UPDATE that only one process can win), sends them over one SMTP connection in a
worker thread (smtplib blocks), and records each result: sent, or failed with the server's
reason and a later retry (doubling from CANDOR_MAIL_RETRY_S, up to CANDOR_MAIL_MAX_ATTEMPTS).
Messages a killed process left `sending` are queued again at start (sent at least once)."""
from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import AsyncIterator

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, col, or_, select

from server import webhook_events
from server.mail_outbox import queue_reminders, sent_event
from server.mail_templates import fill_link
from server.sealing import Sealer, Unsealable, sealer_key
from server.settings import Settings, SmtpTarget, parse_smtp_url
from server.store import Store
from server.tables import Candidate, Interview, Invitation, OutboundMail, User, utcnow
from server.web import settings_key, store_key

logger = logging.getLogger(__name__)
BATCH = 50  # messages per SMTP connection
SMTP_TIMEOUT_S = 30.0
FINISHED = ("completed", "abandoned", "expired")


@dataclass(slots=True)
class Outgoing:
    id: int
    attempts: int
    message: EmailMessage | None
    problem: str = ""  # why it cannot be sent at all (no retry)
    cancelled: bool = False


class MailSender:
    def __init__(self, settings: Settings, store: Store, sealer: Sealer) -> None:
        assert settings.smtp_url is not None and settings.mail_from is not None
        self.settings = settings
        self.store = store
        self.sealer = sealer
        self.target: SmtpTarget = parse_smtp_url(settings.smtp_url)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        """Work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        requeued = await self.store.run(_requeue_interrupted)
        if requeued:
            logger.warning("mail: %d message(s) a stopped process was sending are queued again", requeued)
        while True:
            try:
                reminders = await self.store.run(lambda db: queue_reminders(db, self.settings))
                if reminders:
                    logger.info("mail: %d reminder(s) queued", reminders)
                while await self.round() == BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("mail: a round failed; trying again at the next poll")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.outbox_poll_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def round(self) -> int:
        """Send what is due; the number of messages claimed."""
        batch = await self.store.run(self._claim)
        if not batch:
            return 0
        sendable = [o for o in batch if o.message is not None]
        results: dict[int, str | None] = {}
        if sendable:
            try:
                errors = await asyncio.to_thread(_send_all, self.target, self.settings.mail_from or "",
                                                 [o.message for o in sendable])  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - any failure to talk to the server fails the batch
                reason = _reason(exc)
                logger.warning("mail: could not send %d message(s): %s", len(sendable), reason)
                errors = [reason] * len(sendable)
            results = {o.id: err for o, err in zip(sendable, errors, strict=True)}
        await self.store.run(lambda db: self._record(db, batch, results))
        return len(batch)

    def _claim(self, db: Session) -> list[Outgoing]:
        now = utcnow()
        due = db.exec(
            select(OutboundMail)
            .where(or_(col(OutboundMail.state) == "queued", col(OutboundMail.state) == "failed"))
            .where(col(OutboundMail.next_attempt_at).is_not(None))
            .where(col(OutboundMail.next_attempt_at) <= now)
            .order_by(col(OutboundMail.next_attempt_at), col(OutboundMail.id))
            .limit(BATCH)
        ).all()
        claimed = []
        for row in due:
            attempt = row.attempts + 1
            won = db.execute(
                update(OutboundMail)
                .where(col(OutboundMail.id) == row.id, col(OutboundMail.state) == row.state,
                       col(OutboundMail.attempts) == row.attempts)
                .values(state="sending", attempts=attempt)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another process took it
            claimed.append(self._prepare(db, row, attempt))
        return claimed

    def _prepare(self, db: Session, row: OutboundMail, attempt: int) -> Outgoing:
        out = Outgoing(id=row.id, attempts=attempt, message=None)  # type: ignore[arg-type]
        invitation = db.get(Invitation, row.invitation_id) if row.invitation_id is not None else None
        interview = (db.exec(select(Interview).where(Interview.invitation_id == invitation.id)).first()
                     if invitation is not None else None)
        if invitation is None or interview is None:
            out.problem = "the invitation no longer exists"
            return out
        if interview.state in FINISHED or invitation.deadline <= utcnow():
            out.cancelled = True
            out.problem = f"not sent: the interview is {interview.state}" if interview.state in FINISHED \
                else "not sent: the deadline passed first"
            return out
        if invitation.token_sealed is None:
            out.problem = "the link was revoked before the message was sent: issue a new link"
            return out
        try:
            token = self.sealer.unseal(invitation.token_sealed)
        except Unsealable as exc:
            out.problem = f"cannot read the link: {exc}; issue a new link"
            return out
        url = f"{row.link_base}/i/{token}"
        inviter = db.get(User, row.created_by) if row.created_by is not None else None
        inviter = inviter or db.get(User, invitation.created_by)
        try:
            candidate = db.get(Candidate, invitation.candidate_id)
            out.message = compose(self.settings.mail_from or "", row, url,
                                  name=candidate.name if candidate is not None else "",
                                  reply_to=inviter.email if inviter is not None else None)
        except (ValueError, IndexError) as exc:
            out.problem = f"cannot write to {row.to_addr!r}: {exc}"
        return out

    def _record(self, db: Session, batch: list[Outgoing], results: dict[int, str | None]) -> None:
        now = utcnow()
        for out in batch:
            row = db.get(OutboundMail, out.id)
            if row is None:
                continue
            error = out.problem or results.get(out.id)
            if error is None:
                row.state, row.sent_at, row.last_error, row.next_attempt_at = "sent", now, "", None
                if row.kind == "invitation":
                    interview = db.exec(select(Interview).where(Interview.invitation_id == row.invitation_id)).first()
                    if interview is not None:
                        webhook_events.emit(db, webhook_events.INVITATION_SENT, sent_event(db, interview, by_mail=True))
            else:
                row.state = "cancelled" if out.cancelled else "failed"
                row.last_error = error[:1000]
                retry = not out.problem and out.attempts < self.settings.mail_max_attempts
                delay = self.settings.mail_retry_s * 2 ** (out.attempts - 1)
                row.next_attempt_at = now + timedelta(seconds=delay) if retry else None
                logger.info("mail %d to %s failed (attempt %d%s): %s", out.id, row.to_addr, out.attempts,
                            ", will retry" if retry else ", giving up", error)
            db.add(row)


def compose(mail_from: str, row: OutboundMail, url: str, *, name: str, reply_to: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = row.subject
    msg["From"] = mail_from
    local, _, domain = row.to_addr.rpartition("@")
    msg["To"] = Address(display_name=name, username=local, domain=domain)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    msg.set_content(fill_link(row.body_text, url))
    msg.add_alternative(fill_link(row.body_html, url, as_html=True), subtype="html")
    return msg


def _send_all(target: SmtpTarget, mail_from: str, messages: list[EmailMessage]) -> list[str | None]:
    """One connection; per message None (accepted) or the server's reason. Raises when the
    server cannot be reached or refuses the session (every message then fails alike)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if target.tls == "tls":
        smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_S)
    results: list[str | None] = []
    with smtp:
        smtp.ehlo()
        if target.tls == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if target.username is not None:
            smtp.login(target.username, target.password or "")
        for i, msg in enumerate(messages):
            try:
                smtp.send_message(msg, from_addr=mail_from)
                results.append(None)
            except smtplib.SMTPServerDisconnected as exc:
                results.extend([_reason(exc)] * (len(messages) - i))
                break
            except (smtplib.SMTPException, ValueError, UnicodeError) as exc:
                results.append(_reason(exc))
                try:
                    smtp.rset()
                except smtplib.SMTPException:
                    results.extend([_reason(exc)] * (len(messages) - i - 1))
                    break
    return results


def _reason(exc: BaseException) -> str:
    """The mail server's words, as HR reads them."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [f"{code} {_text(msg)}" for code, msg in exc.recipients.values()]
        return "the mail server refused the address: " + "; ".join(codes)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"the mail server refused the sender {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the mail server refused the login: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server refused: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the mail server closed the connection: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the mail server failed: {exc}"
    if isinstance(exc, (TimeoutError, OSError)):
        return f"cannot reach the mail server: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
    return f"{type(exc).__name__}: {exc}"


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _requeue_interrupted(db: Session) -> int:
    result = db.execute(update(OutboundMail).where(col(OutboundMail.state) == "sending")
                        .values(state="queued", next_attempt_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


mail_sender_key = web.AppKey("mail_sender", MailSender)


async def mail_ctx(app: web.Application) -> AsyncIterator[None]:
    """The sender runs while the app does (only with mail on)."""
    settings = app[settings_key]
    sender = None
    if settings.mail_on:
        sender = MailSender(settings, app[store_key], app[sealer_key])
        app[mail_sender_key] = sender
        sender.start()
        logger.info("mail: on, through %s:%d (%s)", sender.target.host, sender.target.port, sender.target.tls)
    else:
        logger.info("mail: off (CANDOR_SMTP_URL unset): HR copies invitation links by hand")
    yield
    if sender is not None:
        await sender.stop()


def wake(app: web.Application) -> None:
    sender = app.get(mail_sender_key)
    if sender is not None:
        sender.wake()


def link_sealer(app: web.Application) -> Sealer | None:
    """What seals new links, with mail on (the outbox needs them); None with mail off."""
    return app[sealer_key] if app[settings_key].mail_on else None
