"""What each effect of the state machine does to a live session (server/interview_machine.py
lists them; server/session.py applies an event's effects in order through `carry_out`)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from server import session_views
from server.interview_machine import Effect

if TYPE_CHECKING:
    from server.session import Context, InterviewSession


async def carry_out(session: InterviewSession, effect: Effect, ctx: Context) -> None:

    now = time.monotonic()
    qi = session.question_index
    attempt = session.current_attempt()
    if effect == Effect.SAVE_CONSENT:
        if session.consent is None:
            session.consent = session.pending_consent
    elif effect == Effect.TAKE_SLOT:
        pass  # taken in _apply, before any await
    elif effect == Effect.CLOSE_PEER:
        peer, session.peer, session.media_connected = session.peer, None, False
        if peer is not None:
            session.retire(peer)
    elif effect == Effect.BEGIN_PAUSE:
        session.paused_at = now
    elif effect == Effect.END_PAUSE:
        if session.paused_at is not None and attempt is not None:
            attempt.paused_s += now - session.paused_at
        session.paused_at = None
    elif effect == Effect.STOP_CLOCK:
        session.question_time.stop(now)
        if attempt is not None:
            attempt.close_span(session.clock())
        session.cancel_timer()
    elif effect == Effect.CREDIT_LOST_TIME:
        lost = session.media_gap_s()
        session.question_time.credit(qi, lost)
        session.interrupted_at = now - lost
    elif effect == Effect.MARK_FAULT:
        if attempt is not None:
            attempt.fault = True
    elif effect in (Effect.FINISH_ATTEMPT, Effect.SKIP_ATTEMPT, Effect.SUPERSEDE_ATTEMPT):
        if attempt is not None and not attempt.closed:
            attempt.skipped = effect == Effect.SKIP_ATTEMPT
            attempt.superseded = effect == Effect.SUPERSEDE_ATTEMPT
            session.close_attempt(attempt)
    elif effect == Effect.RESET_CLOCK:
        session.question_time.reset(qi)
    elif effect == Effect.NEXT_QUESTION:
        session.advance()  # past a follow-up skipped by rule (server/follow_ups.py)
    elif effect == Effect.OPEN_ATTEMPT:
        session.attempts.open(qi)
    elif effect == Effect.ADD_TIME:
        session.question_time.add(qi, ctx.seconds or 0.0)
    elif effect == Effect.RECORD_INTERVENTION:
        await session.record_intervention(ctx)
    elif effect == Effect.START_CLOCK:
        session.question_time.start(qi, now)
        if attempt is not None:
            attempt.open_span(session.clock())
        session.arm_timer()
    elif effect == Effect.SEND_QUESTION:
        if (msg := session_views.question_message(session)) is not None:
            session.send(msg)
        session.bus.publish("progress", session.id, **session_views.progress(session))
    elif effect == Effect.SEND_MESSAGE:
        session.send({"type": "message", "text": ctx.note})
    elif effect == Effect.SEND_DONE:
        session.send({"type": "done"})
    elif effect == Effect.FINISHED:
        if session.on_finished is not None:
            session.spawn(session.on_finished(session))
