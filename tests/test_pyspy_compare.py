"""bench/pyspy_compare.py reads py-spy's raw profiles: shares of the busy samples, each function
counted once per sample, waiting threads left out."""

from __future__ import annotations

from pathlib import Path

from bench.pyspy_compare import load

RAW = """\
main (run.py:1);loop (a.py:5);handle (a.py:9);decode (b.py:3) 30
main (run.py:1);loop (a.py:5);handle (a.py:9);handle (a.py:12) 10
main (run.py:1);worker (c.py:2);query (store.py:7) 10
main (run.py:1);worker (c.py:2);Condition.wait (threading.py:327) 50
not a sample line
"""


def test_shares_are_of_busy_samples_and_count_a_recursive_function_once(tmp_path: Path) -> None:
    path = tmp_path / "raw.txt"
    path.write_text(RAW)
    profile = load(path)
    assert profile.busy == 50  # the 50 waiting samples are not work
    assert profile.share("main") == 100.0
    assert profile.share("handle") == 80.0  # twice on one stack, once in the count
    assert profile.share("decode") == 60.0
    assert profile.share("query") == 20.0
    assert profile.share("Condition.wait") == 0.0
