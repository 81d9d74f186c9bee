"""bench/live.py's strict verdict and bench/media.py's noise floor, on made-up rows and audio
(the bench itself needs a whole server and minutes; see bench/README.md)."""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pytest

from bench.live import criteria, healthy, questions_needed
from bench.media import NOISE_DBFS, RATE, level_dbfs, room_noise, utterances, with_noise


def args(**kw: Any) -> argparse.Namespace:
    base = dict(no_analysis=False, fps=5.0, min_fps=4.0, max_final_p90=2.0, question_s=45.0, warmup=15.0,
                window=30.0)
    return argparse.Namespace(**{**base, **kw})


def good_row(n: int = 4) -> dict[str, Any]:
    return {"n": n, "missing": 0, "fps_a": [4.8] * n, "fps_r": [15.0] * n, "audio": [1.0] * n,
            "behind_end": [0.2] * n, "lag_end": [0.4] * n, "lag_growth": [0.1] * n,
            "final_lags": [1.1, 1.2, 1.3, 1.5, 1.9], "loss": [0.0] * n, "lost_packets": [0] * n,
            "left_live": 0, "live_states": n}


def test_a_row_is_ok_only_when_every_criterion_holds() -> None:
    assert criteria(good_row(), args()) == [] and healthy(good_row(), args()) == (True, "ok")
    breaks = {
        "fps": {"fps_a": [4.8, 4.8, 4.8, 3.9]},
        "audio": {"audio": [1.0, 0.9, 1.0, 1.0]},
        "ASR lag": {"lag_growth": [0.1, 1.5, 0.1, 0.1]},
        "final lag": {"final_lags": [1.0] * 8 + [2.5, 10.9]},
        "packet loss": {"lost_packets": [0, 0, 3, 0], "loss": [0, 0, 0.001, 0]},
        "live": {"left_live": 1, "state_changes": [(3.0, 7, "interrupted", "media lost")]},
        "health": {"missing": 1},
    }
    for name, change in breaks.items():
        why = criteria({**good_row(), **change}, args())
        assert len(why) == 1 and why[0].startswith(name), (name, why)
    # several at once: each is named
    row = {**good_row(), "fps_a": [3.0] * 4, "final_lags": [10.9] * 5, "live_states": 2}
    assert [w.split(":")[0] for w in criteria(row, args())] == ["fps", "final lag", "live"]


def test_no_final_transcript_is_not_ok() -> None:
    assert criteria({**good_row(), "final_lags": []}, args()) == ["final lag: no final transcript in the window"]


def test_enough_questions_for_the_run() -> None:
    a = args(question_s=45.0, warmup=30.0, window=600.0)
    k = questions_needed(a, 8)
    assert (k - 1) * 45.0 > 30.0 + 600.0 + 60  # the last `next` of the run is not the last question
    assert questions_needed(args(question_s=0.0), 8) == 1


def test_room_noise_level_and_speech_sidecar() -> None:
    noise = room_noise(RATE * 40).astype(np.int16)
    frames = noise[: len(noise) // 480 * 480].reshape(-1, 480).astype(np.float64)
    db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) / 32768)
    assert NOISE_DBFS[0] - 3 <= np.percentile(db, 5) and np.percentile(db, 95) <= NOISE_DBFS[1] + 3
    assert level_dbfs(room_noise(RATE * 5, -60.0, -60.0).astype(np.int16)) == pytest.approx(-60.0, abs=0.5)
    # a tone burst in noise: the sidecar (found on the clean signal) has exactly it
    clean = np.zeros(RATE * 4, np.int16)
    t = np.arange(RATE) / RATE
    clean[RATE:2 * RATE] = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    noisy = with_noise(clean)
    assert utterances(clean) == [(1.0, 2.0)]
    gap = np.concatenate([noisy[:RATE], noisy[2 * RATE:]])
    assert NOISE_DBFS[0] - 1 <= level_dbfs(gap) <= NOISE_DBFS[1] + 1  # never digital silence
