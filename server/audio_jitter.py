"""The candidate's audio packets put back in order for speech recognition, without delay.

aiortc's audio jitter buffer is made for playout, and it costs a recogniser dearly
(aiortc/aiortc#543, measured in bench/results/jitter.txt):

- it holds 4 packets (80 ms) before it releases one, on every packet, though nothing here plays
  the audio out;
- it releases at most one frame per packet received, so after one lost packet it stays ~14
  packets (280 ms) behind for the rest of the call, and it throws away received packets to
  make room.

Here every packet that arrives in order goes on at once. A packet that arrives early (one
before it is missing) waits until the missing one comes or until a packet :data:`HOLD` places
after the missing one has arrived; then that one is given up and everything waiting goes on
together. The audio pump fills a gap with silence from the RTP timestamps (server/media.py), so
the interview clock stays right. The first packet of a stream (or of a sender's new run) waits
the same way, as if the places before it were a gap: a packet sent before it may still arrive
after it, and once one has gone to the decoder an older one cannot follow. Only a packet that
comes after its place was given up, a duplicate, or a stray packet from far back is dropped.

Installed per audio receiver by :func:`install_reorder_buffer`. It replaces the receiver's
buffer and hands frames to the receiver's decoder itself, because aiortc's receiver takes one
frame per packet; aiortc is pinned to the exact version this is written against
(tests/test_audio_jitter.py checks the receiver still has those parts).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

logger = logging.getLogger(__name__)

# A missing packet is given up once one this many places after it has arrived: with 20 ms
# Opus packets one may come 2 places (40 ms) late and still be used, and on a steady line a
# packet waits behind a gap for at most 40 ms.
HOLD = 3
# Packets further ahead than this (1.3 s of 20 ms packets) are a jump in the sender's sequence
# numbers, not a gap to wait for; further behind than MAX_MISORDER, a restarted sequence.
CAPACITY = 64
MAX_MISORDER = 100

_RECEIVER = "_RTCRtpReceiver__"
_PARTS = ("jitter_buffer", "decoder_queue", "decoder_thread", "timestamp_mapper", "codecs")


@dataclass(slots=True)
class ReorderCounts:
    released: int = 0
    skipped: int = 0  # missing packets given up (the audio pump fills their time with silence)
    waited: int = 0  # packets that arrived with an earlier one missing, and waited
    dropped: int = 0  # duplicates and packets that came after their gap was given up


def _distance(seq: int, origin: int) -> int:
    """How far `seq` is ahead of `origin` (negative: behind), across the 16-bit wrap."""
    d = (seq - origin) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


class ReorderBuffer:
    """RTP packets of one audio stream in, the same packets out in sequence order."""

    def __init__(self, hold: int = HOLD, capacity: int = CAPACITY) -> None:
        self.hold = hold
        self.capacity = capacity
        self.counts = ReorderCounts()
        self._next: int | None = None  # the sequence number released next
        # Until a run's first packet goes on, the places before it are given up like a gap
        # but not counted as lost, and its own wait is not counted as one behind a gap.
        self._lead_in = False
        self._waiting: dict[int, RtpPacket] = {}
        # After a packet far behind: the number that would show the sender started over.
        self._restart_at: int | None = None

    def add(self, packet: RtpPacket) -> list[RtpPacket]:
        seq = packet.sequence_number
        if self._next is None:
            self._begin_run(seq)
        assert self._next is not None
        ahead = _distance(seq, self._next)
        if ahead >= self.capacity or (ahead < -MAX_MISORDER and seq == self._restart_at):
            # The sequence jumped: ahead after an outage, or behind when the sender started
            # over (two packets in a row say so). What waits goes on; the new run starts here.
            out = self._flush()
            self._begin_run(seq)
            return out + self._take(packet)
        if ahead < 0 or seq in self._waiting:
            # Late (its place was given up), a duplicate, or far behind. One stray old packet
            # must not go on: its older timestamp would read as a wrap to aiortc's timestamp
            # mapper and move every later frame's time.
            self._restart_at = (seq + 1) & 0xFFFF if ahead < -MAX_MISORDER else None
            self.counts.dropped += 1
            return []
        self._restart_at = None
        return self._take(packet)

    def _begin_run(self, seq: int) -> None:
        self._next = (seq - self.hold + 1) & 0xFFFF
        self._lead_in = True
        self._restart_at = None

    def _take(self, packet: RtpPacket) -> list[RtpPacket]:
        assert self._next is not None
        if packet.sequence_number != self._next and not self._lead_in:
            self.counts.waited += 1
        self._waiting[packet.sequence_number] = packet
        out = self._advance(0)
        if self._waiting:
            newest = max(_distance(s, self._next) for s in self._waiting)
            if newest >= self.hold:
                # Places more than hold - 1 behind the newest packet are given up; a packet
                # may still come that many places late.
                out += self._advance(newest - self.hold + 1)
        return out

    def _advance(self, places: int) -> list[RtpPacket]:
        """Move `places` sequence numbers on (what waits there goes on, what is missing is
        given up), then on through every packet that is next in line."""
        assert self._next is not None
        out = []
        for _ in range(places):
            ready = self._waiting.pop(self._next, None)
            if ready is not None:
                out.append(ready)
                self._lead_in = False  # something went on: any gap after it is real
            elif not self._lead_in:
                self.counts.skipped += 1
            self._next = (self._next + 1) & 0xFFFF
        while self._next in self._waiting:
            out.append(self._waiting.pop(self._next))
            self._next = (self._next + 1) & 0xFFFF
            self._lead_in = False
        self.counts.released += len(out)
        return out

    def _flush(self) -> list[RtpPacket]:
        if not self._waiting or self._next is None:
            return []
        nxt = self._next
        return self._advance(max(_distance(s, nxt) for s in self._waiting) + 1)


class _ReceiverBuffer:
    """In the receiver's place for its jitter buffer: frames go to the decoder from here, every
    one that is ready, and the receiver is told there is none (it would take only one)."""

    def __init__(self, buffer: ReorderBuffer, deliver: Callable[[RtpPacket], None]) -> None:
        self.buffer = buffer
        self._deliver = deliver

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        for ready in self.buffer.add(packet):
            self._deliver(ready)
        return False, None


def install_reorder_buffer(receiver: Any) -> ReorderBuffer | None:
    """Give an audio receiver a ReorderBuffer. None (and aiortc's own buffer kept) when the
    receiver lacks the parts this needs, i.e. an aiortc other than the pinned one."""
    if not all(hasattr(receiver, _RECEIVER + name) for name in _PARTS):
        logger.warning("aiortc's receiver has changed: keeping its own audio jitter buffer")
        return None
    queue, mapper, codecs = (getattr(receiver, _RECEIVER + name)
                             for name in ("decoder_queue", "timestamp_mapper", "codecs"))

    def deliver(packet: RtpPacket) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None or not getattr(receiver, _RECEIVER + "decoder_thread", None):
            return  # the receiver drops these too: unknown payload, or not decoding yet
        frame = JitterFrame(data=packet._data, timestamp=mapper.map(packet.timestamp))  # type: ignore[attr-defined]
        queue.put((codec, frame))

    buffer = ReorderBuffer()
    setattr(receiver, _RECEIVER + "jitter_buffer", _ReceiverBuffer(buffer, deliver))
    return buffer
