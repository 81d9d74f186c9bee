"""The labelled vision evaluation set (eval/build_set.py) is rebuilt from scratch, offline, and
the real pipeline's held-out accuracy per signal must not drop below eval/floors.json (issue 18).

The floors come from the latest honest run (bench/results/signal-eval.txt: the short- and
full-range face detectors, the option chosen on the tune part only), rounded down a little;
they record what the pipeline does today, not what it should do (see eval/README.md for the
signals that fall short of 90 %).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from eval.build_set import SOURCES, Builder, build, check_sources, expected_sha256
from eval.run_eval import (
    DEFAULT_DETECTORS,
    DETECTOR_OPTIONS,
    SIGNALS,
    Scored,
    accuracy,
    evaluate,
    left_out,
    load_models,
    table,
)

FLOORS = Path(__file__).resolve().parents[1] / "eval" / "floors.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("eval-set")
    return out, build(out)


@pytest.fixture(scope="module")
def held_out(built: tuple[Path, list]) -> list[Scored]:
    return evaluate(built[0], parts=("held_out",))


def test_every_source_is_recorded_and_matches() -> None:
    assert set(expected_sha256()) == set(SOURCES)
    check_sources()  # raises SystemExit on a changed file


def test_set_is_rebuilt_identically(built: tuple[Path, list]) -> None:
    def digest(items: list) -> dict[str, str]:
        return {i.id: hashlib.sha256(b"".join(f.tobytes() for f in i.frames)).hexdigest()
                + i.part + repr(i.labels) for i in items}

    assert digest(Builder().build()) == digest(built[1])


def test_split_is_fixed_and_covers_every_condition(built: tuple[Path, list]) -> None:
    items = built[1]
    assert len({i.id for i in items}) == len(items)
    parts = Counter((i.condition, i.part) for i in items)
    for condition in {i.condition for i in items}:
        assert parts[(condition, "held_out")] >= 1
        assert parts[(condition, "held_out")] >= parts[(condition, "tune")]
        assert parts[(condition, "held_out")] - parts[(condition, "tune")] <= 1
    manifest = json.loads((built[0] / "items.json").read_text())
    assert {e["id"]: e["part"] for e in manifest["items"]} == {i.id: i.part for i in items}


def test_labels_follow_from_how_items_were_made(built: tuple[Path, list]) -> None:
    by_id = {i.id: i for i in built[1]}
    assert all(lb.faces == 0 for i in built[1] if i.condition in ("no_face", "face_lost")
               for lb in i.labels)
    assert all(lb.faces == 2 for i in built[1] if i.condition == "two_faces" for lb in i.labels)
    assert by_id["astronaut-occluded-eyes-dark"].labels[0].eye_contact is None
    assert by_id["grace_hopper-occluded-mouth-skin"].labels[0].smile is None
    assert by_id["astronaut-tilted-r25"].labels[0].upright is False
    assert [lb.faces for lb in by_id["astronaut-clip-leaves"].labels] == [1, 1, 0, 0, 1]


def test_held_out_accuracy_does_not_drop_below_the_floors(held_out: list[Scored]) -> None:
    floors = json.loads(FLOORS.read_text())["held_out_accuracy_floor"]
    assert set(floors) == set(SIGNALS)
    below = {s: (round(accuracy(held_out, s), 3), floor) for s, floor in floors.items()
             if not accuracy(held_out, s) >= floor}
    assert not below, f"held-out accuracy below the floor (measured, floor): {below}\n" + table(
        held_out, "held_out")


def test_accuracy_with_low_confidence_frames_left_out_does_not_drop_below_the_floors(
        held_out: list[Scored]) -> None:
    """The same with the frames the product marks low confidence (analyzers/conditions.py)
    left out, and as many of them left out as recorded: a detector that starts firing on
    everything (or never) fails here even when the accuracy holds."""
    recorded = json.loads(FLOORS.read_text())
    floors = recorded["held_out_confident_accuracy_floor"]
    assert set(floors) == set(SIGNALS)
    below = {s: (round(accuracy(held_out, s, confident=True), 3), floor) for s, floor in floors.items()
             if not accuracy(held_out, s, confident=True) >= floor}
    assert not below, f"held-out accuracy (low confidence left out) below the floor: {below}"
    assert {s: left_out(held_out, s) for s in SIGNALS} == recorded["held_out_low_confidence_frames"]


def test_face_detector_options() -> None:
    """The floors hold for the default detectors (short + full range, chosen on the tune part:
    bench/results/face-detector-tune.txt); an unknown option is refused, not ignored."""
    assert DEFAULT_DETECTORS == "full" and DEFAULT_DETECTORS in DETECTOR_OPTIONS
    face, _pose = load_models()
    assert face.full_range is not None and not face.halves
    face, _pose = load_models("short")
    assert face.full_range is None and not face.halves
    with pytest.raises(ValueError, match="unknown face detectors"):
        load_models("nope")
