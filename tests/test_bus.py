from __future__ import annotations

import asyncio

from server.bus import Bus


async def test_events_are_numbered_per_interview_and_filtered() -> None:
    bus = Bus()
    only_7 = bus.subscribe(lambda e: e.interview_id == 7)
    everything = bus.subscribe()
    bus.publish("state", 7, state="live", reason="joined")
    bus.publish("state", 8, state="live", reason="joined")
    bus.publish("progress", 7, question_index=0)
    got = [await only_7.get(), await only_7.get()]
    assert [(e.type, e.seq) for e in got] == [("state", 1), ("progress", 2)]
    assert got[0].to_json()["state"] == "live" and got[0].to_json()["interview_id"] == 7
    assert len(everything) == 3


async def test_slow_subscriber_loses_stale_updates_first_then_overflows() -> None:
    bus = Bus()
    slow = bus.subscribe(limit=3)
    bus.publish("transcript", 1, text="a", final=True)
    bus.publish("progress", 1, question_index=0)
    bus.publish("transcript", 1, text="b", final=True)
    bus.publish("progress", 1, question_index=1)  # replaces the older progress
    assert [e.data.get("text") or e.data.get("question_index") for e in list(slow._items)] == ["a", "b", 1]
    assert slow.dropped == 1 and not slow.overflowed
    bus.publish("signals", 1, x=1)  # no older signals queued: the oldest update makes room
    assert [e.type for e in slow._items] == ["transcript", "transcript", "signals"]
    bus.publish("connection", 1, x=2)  # replaces the signals update
    bus.publish("connection", 1, x=3)  # replaces the older connection update
    assert [e.data.get("x") for e in slow._items] == [None, None, 3]
    assert slow.dropped == 4 and not slow.overflowed
    bus.publish("transcript", 1, text="c", final=True)
    bus.publish("transcript", 1, text="d", final=True)
    bus.publish("transcript", 1, text="e", final=True)
    assert slow.overflowed
    # The owner learns it must disconnect, and publishing is never blocked by it.
    drained = []
    while (e := await asyncio.wait_for(slow.get(), 1)) is not None:
        drained.append(e)
    assert drained == []


async def test_reader_wakes_up_on_publish() -> None:
    bus = Bus()
    sub = bus.subscribe()
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.publish("state", 3, state="paused")
    event = await asyncio.wait_for(reader, 1)
    assert event is not None and event.data["state"] == "paused"
    bus.unsubscribe(sub)
    assert sub not in bus.subscriptions
