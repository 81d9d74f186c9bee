"""The interview state machine, pure: every (state, event) pair against a table written here
independently of the implementation's, plus the properties the table must keep (every state
has a way out, every state is reachable, the finished ones stay finished)."""
from __future__ import annotations

from itertools import product

import pytest

from server.interview_machine import (
    EXITS, FINISHED, HOLDS_MEDIA, TABLE, Effect, Event, Facts, Refused, State, handle,
)

S, E, X = State, Event, Effect
LAST, NOT_LAST = Facts(last_question=True), Facts(last_question=False)
FULL = Facts(room=False)
HR_ANYWHERE = (E.MESSAGE, E.EXTEND, E.SKIP, E.REDO, E.END)

# (state, event, facts) -> (new state or None for "no change", effects that must be among the
# step's, code). Every pair not listed must be refused.
EXPECTED: dict[tuple[State, Event, Facts], tuple[State | None, set[Effect], str | None]] = {
    (S.INVITED, E.CONSENT, Facts()): (S.CONSENTED, {X.SAVE_CONSENT}, "consented"),
    (S.INVITED, E.OFFER, Facts()): (None, {X.TAKE_SLOT}, None),
    (S.INVITED, E.MEDIA_UP, Facts()): (None, set(), None),
    (S.INVITED, E.MEDIA_LOST, Facts()): (None, set(), None),
    (S.INVITED, E.CONNECT_TIMEOUT, Facts()): (None, {X.CLOSE_PEER}, "connect_timeout"),
    (S.INVITED, E.DEADLINE, Facts()): (S.EXPIRED, {X.CLOSE_PEER, X.FINISHED}, "expired"),
    (S.CONSENTED, E.CONSENT, Facts()): (None, set(), None),
    (S.CONSENTED, E.JOIN, Facts()): (S.CONNECTING, {X.TAKE_SLOT}, "connecting"),
    (S.CONSENTED, E.OFFER, Facts()): (S.CONNECTING, {X.TAKE_SLOT}, "connecting"),
    (S.CONSENTED, E.MEDIA_UP, Facts()): (None, set(), None),
    (S.CONSENTED, E.MEDIA_LOST, Facts()): (None, set(), None),
    (S.CONSENTED, E.CONNECT_TIMEOUT, Facts()): (None, {X.CLOSE_PEER}, "connect_timeout"),
    (S.CONSENTED, E.DEADLINE, Facts()): (S.EXPIRED, {X.FINISHED}, "expired"),
    (S.CONNECTING, E.CONSENT, Facts()): (None, set(), None),
    (S.CONNECTING, E.JOIN, Facts()): (None, set(), None),
    (S.CONNECTING, E.OFFER, Facts()): (None, set(), None),
    (S.CONNECTING, E.MEDIA_UP, Facts()): (S.LIVE, {X.OPEN_ATTEMPT, X.START_CLOCK, X.SEND_QUESTION}, "live"),
    (S.CONNECTING, E.MEDIA_LOST, Facts()): (None, set(), None),
    (S.CONNECTING, E.CONNECT_TIMEOUT, Facts()): (S.CONSENTED, {X.CLOSE_PEER}, "connect_timeout"),
    (S.CONNECTING, E.PAUSE, Facts()): (S.PAUSED, {X.RECORD_INTERVENTION, X.BEGIN_PAUSE}, "paused_by_interviewer"),
    (S.CONNECTING, E.MESSAGE, Facts()): (None, {X.RECORD_INTERVENTION, X.SEND_MESSAGE}, None),
    (S.CONNECTING, E.EXTEND, Facts()): (None, {X.RECORD_INTERVENTION, X.ADD_TIME}, None),
    (S.CONNECTING, E.END, Facts()): (S.COMPLETED, {X.RECORD_INTERVENTION, X.SEND_DONE, X.FINISHED}, "ended_by_interviewer"),
    (S.CONNECTING, E.RESTART, Facts()): (S.CONSENTED, set(), "server_restarted"),
    (S.LIVE, E.CONSENT, Facts()): (None, set(), None),
    (S.LIVE, E.JOIN, Facts()): (None, set(), None),
    (S.LIVE, E.OFFER, Facts()): (None, set(), None),
    (S.LIVE, E.MEDIA_UP, Facts()): (None, set(), None),
    (S.LIVE, E.MEDIA_LOST, Facts()): (S.INTERRUPTED, {X.STOP_CLOCK, X.CREDIT_LOST_TIME, X.MARK_FAULT}, "network_lost"),
    (S.LIVE, E.NEXT, NOT_LAST): (S.LIVE, {X.FINISH_ATTEMPT, X.NEXT_QUESTION, X.OPEN_ATTEMPT, X.START_CLOCK,
                                          X.SEND_QUESTION}, "next_question"),
    (S.LIVE, E.NEXT, LAST): (S.COMPLETED, {X.FINISH_ATTEMPT, X.SEND_DONE, X.CLOSE_PEER, X.FINISHED}, "completed"),
    (S.LIVE, E.TIME_UP, NOT_LAST): (S.LIVE, {X.FINISH_ATTEMPT, X.NEXT_QUESTION, X.SEND_QUESTION}, "time_up"),
    (S.LIVE, E.TIME_UP, LAST): (S.COMPLETED, {X.FINISH_ATTEMPT, X.SEND_DONE, X.FINISHED}, "completed"),
    (S.LIVE, E.PAUSE, Facts()): (S.PAUSED, {X.STOP_CLOCK, X.BEGIN_PAUSE, X.RECORD_INTERVENTION}, "paused_by_interviewer"),
    (S.LIVE, E.MESSAGE, Facts()): (None, {X.RECORD_INTERVENTION, X.SEND_MESSAGE}, None),
    (S.LIVE, E.EXTEND, Facts()): (None, {X.RECORD_INTERVENTION, X.ADD_TIME, X.START_CLOCK, X.SEND_QUESTION}, None),
    (S.LIVE, E.SKIP, NOT_LAST): (S.LIVE, {X.SKIP_ATTEMPT, X.NEXT_QUESTION, X.START_CLOCK}, "skipped_by_interviewer"),
    (S.LIVE, E.SKIP, LAST): (S.COMPLETED, {X.SKIP_ATTEMPT, X.FINISHED}, "skipped_by_interviewer"),
    (S.LIVE, E.REDO, Facts()): (S.LIVE, {X.SUPERSEDE_ATTEMPT, X.RESET_CLOCK, X.OPEN_ATTEMPT, X.START_CLOCK},
                                "redo_by_interviewer"),
    (S.LIVE, E.END, Facts()): (S.COMPLETED, {X.STOP_CLOCK, X.FINISH_ATTEMPT, X.FINISHED}, "ended_by_interviewer"),
    (S.LIVE, E.RESTART, Facts()): (S.INTERRUPTED, {X.MARK_FAULT}, "server_restarted"),
    (S.PAUSED, E.CONSENT, Facts()): (None, set(), None),
    (S.PAUSED, E.JOIN, Facts()): (None, set(), None),
    (S.PAUSED, E.OFFER, Facts()): (None, set(), None),
    (S.PAUSED, E.MEDIA_UP, Facts()): (None, set(), None),
    (S.PAUSED, E.MEDIA_LOST, Facts()): (None, set(), None),
    (S.PAUSED, E.RESUME, Facts(started=True, media=True)): (S.LIVE, {X.END_PAUSE, X.START_CLOCK, X.SEND_QUESTION},
                                                           "resumed_by_interviewer"),
    (S.PAUSED, E.RESUME, Facts(started=True, media=False)): (S.INTERRUPTED, {X.END_PAUSE},
                                                            "resumed_waiting_for_media"),
    (S.PAUSED, E.RESUME, Facts(started=False, media=False)): (S.CONNECTING, {X.END_PAUSE}, "resumed_by_interviewer"),
    (S.PAUSED, E.RESUME, Facts(started=False, media=True)): (S.LIVE, {X.OPEN_ATTEMPT, X.START_CLOCK},
                                                            "resumed_by_interviewer"),
    (S.PAUSED, E.MESSAGE, Facts()): (None, {X.SEND_MESSAGE}, None),
    (S.PAUSED, E.EXTEND, Facts()): (None, {X.ADD_TIME, X.SEND_QUESTION}, None),
    (S.PAUSED, E.SKIP, NOT_LAST): (S.PAUSED, {X.END_PAUSE, X.SKIP_ATTEMPT, X.NEXT_QUESTION, X.BEGIN_PAUSE},
                                   "skipped_by_interviewer"),
    (S.PAUSED, E.SKIP, LAST): (S.COMPLETED, {X.SKIP_ATTEMPT, X.FINISHED}, "skipped_by_interviewer"),
    (S.PAUSED, E.REDO, Facts()): (S.PAUSED, {X.SUPERSEDE_ATTEMPT, X.RESET_CLOCK, X.BEGIN_PAUSE}, "redo_by_interviewer"),
    (S.PAUSED, E.END, Facts()): (S.COMPLETED, {X.END_PAUSE, X.FINISH_ATTEMPT, X.FINISHED}, "ended_by_interviewer"),
    (S.PAUSED, E.PAUSE_TIMEOUT, Facts()): (S.ABANDONED, {X.FINISH_ATTEMPT, X.CLOSE_PEER, X.FINISHED}, "pause_timeout"),
    (S.PAUSED, E.RESTART, Facts()): (None, set(), None),
    (S.INTERRUPTED, E.CONSENT, Facts()): (None, set(), None),
    (S.INTERRUPTED, E.JOIN, Facts()): (None, set(), None),
    (S.INTERRUPTED, E.OFFER, Facts()): (None, set(), None),
    (S.INTERRUPTED, E.MEDIA_UP, Facts()): (S.LIVE, {X.OPEN_ATTEMPT, X.START_CLOCK, X.SEND_QUESTION}, "media_back"),
    (S.INTERRUPTED, E.MEDIA_LOST, Facts()): (None, set(), None),
    (S.INTERRUPTED, E.PAUSE, Facts()): (S.PAUSED, {X.BEGIN_PAUSE}, "paused_by_interviewer"),
    (S.INTERRUPTED, E.MESSAGE, Facts()): (None, {X.SEND_MESSAGE}, None),
    (S.INTERRUPTED, E.EXTEND, Facts()): (None, {X.ADD_TIME}, None),
    (S.INTERRUPTED, E.SKIP, NOT_LAST): (S.INTERRUPTED, {X.SKIP_ATTEMPT, X.NEXT_QUESTION, X.OPEN_ATTEMPT},
                                        "skipped_by_interviewer"),
    (S.INTERRUPTED, E.SKIP, LAST): (S.COMPLETED, {X.SKIP_ATTEMPT, X.FINISHED}, "skipped_by_interviewer"),
    (S.INTERRUPTED, E.REDO, Facts()): (S.INTERRUPTED, {X.SUPERSEDE_ATTEMPT, X.RESET_CLOCK}, "redo_by_interviewer"),
    (S.INTERRUPTED, E.END, Facts()): (S.COMPLETED, {X.FINISH_ATTEMPT, X.FINISHED}, "ended_by_interviewer"),
    (S.INTERRUPTED, E.ABANDON_TIMEOUT, Facts()): (S.ABANDONED, {X.FINISH_ATTEMPT, X.CLOSE_PEER, X.FINISHED},
                                                  "abandoned"),
    (S.INTERRUPTED, E.RESTART, Facts()): (S.INTERRUPTED, {X.MARK_FAULT}, "server_restarted"),
    (S.ABANDONED, E.REOPEN, Facts()): (S.INTERRUPTED, {X.RECORD_INTERVENTION}, "reopened"),
}
# Guarded refusals: (state, event, facts) -> (code, HTTP status).
REFUSED_BY_GUARD = {
    (S.INVITED, E.OFFER, FULL): ("capacity", 503),
    (S.CONSENTED, E.JOIN, FULL): ("capacity", 503),
    (S.CONSENTED, E.OFFER, FULL): ("capacity", 503),
    (S.ABANDONED, E.REOPEN, Facts(deadline_passed=True)): ("expired", 410),
}
FACT_VARIANTS = [Facts(), LAST, NOT_LAST, FULL, Facts(started=True, media=True), Facts(started=True),
                 Facts(media=True), Facts(deadline_passed=True)]


def _expected(state: State, event: Event, facts: Facts) -> tuple[State | None, set[Effect], str | None] | None:
    """The entry for these facts, or for the plain Facts() when the pair does not depend on them."""
    if (state, event, facts) in EXPECTED:
        return EXPECTED[(state, event, facts)]
    keyed = [k for k in EXPECTED if k[:2] == (state, event)]
    if keyed and all(k[2] == Facts() for k in keyed) and not any(k[:2] == (state, event) for k in REFUSED_BY_GUARD):
        return EXPECTED[(state, event, Facts())]
    return None


@pytest.mark.parametrize("state,event", list(product(State, Event)), ids=lambda v: v.value)
def test_every_state_and_event(state: State, event: Event) -> None:
    for facts in FACT_VARIANTS:
        guarded = REFUSED_BY_GUARD.get((state, event, facts))
        expected = _expected(state, event, facts)
        if guarded is not None:
            with pytest.raises(Refused) as refused:
                handle(state, event, facts)
            assert (refused.value.code, refused.value.status) == guarded
            assert refused.value.reason  # a sentence for the person who asked
        elif expected is None:
            if any(k[:2] == (state, event) for k in EXPECTED):
                continue  # a facts combination the table does not distinguish (checked elsewhere)
            with pytest.raises(Refused) as refused:
                handle(state, event, facts)
            assert refused.value.status == 409 and state.value in refused.value.reason
        else:
            to, effects, code = expected
            step = handle(state, event, facts)
            assert step.to == to, (state, event, facts)
            assert effects <= set(step.effects), (state, event, facts, step.effects)
            assert step.code == code


def test_every_waiting_state_has_a_way_out_that_needs_nobody() -> None:
    for state in State:
        if state in FINISHED:
            continue
        event, setting = EXITS[state]
        assert setting
        target = handle(state, event, Facts(last_question=True, deadline_passed=True)).to
        # The way out leaves the state (or, for the deadline and time limit, ends it).
        assert target != state, state


def test_finished_interviews_stay_finished() -> None:
    for state, event in product(FINISHED, Event):
        if (state, event) == (S.ABANDONED, E.REOPEN):
            continue  # HR's explicit way back, before the deadline
        with pytest.raises(Refused) as refused:
            handle(state, event, Facts())
        assert refused.value.code == "finished"


def test_every_state_is_reachable_from_invited() -> None:
    seen, frontier = {S.INVITED}, [S.INVITED]
    while frontier:
        state = frontier.pop()
        for event, facts in product(Event, FACT_VARIANTS):
            try:
                to = handle(state, event, facts).to
            except Refused:
                continue
            if to is not None and to not in seen:
                seen.add(to)
                frontier.append(to)
    assert seen == set(State)


def test_media_states_and_the_table_agree() -> None:
    # Entering a media-holding state from a non-holding one always takes a slot.
    for state, rules in TABLE.items():
        for event, options in rules.items():
            for rule in options:
                if rule.to in HOLDS_MEDIA and state not in HOLDS_MEDIA and rule.refuse is None:
                    assert Effect.TAKE_SLOT in rule.effects or state == S.ABANDONED, (state, event)
