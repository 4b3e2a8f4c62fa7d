"""Small statistics for the report: Spearman correlation with a bootstrap interval, pairwise rank agreement, and
percentile bootstrap intervals over puzzles (paired: every arm resampled with the same puzzle indices)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (Pearson correlation of average ranks); NaN with < 3 points or a constant input."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return math.nan
    return float(((rx - rx.mean()) * (ry - ry.mean())).mean() / (sx * sy))


@dataclass(frozen=True)
class Correlation:
    """Spearman rho over n points, with a percentile bootstrap interval (resampling the points)."""

    rho: float
    low: float
    high: float
    n: int
    resamples: int


def spearman_bootstrap(x: Sequence[float], y: Sequence[float], resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> Correlation:
    """Spearman rho of (x, y) and its `level` bootstrap interval; resamples with a constant input are skipped."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rho = spearman(x, y)
    rng = np.random.default_rng(seed)
    draws = [spearman(x[idx], y[idx]) for idx in rng.integers(0, len(x), size=(resamples, len(x)))] if len(x) else []
    draws = np.asarray([d for d in draws if not math.isnan(d)])
    if math.isnan(rho) or draws.size == 0:
        return Correlation(rho, math.nan, math.nan, len(x), resamples)
    alpha = (1 - level) / 2
    return Correlation(rho, float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha)), len(x), resamples)


def pairwise_agreement(score: Sequence[float], truth: Sequence[float]) -> tuple[int, int]:
    """(concordant, comparable) pairs: pairs whose `truth` differs, and those `score` orders the same way."""
    agree = total = 0
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            if truth[i] == truth[j] or math.isnan(truth[i]) or math.isnan(truth[j]):
                continue
            total += 1
            agree += (score[i] - score[j]) * (truth[i] - truth[j]) > 0
    return agree, total


@dataclass(frozen=True)
class Interval:
    """A statistic's value on the data and its percentile bootstrap interval (NaN bounds when not computable)."""

    value: float
    low: float
    high: float
    n: int
    resamples: int


def bootstrap_interval(statistic: Callable[[np.ndarray], np.ndarray], n: int, resamples: int = 2000,
                       level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap over n units (puzzles): `statistic(idx)` maps an index array [R, n] (one resample per
    row) to R values; the value itself is the statistic at the identity index. Paired by construction when the
    statistic indexes several arms (a variant and FP32 on the same puzzles) with the same idx. NaN draws (e.g. a
    ratio over a resample with no solved puzzle) are dropped."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, resamples)
    value = float(statistic(np.arange(n)[None, :])[0])
    rng = np.random.default_rng(seed)
    draws = np.asarray(statistic(rng.integers(0, n, size=(resamples, n))), dtype=np.float64)
    draws = draws[~np.isnan(draws)]
    if math.isnan(value) or draws.size == 0:
        return Interval(value, math.nan, math.nan, n, resamples)
    alpha = (1 - level) / 2
    return Interval(value, float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha)), n, resamples)


def mean_ratio(a: np.ndarray, b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic mean(a) / mean(b) over resampled puzzles (paired; NaN where mean(b) is 0)."""
    def stat(idx: np.ndarray) -> np.ndarray:
        num, den = a[idx].mean(-1), b[idx].mean(-1)
        return np.divide(num, den, out=np.full(num.shape, np.nan), where=den != 0)
    return stat


def mean_difference(a: np.ndarray, b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic mean(a) - mean(b) over resampled puzzles (paired)."""
    return lambda idx: a[idx].mean(-1) - b[idx].mean(-1)
