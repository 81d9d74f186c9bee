"""The statistics behind predictive validity, as pure numpy functions (no scipy).

- `correlation(x, y)`: Pearson r with a 95% interval by Fisher's z (se = 1/sqrt(n-3)), Spearman's
  rho (average ranks for ties) with its interval by Fisher's z with the Bonett-Wright variance
  (1 + rho²/2)/(n-3), and the verdict: below MIN_N pairs `predictive` is None ("not enough
  data"); from MIN_N on it is True when the interval excludes 0 (`direction` says which side)
  and False when it includes 0.
- `bootstrap_ci`: a percentile bootstrap with a fixed seed, so the same data give the same
  interval every time (for statistics without a closed-form interval).
- `hit_rate`: "of hires scoring >= X, Y% met the bar", with a Wilson score interval.
- `mean_difference`: two groups' means and the difference with a Welch interval (profiles of
  top performers and early leavers against the rest).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

MIN_N = 30  # below this many pairs a correlation is "not enough data"
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
BOOTSTRAP_SEED = 20080101  # fixed: a report must not change when it is simply reloaded
BOOTSTRAP_ROUNDS = 2000
_R_LIMIT = 1 - 1e-12  # |r| = 1 has an infinite Fisher z

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Correlation:
    n: int
    r: float | None  # Pearson
    ci: tuple[float, float] | None
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    predictive: bool | None  # None: fewer than MIN_N pairs (or no variation)
    direction: str | None  # positive | negative, when predictive

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "r": _round(self.r), "ci": _pair(self.ci), "spearman": _round(self.spearman),
                "spearman_ci": _pair(self.spearman_ci), "predictive": self.predictive, "direction": self.direction}


@dataclass(frozen=True, slots=True)
class HitRate:
    score_at_least: float
    n: int  # hires scoring at least that
    met: int  # of whom met the bar
    rate: float | None
    ci: tuple[float, float] | None

    def to_json(self) -> dict[str, object]:
        return {"score_at_least": self.score_at_least, "n": self.n, "met": self.met, "rate": _round(self.rate),
                "ci": _pair(self.ci)}


@dataclass(frozen=True, slots=True)
class MeanDifference:
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None  # mean_a - mean_b
    ci: tuple[float, float] | None  # Welch, 95%


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _pair(ci: tuple[float, float] | None, digits: int = 4) -> list[float] | None:
    return None if ci is None else [round(float(ci[0]), digits), round(float(ci[1]), digits)]


def as_pairs(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[Floats, Floats]:
    """The pairs where both values are known."""
    kept = [(a, b) for a, b in zip(x, y, strict=True) if a is not None and b is not None
            and math.isfinite(a) and math.isfinite(b)]
    if not kept:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(kept, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def pearson(x: Floats, y: Floats) -> float | None:
    """None with fewer than 3 pairs or a constant variable (no correlation is defined)."""
    if len(x) < 3:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denominator == 0.0:
        return None
    return max(-1.0, min(1.0, float(dx @ dy) / denominator))


def average_ranks(values: Floats) -> Floats:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            if end - start > 1:
                ranks[order[start:end]] = (start + 1 + end) / 2.0
            start = end
    return ranks


def spearman(x: Floats, y: Floats) -> float | None:
    return pearson(average_ranks(x), average_ranks(y)) if len(x) >= 3 else None


def fisher_ci(r: float, n: int, variance_factor: float = 1.0, z: float = Z95) -> tuple[float, float] | None:
    """The interval for a correlation through Fisher's z: atanh(r) ± z·sqrt(factor/(n-3))."""
    if n <= 3:
        return None
    centre = math.atanh(max(-_R_LIMIT, min(_R_LIMIT, r)))
    half = z * math.sqrt(variance_factor / (n - 3))
    return math.tanh(centre - half), math.tanh(centre + half)


def spearman_fisher_ci(rho: float, n: int) -> tuple[float, float] | None:
    """Bonett & Wright (2000): Fisher's z with variance (1 + rho²/2)/(n-3) for Spearman's rho."""
    return fisher_ci(rho, n, 1.0 + rho * rho / 2.0)


def verdict(ci: tuple[float, float] | None, n: int, min_n: int = MIN_N) -> tuple[bool | None, str | None]:
    """(predictive, direction): None below min_n; True when the interval excludes 0."""
    if n < min_n or ci is None:
        return None, None
    lo, hi = ci
    if lo > 0:
        return True, "positive"
    if hi < 0:
        return True, "negative"
    return False, None


def correlation(x: Sequence[float | None], y: Sequence[float | None], min_n: int = MIN_N) -> Correlation:
    """Pearson and Spearman over the pairs where both are known, with intervals and verdict."""
    a, b = as_pairs(x, y)
    n = len(a)
    r, rho = pearson(a, b), spearman(a, b)
    ci = fisher_ci(r, n) if r is not None else None
    rho_ci = spearman_fisher_ci(rho, n) if rho is not None else None
    predictive, direction = verdict(ci, n, min_n)
    return Correlation(n, r, ci, rho, rho_ci, predictive, direction)


def bootstrap_ci(statistic: Callable[..., float | None], *samples: Floats, rounds: int = BOOTSTRAP_ROUNDS,
                 level: float = 0.95, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap of `statistic(*samples)`, resampling the rows of the (equal-length)
    samples together. Resamples where the statistic is undefined are skipped; None when fewer
    than half of them are usable, or with fewer than 3 rows."""
    n = len(samples[0])
    if n < 3 or any(len(s) != n for s in samples):
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        value = statistic(*(s[idx] for s in samples))
        if value is not None and math.isfinite(value):
            values.append(value)
    if len(values) < rounds // 2:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(np.asarray(values), [tail, 100.0 - tail])
    return float(lo), float(hi)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n trials."""
    if n <= 0:
        return None
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def hit_rate(scores: Sequence[float | None], ratings: Sequence[float | None], score_at_least: float,
             bar: float) -> HitRate:
    """Of the hires scoring >= `score_at_least`, how many have a rating >= `bar`."""
    s, r = as_pairs(scores, ratings)
    chosen = r[s >= score_at_least]
    n, met = int(len(chosen)), int((chosen >= bar).sum())
    return HitRate(score_at_least, n, met, met / n if n else None, wilson(met, n))


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (p > 0.5) by the Cornish-Fisher expansion of the normal's (Abramowitz
    & Stegun 26.7.5); within 0.004 of the exact value from df = 3 on (1e-3 from df = 4)."""
    z = _normal_quantile(p)
    if not math.isfinite(df) or df > 1e7:
        return z
    if df < 3:  # the expansion is poor there: the exact quantile of the whole df below (wider)
        return math.tan(math.pi * (p - 0.5)) if df < 2 else (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z3, z5, z7, z9 = z ** 3, z ** 5, z ** 7, z ** 9
    return (z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df ** 4))


def _normal_quantile(p: float) -> float:
    """Acklam's rational approximation (relative error < 1.2e-9), for 0 < p < 1."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        return ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    if p > 1 - 0.02425:
        return -_normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))


def mean_difference(a: Sequence[float | None], b: Sequence[float | None]) -> MeanDifference:
    """Means of two groups and their difference (a - b) with a 95% Welch interval (None with
    fewer than 2 values in a group)."""
    xa = np.asarray([v for v in a if v is not None], dtype=np.float64)
    xb = np.asarray([v for v in b if v is not None], dtype=np.float64)
    mean_a = float(xa.mean()) if len(xa) else None
    mean_b = float(xb.mean()) if len(xb) else None
    if mean_a is None or mean_b is None:
        return MeanDifference(len(xa), len(xb), mean_a, mean_b, None, None)
    diff = mean_a - mean_b
    if len(xa) < 2 or len(xb) < 2:
        return MeanDifference(len(xa), len(xb), mean_a, mean_b, diff, None)
    va, vb = float(xa.var(ddof=1)) / len(xa), float(xb.var(ddof=1)) / len(xb)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return MeanDifference(len(xa), len(xb), mean_a, mean_b, diff, (diff, diff))
    df = (va + vb) ** 2 / (va * va / (len(xa) - 1) + vb * vb / (len(xb) - 1))
    half = t_quantile(0.975, df) * se
    return MeanDifference(len(xa), len(xb), mean_a, mean_b, diff, (diff - half, diff + half))
