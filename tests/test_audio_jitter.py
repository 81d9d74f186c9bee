"""The audio reorder buffer: in-order packets go on at once, gaps are waited for briefly then
given up, nothing received in time is dropped, and it stays in step after loss (unlike aiortc's
own buffer, aiortc/aiortc#543). Then the same on a real aiortc connection with packets lost and
reordered on their way in."""
from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from live_client import PcmTrack

from server.audio_jitter import HOLD, ReorderBuffer, ReorderCounts, install_reorder_buffer

FRAME = 960  # RTP ticks of a 20 ms Opus packet


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq & 0xFFFF, timestamp=(seq * FRAME) & 0xFFFFFFFF)
    p._data = seq.to_bytes(4, "big", signed=True)  # type: ignore[attr-defined]
    return p


def feed(buffer: ReorderBuffer, seqs: list[int]) -> list[list[int]]:
    """What each arrival released (as the sequence numbers put in)."""
    return [[int.from_bytes(p._data, "big", signed=True) for p in buffer.add(packet(s))]  # type: ignore[attr-defined]
            for s in seqs]


def running() -> ReorderBuffer:
    """A buffer past its stream's start, with packets up to -1 gone to the decoder."""
    buffer = ReorderBuffer()
    feed(buffer, list(range(-10, 0)))
    buffer.counts = ReorderCounts()
    return buffer


def test_packets_in_order_go_on_as_they_arrive() -> None:
    assert feed(running(), list(range(10))) == [[i] for i in range(10)]


def test_a_streams_first_packet_waits_like_one_after_a_gap() -> None:
    """The first packet to arrive need not be the first sent: one sent before it may come up
    to HOLD - 1 places late and is still used, because nothing has gone to the decoder yet."""
    buffer = ReorderBuffer()
    assert feed(buffer, [1, 2, 0, 3, 4]) == [[], [], [0, 1, 2], [3], [4]]
    assert buffer.counts.dropped == 0 and buffer.counts.skipped == 0
    # Packets in order from the start: the first waits HOLD - 1 packet times, then none do.
    assert feed(ReorderBuffer(), list(range(6))) == [[]] * (HOLD - 1) + [list(range(HOLD))] + [[3], [4], [5]]
    # The places before the first packet are not counted as lost; a real gap after it is.
    buffer = ReorderBuffer()
    assert feed(buffer, [0, 2, 3, 4]) == [[], [0], [], [2, 3, 4]]
    assert buffer.counts.skipped == 1
    # A longer hold: 0 arrives after 2, so 1 is a real gap, counted once 0 has gone on.
    buffer = ReorderBuffer(hold=4)
    feed(buffer, [2, 0, 5])
    assert buffer.counts.skipped == 1
    # The start's own wait is not a packet waiting behind a gap.
    buffer = ReorderBuffer()
    feed(buffer, list(range(6)))
    assert buffer.counts.waited == 0


def test_a_swapped_pair_comes_out_in_order_and_whole() -> None:
    buffer = running()
    assert feed(buffer, [0, 1, 3, 2, 4]) == [[0], [1], [], [2, 3], [4]]
    assert buffer.counts.dropped == 0 and buffer.counts.skipped == 0 and buffer.counts.waited == 1


def test_a_lost_packet_is_waited_for_then_given_up_and_the_buffer_stays_in_step() -> None:
    buffer = running()
    out = feed(buffer, [0, 1, *range(3, 12)])  # 2 never comes
    assert out[:2] == [[0], [1]]
    # 3 and 4 wait; once HOLD packets past the gap are in, all of them go on together...
    assert out[2:2 + HOLD - 1] == [[]] * (HOLD - 1)
    assert out[2 + HOLD - 1] == list(range(3, 3 + HOLD))
    # ...and from then on every packet goes on as it arrives: no backlog is left behind.
    assert out[2 + HOLD:] == [[s] for s in range(3 + HOLD, 12)]
    assert buffer.counts.skipped == 1 and buffer.counts.dropped == 0
    # The lost packet turning up after all is too late (its gap is filled): dropped, counted.
    assert feed(buffer, [2, 12]) == [[], [12]]
    assert buffer.counts.dropped == 1


def test_after_two_losses_a_packet_one_place_late_is_still_used() -> None:
    buffer = running()
    # 2 and 3 lost, 4 and 5 swapped: 4 comes one place late and is used, only 2 is given up
    # when 5 arrives, 3 when 6 does.
    assert feed(buffer, [0, 1, 5, 4, 6]) == [[0], [1], [], [], [4, 5, 6]]
    assert buffer.counts.skipped == 2 and buffer.counts.dropped == 0


def test_a_stray_packet_from_far_back_is_dropped_and_keeps_the_clock() -> None:
    """aiortc's timestamp mapper reads an older timestamp as a 32-bit wrap: one stray packet
    let through would move every later frame's time by 2^32 ticks."""
    from aiortc.rtcrtpreceiver import TimestampMapper

    buffer, mapper = ReorderBuffer(), TimestampMapper()
    out = [p for s in [*range(300), 150, *range(300, 305)] for p in buffer.add(packet(s))]
    times = [mapper.map(p.timestamp) for p in out]
    assert times == [s * FRAME for s in range(305)]
    assert buffer.counts.dropped == 1


def test_a_sender_that_starts_over_further_back_is_followed() -> None:
    buffer = ReorderBuffer()
    out = feed(buffer, [*range(1000, 1010), 5, 6, 7, 8])
    # The second packet in line confirms the new sequence, which starts like a new stream.
    assert out[-4:] == [[], [], [], [6, 7, 8]]


def test_duplicates_are_dropped() -> None:
    buffer = running()
    assert feed(buffer, [0, 1, 1, 3, 3, 2]) == [[0], [1], [], [], [], [2, 3]]
    assert buffer.counts.dropped == 2


def test_sequence_numbers_wrap() -> None:
    start = 0xFFFF - 2
    seqs = [start + i for i in range(6)]
    seqs[3], seqs[4] = seqs[4], seqs[3]  # reordered across the wrap
    assert [s for batch in feed(ReorderBuffer(), seqs) for s in batch] == list(range(start, start + 6))


def test_a_jump_in_the_senders_sequence_starts_over() -> None:
    buffer = running()
    out = feed(buffer, [0, 2, 5000, 5001, 5002])
    assert out == [[0], [], [2], [], [5000, 5001, 5002]]
    assert buffer.counts.dropped == 0 and buffer.counts.skipped == 1


def released_in_order(buffer: Any, arrivals: list[int]) -> tuple[list[int], list[int]]:
    """Feed (seq) arrivals, one every 20 ms; return the released sequence numbers and how many
    packets each one waited (its delay in packet times)."""
    released, waited = [], []
    arrived_at: dict[int, int] = {}
    for i, s in enumerate(arrivals):
        arrived_at[s] = i
        got = buffer.add(packet(s))
        frames = got if isinstance(got, list) else [got[1]] if got[1] is not None else []
        for f in frames:
            seq = int.from_bytes(f._data if hasattr(f, "_data") else f.data, "big", signed=True)
            released.append(seq)
            waited.append(i - arrived_at[seq])
    return released, waited


def flaky_arrivals(n: int, loss: float, swap: float, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    seqs = [s for s in range(n) if rng.random() >= loss]
    for i in range(len(seqs) - 1):
        if rng.random() < swap:
            seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
    return seqs


def test_on_a_flaky_line_nothing_received_is_lost_and_nothing_waits_long() -> None:
    arrivals = flaky_arrivals(3000, loss=0.02, swap=0.05)
    buffer = ReorderBuffer()
    released, waited = released_in_order(buffer, arrivals)
    # Every packet is used but those still waiting for the last gap, in sequence order.
    assert released == sorted(released) and len(set(released)) == len(released)
    assert len(released) >= len(arrivals) - HOLD and buffer.counts.dropped == 0
    # A packet waits only while a gap before it is open: at most HOLD packet times.
    assert max(waited) <= HOLD and np.mean(waited) < 0.2
    # aiortc's own buffer on the same line: ~14 packets behind and a share of them thrown away.
    theirs, their_wait = released_in_order(JitterBuffer(capacity=16, prefetch=4), arrivals)
    assert np.median(their_wait) >= 4 and len(theirs) < len(released)


async def test_a_real_connection_with_loss_and_reordering_delivers_every_packet_in_order() -> None:
    """Real Opus over a real aiortc connection on loopback: the server side's receiver gets the
    reorder buffer; packets are lost (every 25th) and swapped in pairs (every 10th) on the way
    in. Every frame that arrived comes out decoded, in order, each gap exactly one frame."""
    from server.peer import restrict_host_addresses

    restrict_host_addresses(("127.0.0.1",))
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tone = (np.sin(np.arange(48000 * 5) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    sender.addTrack(PcmTrack(tone, 48000))
    got: asyncio.Queue[Any] = asyncio.Queue()
    installed: list[ReorderBuffer] = []
    sent = {"dropped": 0, "swapped": 0}
    readers: list[asyncio.Task[None]] = []

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        receiver = next(r for r in receiver_pc.getReceivers() if r.track is track)
        buffer = install_reorder_buffer(receiver)
        assert buffer is not None, "the pinned aiortc's receiver must take the reorder buffer"
        installed.append(buffer)
        original = receiver._handle_rtp_packet
        held: list[Any] = []

        async def lossy(p: RtpPacket, arrival_time_ms: int) -> None:
            if p.sequence_number % 25 == 7:
                sent["dropped"] += 1
                return
            if p.sequence_number % 10 == 3 and not held:
                held.append(p)  # comes in after the next one
                sent["swapped"] += 1
                return
            await original(p, arrival_time_ms)
            while held:
                await original(held.pop(), arrival_time_ms)

        receiver._handle_rtp_packet = lossy

        async def read() -> None:
            while True:
                try:
                    await got.put(await track.recv())
                except Exception:
                    return

        readers.append(asyncio.create_task(read()))

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver_pc.setRemoteDescription(sender.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender.setRemoteDescription(receiver_pc.localDescription)
        frames = []
        while len(frames) < 150:  # 3 s of 20 ms frames
            frames.append(await asyncio.wait_for(got.get(), 10))
    finally:
        await sender.close()
        await receiver_pc.close()
        for task in readers:
            task.cancel()
    pts = [f.pts for f in frames]
    steps = np.diff(pts) // FRAME
    assert (steps >= 1).all(), "frames come out in order"
    # Every gap is one lost packet (one frame); no swapped packet was lost on the way.
    gaps = int((steps - 1).sum())
    assert sent["dropped"] > 2 and sent["swapped"] > 5
    assert 0 < gaps <= sent["dropped"] and set(steps.tolist()) <= {1, 2}
    assert installed[0].counts.dropped == 0 and installed[0].counts.waited >= sent["swapped"] - 1
