"""Audio that arrives while the speech model is still loading (a candidate reconnecting right after
a server restart) is kept and recognised once the model is ready, in order, on the right clock;
a model that will never come switches speech off and leaves vision on."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from server.peer import PeerLink


class FakeStream:
    def __init__(self, age_s: float) -> None:
        self.age_s = age_s
        self.pushed: list[bytes] = []

    def push(self, pcm: bytes) -> None:
        self.pushed.append(pcm)


def link(make: Any, loading: Any) -> PeerLink:
    return PeerLink(RTCPeerConnection(RTCConfiguration(iceServers=[])), "t", analyse=lambda: True,
                    vision_ready=lambda: True, make_speech=make, speech_loading=loading,
                    process_frame=lambda f: None, on_vision=lambda s, t: None,
                    vision_executor=ThreadPoolExecutor(1), fps=5, on_connected=lambda: None,
                    on_lost=lambda r: None)


async def test_audio_waits_for_a_loading_model() -> None:
    ready = {"model": False}
    made: list[FakeStream] = []

    def make(age_s: float) -> Any:
        if not ready["model"]:
            return None
        made.append(FakeStream(age_s))
        return made[-1]

    peer = link(make, lambda: not ready["model"])
    batches = [bytes([i]) * 6400 for i in range(5)]  # 200 ms each
    started = time.monotonic()
    for batch in batches[:3]:
        peer._on_pcm(batch)
    assert peer.speech is None and not peer.speech_missing
    ready["model"] = True
    for batch in batches[3:]:
        peer._on_pcm(batch)
    assert peer.speech is made[0]
    assert made[0].pushed == batches  # nothing lost, in order
    # The stream's clock starts at the first kept sample (0.2 s before the first batch arrived).
    assert 0.2 <= made[0].age_s <= time.monotonic() - started + 0.2 + 0.05
    await peer.pc.close()


async def test_no_model_ever_switches_speech_off_only() -> None:
    peer = link(lambda age_s: None, lambda: False)
    peer._on_pcm(b"\0" * 6400)
    assert peer.speech_missing and peer.speech is None and peer.vision_ready()
    await peer.pc.close()
