"""The interview's state machine: states, events, and ONE transition table. Pure: no I/O, no
asyncio, no clock. Every state change anywhere (candidate, HR, watchdog, link expiry, restart)
asks `handle()`; the async layer (server/session.py) carries out the effects it returns.

    handle(state, event, facts) -> Step(to, effects, code)      or raises Refused

`facts` are what the guards need to know about the world (is this the last question, is media
arriving, is there room for another interview's media). `to` is None when the event is allowed
but changes no state (e.g. HR's message). `code` is the machine-readable reason the candidate's
page and HR's panel get; the page turns it into words, and HR's private notes never travel in it.

Every non-terminal state has a way out that needs nobody (a timeout): see EXITS.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Callable


class State(StrEnum):
    INVITED = "invited"
    CONSENTED = "consented"
    CONNECTING = "connecting"
    LIVE = "live"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"
    EXPIRED = "expired"
    COMPLETED = "completed"


class Event(StrEnum):
    CONSENT = "consent"  # candidate's `start`: agrees to analysis or asks for a human-only review
    JOIN = "join"  # candidate's `start`: ready to begin (devices checked)
    OFFER = "offer"  # a new WebRTC offer: media is about to flow
    MEDIA_UP = "media_up"  # audio or video arrives
    MEDIA_LOST = "media_lost"  # nothing arrived for CANDOR_MEDIA_TIMEOUT_S
    NEXT = "next"  # candidate is done with the question
    TIME_UP = "time_up"  # the question's time ran out
    PAUSE = "pause"
    RESUME = "resume"
    MESSAGE = "message"
    EXTEND = "extend"
    SKIP = "skip"
    REDO = "redo"
    END = "end"
    REOPEN = "reopen"  # HR reopens an abandoned interview before its deadline
    DEADLINE = "deadline"  # the invitation's deadline passed before the interview began
    CONNECT_TIMEOUT = "connect_timeout"  # media held but never arrived
    PAUSE_TIMEOUT = "pause_timeout"  # paused for longer than CANDOR_PAUSE_LIMIT_S
    ABANDON_TIMEOUT = "abandon_timeout"  # interrupted for longer than CANDOR_ABANDON_AFTER_S
    RESTART = "restart"  # the server started and found the interview mid-way


class Effect(StrEnum):
    """What the async layer does, in the order listed. Effects in AFTER_RECORD run once the new
    state is stored and announced (so the candidate sees `live` before the question)."""

    SAVE_CONSENT = "save_consent"  # keep the candidate's first choice
    TAKE_SLOT = "take_slot"  # this interview now holds one of CANDOR_MAX_SESSIONS media slots
    CLOSE_PEER = "close_peer"  # close the peer connection; its audio is still recognised to the end
    BEGIN_PAUSE = "begin_pause"  # pause time starts counting for the current attempt
    END_PAUSE = "end_pause"
    STOP_CLOCK = "stop_clock"  # the question clock stops; the time-up timer is cancelled
    CREDIT_LOST_TIME = "credit_lost_time"  # seconds since the last media do not count
    MARK_FAULT = "mark_fault"  # the current attempt was hit by a fault
    FINISH_ATTEMPT = "finish_attempt"  # the answer is closed; transcript and scores finish in the background
    SKIP_ATTEMPT = "skip_attempt"  # the same, marked skipped
    SUPERSEDE_ATTEMPT = "supersede_attempt"  # the same, kept but not counted (a redo)
    RESET_CLOCK = "reset_clock"  # the question's time starts again (a redo)
    NEXT_QUESTION = "next_question"
    OPEN_ATTEMPT = "open_attempt"  # an attempt for the current question, unless one is open
    ADD_TIME = "add_time"  # HR's extra seconds for the current question
    RECORD_INTERVENTION = "record_intervention"  # intervention row, audit row, `intervention` event
    START_CLOCK = "start_clock"  # the question clock runs; the time-up timer is armed
    SEND_QUESTION = "send_question"
    SEND_MESSAGE = "send_message"  # HR's message text, meant for the candidate
    SEND_DONE = "send_done"
    FINISHED = "finished"  # build the report (when completed) and release the session


AFTER_RECORD = frozenset({Effect.START_CLOCK, Effect.SEND_QUESTION, Effect.SEND_MESSAGE,
                          Effect.SEND_DONE, Effect.FINISHED})

# --- the state sets, defined once (the pages get them from the server) --------------------------

FINISHED = frozenset({State.COMPLETED, State.ABANDONED, State.EXPIRED})
# Interviews that hold one of the process's media slots (CANDOR_MAX_SESSIONS).
HOLDS_MEDIA = frozenset({State.CONNECTING, State.LIVE, State.PAUSED, State.INTERRUPTED})
# A question was entered: the question clock and attempts exist.
STARTED = frozenset({State.LIVE, State.PAUSED, State.INTERRUPTED})
# The candidate's link opens and the page continues where it stopped.
RESUMABLE = frozenset({State.CONSENTED, State.CONNECTING, State.LIVE, State.PAUSED, State.INTERRUPTED})


def state_sets() -> dict[str, list[str]]:
    """The sets the pages need, as plain lists."""
    return {"finished": sorted(FINISHED), "holds_media": sorted(HOLDS_MEDIA),
            "started": sorted(STARTED), "resumable": sorted(RESUMABLE)}


@dataclass(frozen=True, slots=True)
class Facts:
    last_question: bool = False  # the current question is the last one
    started: bool = False  # an attempt was ever opened (a question was shown live)
    media: bool = False  # the candidate's media is arriving now
    room: bool = True  # a media slot is free for this interview (or it holds one already)
    deadline_passed: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    to: State | None  # None: allowed, no state change (nothing recorded)
    effects: tuple[Effect, ...] = ()
    code: str | None = None  # why, for the candidate and the panel


class Refused(Exception):
    """The event is not allowed now. `status` is the HTTP status an HR control answers with;
    `code` is what a candidate's page is told."""

    def __init__(self, reason: str, code: str = "refused", status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status


Guard = Callable[[Facts], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    to: State | None
    effects: tuple[Effect, ...] = ()
    code: str | None = None
    when: Guard | None = None  # first rule whose guard holds wins
    refuse: tuple[str, str, int] | None = None  # (reason, code, status): a guarded refusal


def _last(f: Facts) -> bool:
    return f.last_question


def _not_last(f: Facts) -> bool:
    return not f.last_question


def _no_room(f: Facts) -> bool:
    return not f.room


def _media(f: Facts) -> bool:
    return f.media


def _started_no_media(f: Facts) -> bool:
    return f.started and not f.media


def _no_media(f: Facts) -> bool:
    return not f.media


def _deadline(f: Facts) -> bool:
    return f.deadline_passed


E = Effect
S = State
CAPACITY_CODE = "capacity"
CAPACITY = Rule(None, refuse=("the interview server is busy right now; your page will try again by itself",
                              CAPACITY_CODE, 503), when=_no_room)
NOTHING = Rule(None)  # allowed, changes nothing
_DONE = (E.SEND_DONE, E.CLOSE_PEER, E.FINISHED)


def _complete(*before: Effect, code: str) -> Rule:
    return Rule(S.COMPLETED, (*before, *_DONE), code, when=_last)


def _hr_controls(state: State, *, clock: bool) -> dict[Event, tuple[Rule, ...]]:
    """HR's message, extend, skip, redo and end, for an interview where a question is (or is
    about to be) on screen. `clock`: the question clock is running (live)."""
    stop = (E.STOP_CLOCK,) if clock else ()
    start = (E.START_CLOCK,) if clock else ()
    pause = state == S.PAUSED
    end_pause = (E.END_PAUSE,) if pause else ()
    begin_pause = (E.BEGIN_PAUSE,) if pause else ()
    rec = E.RECORD_INTERVENTION
    return {
        Event.MESSAGE: (Rule(None, (rec, E.SEND_MESSAGE)),),
        Event.EXTEND: (Rule(None, (rec, E.ADD_TIME, *start, E.SEND_QUESTION)),),
        Event.SKIP: (
            _complete(rec, *stop, *end_pause, E.SKIP_ATTEMPT, code="skipped_by_interviewer"),
            Rule(state, (rec, *stop, *end_pause, E.SKIP_ATTEMPT, E.NEXT_QUESTION, E.OPEN_ATTEMPT, *begin_pause,
                         *start, E.SEND_QUESTION), "skipped_by_interviewer"),
        ),
        Event.REDO: (Rule(state, (rec, *stop, *end_pause, E.SUPERSEDE_ATTEMPT, E.RESET_CLOCK, E.OPEN_ATTEMPT,
                                  *begin_pause, *start, E.SEND_QUESTION), "redo_by_interviewer"),),
        Event.END: (Rule(S.COMPLETED, (rec, *stop, *end_pause, E.FINISH_ATTEMPT, *_DONE), "ended_by_interviewer"),),
    }


TABLE: dict[State, dict[Event, tuple[Rule, ...]]] = {
    S.INVITED: {
        Event.CONSENT: (Rule(S.CONSENTED, (E.SAVE_CONSENT,), "consented"),),
        Event.OFFER: (CAPACITY, Rule(None, (E.TAKE_SLOT,))),  # media may come before consent
        Event.MEDIA_UP: (NOTHING,),
        Event.MEDIA_LOST: (NOTHING,),
        Event.CONNECT_TIMEOUT: (Rule(None, (E.CLOSE_PEER,), "connect_timeout"),),
        Event.DEADLINE: (Rule(S.EXPIRED, (E.CLOSE_PEER, E.FINISHED), "expired"),),
    },
    S.CONSENTED: {
        Event.CONSENT: (NOTHING,),  # the first choice is kept
        Event.JOIN: (CAPACITY, Rule(S.CONNECTING, (E.TAKE_SLOT,), "connecting")),
        Event.OFFER: (CAPACITY, Rule(S.CONNECTING, (E.TAKE_SLOT,), "connecting")),
        Event.MEDIA_UP: (NOTHING,),
        Event.MEDIA_LOST: (NOTHING,),
        Event.CONNECT_TIMEOUT: (Rule(None, (E.CLOSE_PEER,), "connect_timeout"),),
        Event.DEADLINE: (Rule(S.EXPIRED, (E.CLOSE_PEER, E.FINISHED), "expired"),),
    },
    S.CONNECTING: {
        Event.CONSENT: (NOTHING,),
        Event.JOIN: (NOTHING,),
        Event.OFFER: (NOTHING,),
        Event.MEDIA_UP: (Rule(S.LIVE, (E.OPEN_ATTEMPT, E.START_CLOCK, E.SEND_QUESTION), "live"),),
        Event.MEDIA_LOST: (NOTHING,),
        Event.CONNECT_TIMEOUT: (Rule(S.CONSENTED, (E.CLOSE_PEER,), "connect_timeout"),),
        Event.PAUSE: (Rule(S.PAUSED, (E.RECORD_INTERVENTION, E.BEGIN_PAUSE), "paused_by_interviewer"),),
        Event.MESSAGE: (Rule(None, (E.RECORD_INTERVENTION, E.SEND_MESSAGE)),),
        Event.EXTEND: (Rule(None, (E.RECORD_INTERVENTION, E.ADD_TIME, E.SEND_QUESTION)),),
        Event.END: (Rule(S.COMPLETED, (E.RECORD_INTERVENTION, *_DONE), "ended_by_interviewer"),),
        Event.RESTART: (Rule(S.CONSENTED, (), "server_restarted"),),
    },
    S.LIVE: {
        Event.CONSENT: (NOTHING,),
        Event.JOIN: (NOTHING,),
        Event.OFFER: (NOTHING,),
        Event.MEDIA_UP: (NOTHING,),
        Event.MEDIA_LOST: (Rule(S.INTERRUPTED, (E.STOP_CLOCK, E.CREDIT_LOST_TIME, E.MARK_FAULT), "network_lost"),),
        Event.NEXT: (
            _complete(E.STOP_CLOCK, E.FINISH_ATTEMPT, code="completed"),
            Rule(S.LIVE, (E.STOP_CLOCK, E.FINISH_ATTEMPT, E.NEXT_QUESTION, E.OPEN_ATTEMPT, E.START_CLOCK,
                          E.SEND_QUESTION), "next_question"),
        ),
        Event.TIME_UP: (
            _complete(E.STOP_CLOCK, E.FINISH_ATTEMPT, code="completed"),
            Rule(S.LIVE, (E.STOP_CLOCK, E.FINISH_ATTEMPT, E.NEXT_QUESTION, E.OPEN_ATTEMPT, E.START_CLOCK,
                          E.SEND_QUESTION), "time_up"),
        ),
        Event.PAUSE: (Rule(S.PAUSED, (E.RECORD_INTERVENTION, E.STOP_CLOCK, E.BEGIN_PAUSE), "paused_by_interviewer"),),
        **_hr_controls(S.LIVE, clock=True),
        Event.RESTART: (Rule(S.INTERRUPTED, (E.MARK_FAULT,), "server_restarted"),),
    },
    S.PAUSED: {
        Event.CONSENT: (NOTHING,),
        Event.JOIN: (NOTHING,),
        Event.OFFER: (NOTHING,),
        Event.MEDIA_UP: (NOTHING,),
        Event.MEDIA_LOST: (NOTHING,),  # the pause limit still applies
        Event.RESUME: (
            Rule(S.INTERRUPTED, (E.RECORD_INTERVENTION, E.END_PAUSE), "resumed_waiting_for_media",
                 when=_started_no_media),
            Rule(S.CONNECTING, (E.RECORD_INTERVENTION, E.END_PAUSE), "resumed_by_interviewer", when=_no_media),
            Rule(S.LIVE, (E.RECORD_INTERVENTION, E.END_PAUSE, E.OPEN_ATTEMPT, E.START_CLOCK, E.SEND_QUESTION),
                 "resumed_by_interviewer"),
        ),
        **_hr_controls(S.PAUSED, clock=False),
        Event.PAUSE_TIMEOUT: (Rule(S.ABANDONED, (E.END_PAUSE, E.FINISH_ATTEMPT, E.CLOSE_PEER, E.FINISHED),
                                   "pause_timeout"),),
        Event.RESTART: (NOTHING,),  # HR paused it: still paused (the pause limit counts again)
    },
    S.INTERRUPTED: {
        Event.CONSENT: (NOTHING,),
        Event.JOIN: (NOTHING,),
        Event.OFFER: (NOTHING,),
        Event.MEDIA_UP: (Rule(S.LIVE, (E.OPEN_ATTEMPT, E.START_CLOCK, E.SEND_QUESTION), "media_back"),),
        Event.MEDIA_LOST: (NOTHING,),
        Event.PAUSE: (Rule(S.PAUSED, (E.RECORD_INTERVENTION, E.BEGIN_PAUSE), "paused_by_interviewer"),),
        **_hr_controls(S.INTERRUPTED, clock=False),
        Event.ABANDON_TIMEOUT: (Rule(S.ABANDONED, (E.FINISH_ATTEMPT, E.CLOSE_PEER, E.FINISHED), "abandoned"),),
        Event.RESTART: (Rule(S.INTERRUPTED, (E.MARK_FAULT,), "server_restarted"),),
    },
    S.ABANDONED: {
        Event.REOPEN: (
            Rule(None, refuse=("the deadline has passed; send a new invitation instead", "expired", 410),
                 when=_deadline),
            Rule(S.INTERRUPTED, (E.RECORD_INTERVENTION,), "reopened"),
        ),
    },
    S.EXPIRED: {},
    S.COMPLETED: {},
}

# Every non-terminal state's way out that needs nobody, with the setting that times it.
EXITS: dict[State, tuple[Event, str]] = {
    S.INVITED: (Event.DEADLINE, "the invitation's deadline"),
    S.CONSENTED: (Event.DEADLINE, "the invitation's deadline (idle sessions also leave memory)"),
    S.CONNECTING: (Event.CONNECT_TIMEOUT, "CANDOR_CONNECT_TIMEOUT_S"),
    S.LIVE: (Event.TIME_UP, "the question's time limit (and MEDIA_LOST after CANDOR_MEDIA_TIMEOUT_S)"),
    S.PAUSED: (Event.PAUSE_TIMEOUT, "CANDOR_PAUSE_LIMIT_S"),
    S.INTERRUPTED: (Event.ABANDON_TIMEOUT, "CANDOR_ABANDON_AFTER_S"),
}


def handle(state: State, event: Event, facts: Facts = Facts()) -> Step:
    """The one place that decides what an event does in a state."""
    rules = TABLE[state].get(event)
    if not rules:
        raise Refused(_refusal(state, event), "finished" if state in FINISHED else "refused")
    for rule in rules:
        if rule.when is not None and not rule.when(facts):
            continue
        if rule.refuse is not None:
            raise Refused(*rule.refuse)
        return Step(rule.to, rule.effects, rule.code)
    raise Refused(_refusal(state, event))  # pragma: no cover - every rule list ends unguarded


def _refusal(state: State, event: Event) -> str:
    if state in FINISHED:
        return f"the interview is {state.value}"
    if state in (State.INVITED, State.CONSENTED):
        return (f"cannot {event.value.replace('_', ' ')} an interview that has not started "
                f"(it is {state.value}: the candidate has not joined yet)")
    return f"cannot {event.value.replace('_', ' ')} an interview that is {state.value}"


# --- words for the codes (neutral: never HR's notes) ---------------------------------------------

TEXT: dict[str, str] = {
    "joined": "connected to the interview",
    "consented": "consent recorded",
    "connecting": "waiting for camera and microphone",
    "live": "camera and microphone connected",
    "next_question": "next question",
    "time_up": "time ran out; next question",
    "completed": "all questions done",
    "network_lost": "the connection was lost",
    "media_back": "connection back: the same question continues",
    "paused_by_interviewer": "paused by the interviewer",
    "resumed_by_interviewer": "resumed by the interviewer",
    "resumed_waiting_for_media": "resumed; waiting for camera and microphone",
    "skipped_by_interviewer": "the interviewer moved on to the next question",
    "redo_by_interviewer": "the interviewer asked to answer this question again",
    "ended_by_interviewer": "the interviewer ended the interview",
    "connect_timeout": "camera and microphone could not connect",
    "pause_timeout": "the interview was paused for too long",
    "abandoned": "no camera or microphone signal for too long",
    "expired": "the deadline has passed",
    "reopened": "reopened by the interviewer",
    "server_restarted": "the server restarted; reconnecting",
    "opened_elsewhere": "the interview was opened in another window",
    "link_reissued": "HR sent a new link for this interview; this one no longer works",
    "capacity": "the interview server is busy; retrying",
    "finished": "the interview is finished",
    "too_many_messages": "too many messages from this window",
    "not_reading": "this window stopped reading messages",
    "refused": "not possible now",
}
