"""server/validity_stats.py: correlations recovered with intervals that cover the truth as often
as they claim, Spearman with ties, "not enough data" below MIN_N, hit rates, Welch differences."""
from __future__ import annotations

import math

import numpy as np

from server import validity_stats as vs


def sample(rng: np.random.Generator, n: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """n pairs from a bivariate normal with correlation r, on a 0-100-ish scale."""
    x = rng.standard_normal(n)
    y = r * x + math.sqrt(1 - r * r) * rng.standard_normal(n)
    return 60 + 12 * x, 70 + 10 * y


def test_a_known_correlation_is_recovered_within_its_interval() -> None:
    rng = np.random.default_rng(1)
    x, y = sample(rng, 300, 0.5)
    c = vs.correlation(list(x), list(y))
    assert c.n == 300 and c.r is not None and c.ci is not None
    assert abs(c.r - 0.5) < 0.12 and c.ci[0] < 0.5 < c.ci[1]
    assert c.ci[0] < c.r < c.ci[1] and 0.15 < c.ci[1] - c.ci[0] < 0.25  # ~ ±1.96/sqrt(297) in z
    assert c.predictive is True and c.direction == "positive"
    assert c.spearman is not None and abs(c.spearman - c.r) < 0.06
    assert c.spearman_ci is not None and c.spearman_ci[0] < c.spearman < c.spearman_ci[1]
    # The same against numpy's own Pearson.
    assert abs(c.r - float(np.corrcoef(x, y)[0, 1])) < 1e-9
    # A negative relation is predictive too, and says so.
    neg = vs.correlation(list(x), list(-y))
    assert neg.predictive is True and neg.direction == "negative" and neg.ci is not None and neg.ci[1] < 0
    # Noise: enough data, interval includes 0, no predictive value.
    # (made exactly uncorrelated in the sample: a random one is "significant" 5% of the time)
    e = rng.standard_normal(300)
    e -= (e @ (x - x.mean())) / ((x - x.mean()) @ (x - x.mean())) * (x - x.mean())
    noise = vs.correlation(list(x), list(50 + 10 * e))
    assert noise.predictive is False and noise.direction is None
    assert noise.ci is not None and noise.ci[0] < 0 < noise.ci[1]


def test_the_intervals_cover_the_true_correlation_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    pearson_hits = spearman_hits = 0
    # Spearman's population rho for a bivariate normal with Pearson r: (6/pi) asin(r/2).
    true_rho = 6 / math.pi * math.asin(0.25)
    trials = 200
    for _ in range(trials):
        x, y = sample(rng, 300, 0.5)
        c = vs.correlation(list(x), list(y))
        assert c.ci is not None and c.spearman_ci is not None
        pearson_hits += c.ci[0] <= 0.5 <= c.ci[1]
        spearman_hits += c.spearman_ci[0] <= true_rho <= c.spearman_ci[1]
    assert pearson_hits / trials >= 0.90, pearson_hits
    assert spearman_hits / trials >= 0.90, spearman_hits
    # And not trivially: the intervals are not so wide that they always cover.
    assert pearson_hits / trials <= 0.995


def test_the_bootstrap_interval_is_reproducible_and_close_to_fishers() -> None:
    rng = np.random.default_rng(3)
    x, y = sample(rng, 200, 0.4)
    first = vs.bootstrap_ci(vs.pearson, x, y, rounds=1000)
    again = vs.bootstrap_ci(vs.pearson, x, y, rounds=1000)
    assert first is not None and first == again  # fixed seed
    fisher = vs.fisher_ci(float(np.corrcoef(x, y)[0, 1]), 200)
    assert fisher is not None
    assert abs(first[0] - fisher[0]) < 0.06 and abs(first[1] - fisher[1]) < 0.06
    assert vs.bootstrap_ci(vs.pearson, x[:2], y[:2]) is None


def test_spearman_uses_average_ranks_for_ties() -> None:
    ranks = vs.average_ranks(np.array([10.0, 20.0, 20.0, 30.0, 20.0]))
    assert list(ranks) == [1.0, 3.0, 3.0, 5.0, 3.0]
    x = np.array([1, 2, 2, 3, 4, 4, 4, 5], dtype=float)
    y = np.array([2, 1, 3, 3, 5, 4, 6, 6], dtype=float)
    # The textbook value: Pearson of the average ranks.
    rx = np.array([1, 2.5, 2.5, 4, 6, 6, 6, 8])
    ry = np.array([2, 1, 3.5, 3.5, 6, 5, 7.5, 7.5])
    expected = float(np.corrcoef(rx, ry)[0, 1])
    rho = vs.spearman(x, y)
    assert rho is not None and abs(rho - expected) < 1e-12
    # A monotone but non-linear relation: rho 1, r below 1.
    a = np.arange(1, 40, dtype=float)
    assert vs.spearman(a, a ** 3) == 1.0 and (vs.pearson(a, a ** 3) or 1) < 0.95
    # A constant variable has no correlation at all.
    assert vs.pearson(a, np.ones_like(a)) is None and vs.correlation(list(a), [5.0] * len(a)).predictive is None


def test_below_min_n_the_verdict_is_not_enough_data() -> None:
    rng = np.random.default_rng(11)
    x, y = sample(rng, 15, 0.9)
    c = vs.correlation(list(x), list(y))
    assert c.n == 15 and c.r is not None and c.r > 0.5  # reported, with its n and interval...
    assert c.ci is not None and c.predictive is None and c.direction is None  # ...but no verdict
    # Missing values are left out pairwise: 40 people, 12 without a rating -> n 28 < 30.
    x, y = sample(rng, 40, 0.9)
    ratings: list[float | None] = [*map(float, y[:28]), *([None] * 12)]
    c = vs.correlation(list(map(float, x)), ratings)
    assert c.n == 28 and c.predictive is None
    assert vs.correlation(list(map(float, x)), list(map(float, y))).predictive is True
    json = c.to_json()
    assert json["n"] == 28 and json["predictive"] is None and len(json["ci"]) == 2  # type: ignore[arg-type]


def test_hit_rates_with_wilson_intervals() -> None:
    scores = [95, 92, 91, 90, 88, 85, 70, 65, 60, 50, None]
    ratings = [80, 75, 90, 60, 72, 40, 80, 50, 30, 20, 99]
    h = vs.hit_rate(scores, ratings, 90, bar=70)
    assert (h.n, h.met) == (4, 3) and h.rate == 0.75
    assert h.ci is not None and h.ci[0] < 0.75 < h.ci[1]
    # Wilson's interval for 3 of 4 (a known value): 0.3006 to 0.9544.
    assert abs(h.ci[0] - 0.3006) < 1e-3 and abs(h.ci[1] - 0.9544) < 1e-3
    nobody = vs.hit_rate(scores, ratings, 99, bar=70)
    assert nobody.n == 0 and nobody.rate is None and nobody.ci is None
    lo, hi = vs.wilson(0, 20) or (None, None)
    assert lo == 0.0 and hi is not None and 0.1 < hi < 0.2


def test_welch_difference_of_means() -> None:
    rng = np.random.default_rng(5)
    a, b = list(rng.normal(60, 10, 40)), list(rng.normal(50, 20, 200))
    d = vs.mean_difference(a, b)
    assert d.difference is not None and d.ci is not None and d.ci[0] < 10 < d.ci[1] and d.ci[0] > 0
    same = vs.mean_difference(list(rng.normal(50, 10, 50)), list(rng.normal(50, 10, 50)))
    assert same.ci is not None and same.ci[0] < 0 < same.ci[1]
    assert vs.mean_difference([1.0], [2.0, 3.0]).ci is None
    # The t quantile the interval uses is close to the exact one.
    for df, exact in ((4, 2.7764), (10, 2.2281), (30, 2.0423), (1000, 1.9623)):
        assert abs(vs.t_quantile(0.975, df) - exact) < 2e-3
