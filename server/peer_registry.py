"""Every RTCPeerConnection this process made, held weakly, so GET /metrics can count the ones
still alive, closed or not. A soak (bench/soak.py) watches this number: connections that are
closed but never freed are the leak it looks for, which a count of the sessions' current
connections would not show."""
from __future__ import annotations

import weakref
from collections import Counter

from aiortc import RTCPeerConnection

_alive: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()


def track(pc: RTCPeerConnection) -> RTCPeerConnection:
    _alive.add(pc)
    return pc


def count_by_state() -> dict[str, int]:
    """connectionState -> connections not yet garbage-collected (a closed one in a reference
    cycle stays until the collector's next full pass)."""
    return dict(Counter(pc.connectionState for pc in list(_alive)))
