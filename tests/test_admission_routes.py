"""Admission across processes, the parts without a network: which process a full one names
(SessionManager.room_elsewhere) and the CANDOR_ROUTE setting. tests/test_cluster.py runs it for
real, through nginx with two processes."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from server.ownership import HeldElsewhere
from server.sessions import AtCapacity, SessionManager
from server.settings import Settings, SettingsError


def named(loads: list[dict[str, Any]], me: str = "me") -> str | None:
    return SessionManager.room_elsewhere(SimpleNamespace(_loads=loads, process_id=me))  # type: ignore[arg-type]


def load(pid: str, route: str | None, media: int, limit: int = 4, overloaded: bool = False) -> dict[str, Any]:
    return {"process_id": pid, "route": route, "media": media, "max_sessions": limit, "overloaded": overloaded}


def test_the_named_process_with_the_most_free_slots_is_chosen() -> None:
    assert named([]) is None
    assert named([load("me", "w1", 0)]) is None  # never itself
    assert named([load("a", "w2", 3), load("b", "w3", 1)]) == "w3"
    # Full, behind on speech, or without a route (nginx could not send anyone there): not named.
    assert named([load("a", "w2", 4), load("b", "w3", 0, overloaded=True), load("c", None, 0)]) is None
    assert named([load("a", "w2", 5, limit=4), load("b", "w3", 3)]) == "w3"


def test_route_setting_is_checked() -> None:
    assert Settings.from_env({"CANDOR_ROUTE": "w-1_a"}).route == "w-1_a"
    assert Settings.from_env({}).route is None
    for bad in ("w 1", "w1;", "x" * 33, "w/1"):
        with pytest.raises(SettingsError, match="CANDOR_ROUTE"):
            Settings.from_env({"CANDOR_ROUTE": bad})


async def test_a_full_process_leaves_an_interview_with_its_holder_and_names_it() -> None:
    """The candidate reached a full process (nginx's hash) while another process holds the
    interview: it is not taken over (that would hold media beyond CANDOR_MAX_SESSIONS); the 503
    is a capacity refusal naming the holder's route, which the page follows."""
    asked: list[str] = []

    class Link:
        async def request(self, owner: str, message: dict[str, Any], timeout_s: float = 0) -> dict[str, Any]:
            asked.append(owner)
            return {"released": True}

    async def held(interview_id: int) -> Any:
        raise HeldElsewhere("b", "held by b")

    def manager(free: bool) -> Any:
        fake = SimpleNamespace(link=Link(), session_for=held, _loads=[load("b", "w2", 1), load("me", "w1", 1)],
                               slots=SimpleNamespace(room_for=lambda _id: free))
        fake.route_of = lambda pid: SessionManager.route_of(fake, pid)  # type: ignore[arg-type]
        return fake

    with pytest.raises(AtCapacity) as refused:
        await SessionManager.session_for_candidate(manager(free=False), 7)  # type: ignore[arg-type]
    assert refused.value.status == 503 and refused.value.extra == {"route": "w2"} and asked == []
    # With room, the holder is asked to let it go (and here keeps saying it is held elsewhere).
    with pytest.raises(HeldElsewhere):
        await SessionManager.session_for_candidate(manager(free=True), 7)  # type: ignore[arg-type]
    assert asked == ["b"]
