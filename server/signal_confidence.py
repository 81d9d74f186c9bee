"""An answer's "low confidence" signals, in words, from the frame counts stored with it.

The live session leaves a face signal out of its ratio on frames where a condition makes it
unreliable (poor light, a small face, a turned head: analyzers/conditions.py) and stores the
counts as `frames:low_confidence:<signal>[:<condition>]` and `frames:<signal>_measured`
(server/question_signals.py VisionTally.stats). Here they become, per signal, the share of
frames left out and why, e.g. "Eye contact: low confidence in 40% of frames (poor light)";
when every frame was left out the signal is not assessed, and rules on it are not checked.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzers.conditions import CONDITION_WORDS, CONDITIONS
from server.i18n import N_

# The condition words as message ids, so the pages can translate them (analyzers cannot import
# server.i18n); a test keeps them equal to analyzers.conditions.CONDITION_WORDS.
CONDITION_MESSAGES = (N_("poor light"), N_("face small in the picture"), N_("head turned away"))

# VisionSample field -> (rule signal name, label)
LOW_CONFIDENCE_SIGNALS = (
    ("eye_contact", "eye_contact_ratio", "Eye contact"),
    ("smile", "smile_ratio", "Smiling"),
    ("upright", "upright_ratio", "Upright posture"),
)


def low_confidence(frames: Mapping[str, float]) -> list[dict[str, Any]]:
    """`[{signal, label, frames, share, reasons, assessed, text}]` for each signal left out of
    some frames (`frames`: an answer's frame counts, without the `frames:` prefix); `share` is
    of the frames the signal was measured in, `assessed` False when it was left out of all."""
    out = []
    for field, signal, label in LOW_CONFIDENCE_SIGNALS:
        low = int(frames.get(f"low_confidence:{field}", 0))
        if low <= 0:
            continue
        counted = int(frames.get(f"{field}_measured", 0))
        share = low / (low + counted)
        reasons = [CONDITION_WORDS[c] for c in CONDITIONS if frames.get(f"low_confidence:{field}:{c}", 0) > 0]
        why = ", ".join(reasons) or "unreliable conditions"
        if counted:
            text = f"{label}: low confidence in {share:.0%} of frames ({why}); measured on the other {counted}"
        else:
            text = f"{label}: low confidence in all {low} frames ({why}); not assessed"
        out.append({"signal": signal, "label": label, "frames": low, "share": round(share, 3),
                    "reasons": reasons, "assessed": counted > 0, "text": text})
    return out


def not_assessed(frames: Mapping[str, float]) -> dict[str, str]:
    """Rule signal -> reason, for the signals left out of every frame as low confidence."""
    return {item["signal"]: f"low confidence in every frame ({', '.join(item['reasons'])})"
            for item in low_confidence(frames) if not item["assessed"]}
