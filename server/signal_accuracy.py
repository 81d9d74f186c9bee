"""How far to trust each video signal: its measured accuracy, in plain words, for reports.

One source of truth: the held-out numbers that ``eval/run_eval.py --write-floors`` records in
``eval/floors.json`` (the same file the evaluation's tests hold the pipeline to), so the report
page, the PDF and the README cannot drift from what was measured. The words per signal say
what the numbers miss (where each signal fails, from ``bench/results/signal-eval.txt``).
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from server.i18n import N_

logger = logging.getLogger(__name__)

FLOORS = Path(__file__).resolve().parents[1] / "eval" / "floors.json"
TARGET = 0.9  # the bar for a signal shown as a fact

# (eval signal, label on the report, what the accuracy does not say: `%(recall)s` is the share
# of frames with the thing present that it found)
SIGNALS = (
    ("face_present", N_("Face in view"),
     N_("a face turned to profile, far from the camera or in very flat light is missed and counted "
        "as not in view")),
    ("second_person", N_("Another face in view"),
     N_("it found %(recall)s of the frames with a second person: a second head turned away, or "
        "narrower than about 40 pixels, is missed, so a low number does not mean nobody else was there")),
    ("eye_contact", N_("Eye contact"),
     N_("the misses are faces too far away to be measured; looking away was tested on only a few "
        "pictures; left out (low confidence) in poor light, on small faces and turned heads")),
    ("smile", N_("Smiling"),
     N_("the misses are faces not found and one blurred picture; left out (low confidence) in poor "
        "light, on small faces and turned heads")),
    ("upright", N_("Upright posture"),
     N_("it often calls a straight posture not upright (a shoulder-tilt error of up to 18 degrees); "
        "treat it as a hint, not a fact")),
)


@lru_cache(maxsize=1)
def _measured() -> dict[str, Any]:
    try:
        return dict(json.loads(FLOORS.read_text()))
    except (OSError, ValueError):
        logger.warning("no signal accuracy table at %s: reports will not state it", FLOORS)
        return {}


def signal_accuracy() -> list[dict[str, Any]]:
    """`[{signal, label, accuracy, frames, recall, caveat, meets_target, text}]` per video signal,
    from the held-out part of the labelled set; empty when the table is missing. `text` is the
    English sentence (API, PDF); pages build it from `label` and `caveat` (message ids, with
    `%(recall)s`) to translate it."""
    data = _measured()
    accuracy = data.get("held_out_accuracy_measured") or {}
    frames = data.get("held_out_frames") or {}
    recall = data.get("held_out_recall") or {}
    out = []
    for signal, label, caveat in SIGNALS:
        if signal not in accuracy:
            continue
        acc = float(accuracy[signal])
        r = recall.get(signal)
        found = "none" if r is None else f"{float(r):.0%}"
        n = int(frames.get(signal, 0))
        out.append({
            "signal": signal, "label": label, "accuracy": acc, "frames": n, "recall": found,
            "caveat": caveat, "meets_target": acc >= TARGET,
            "text": f"{label}: right on {acc:.0%} of {n} test frames; {caveat % {'recall': found}}.",
        })
    return out
