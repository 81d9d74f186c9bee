"""The vision timeline of one question attempt: ratios per 2 s bucket of the interview clock."""
from __future__ import annotations

from dataclasses import dataclass

from server.question_signals import TIMELINE_MAX_BUCKETS, VisionTally


@dataclass
class Sample:
    faces: int = 1
    eye_contact: bool | None = True
    smile: bool | None = False
    upright: bool | None = True
    motion: float | None = 0.01


def test_timeline_ratios_per_bucket() -> None:
    tally = VisionTally()
    tally.add(Sample(eye_contact=True, smile=None), 10.0)
    tally.add(Sample(eye_contact=False, smile=None, faces=0), 11.9)
    tally.add(Sample(eye_contact=None, smile=True, upright=None), 12.0)  # the next bucket
    tally.add(Sample(eye_contact=None, smile=False, upright=None), 11.5)  # late: counts in the open bucket
    tally.add(Sample(), 17.2)  # buckets without frames are left out
    assert tally.timeline() == [
        {"t": 10, "face": 0.5, "eye": 0.5, "smile": None, "upright": 1.0},
        {"t": 12, "face": 1.0, "eye": None, "smile": 0.5, "upright": None},
        {"t": 16, "face": 1.0, "eye": 1.0, "smile": 0.0, "upright": 1.0},
    ]
    # Reading the timeline does not close the open bucket.
    tally.add(Sample(eye_contact=False), 17.9)
    assert tally.timeline()[-1] == {"t": 16, "face": 1.0, "eye": 0.5, "smile": 0.0, "upright": 1.0}
    # Analyses that are off give None, whatever was counted.
    off = tally.timeline(eye_contact=False, expression=False, posture=False)
    assert all(b["eye"] is None and b["smile"] is None and b["upright"] is None for b in off)
    assert [b["face"] for b in off] == [0.5, 1.0, 1.0]
    # The ratios over the whole attempt are unchanged by the timeline.
    assert tally.signals()["face_present_ratio"] == round(5 / 6, 4)
    assert tally.frames == 6


def test_timeline_without_clock_and_empty() -> None:
    tally = VisionTally()
    assert tally.timeline() == []
    tally.add(Sample())
    assert tally.timeline() == [] and tally.frames == 1


def test_timeline_is_capped() -> None:
    tally = VisionTally()
    for i in range(TIMELINE_MAX_BUCKETS + 50):
        tally.add(Sample(), 2.0 * i + 0.5)
    tl = tally.timeline()
    assert len(tl) == TIMELINE_MAX_BUCKETS
    assert tl[0]["t"] == 0 and tl[-1]["t"] == 2 * (TIMELINE_MAX_BUCKETS - 1)
    assert tally.frames == TIMELINE_MAX_BUCKETS + 50  # the ratios still count every frame
    assert len(tally.buckets) <= TIMELINE_MAX_BUCKETS
