"""Ranking statistics between a proxy's scores and ground truth (the one module every report uses).

Conventions
-----------
* ``truth`` is always higher-is-better (accuracy, GLUE score).
* ``precision_at_k`` and ``best_rank_at_k`` treat ``scores`` as higher-is-better too; a caller with a
  lower-is-better proxy passes ``-scores`` (``correlations(..., higher_is_better=False)`` does this).
* Ties are handled as the expected value under random tie-breaking, so the result never depends on
  input order; without ties it is the usual count / rank.
* ``correlations`` drops pairs where either side is NaN / None / infinite (a failed proxy) and
  reports how many it kept (``n``) and dropped (``dropped``).

``RankingMetric`` (an ``evaluate.Metric`` defined here, so no hub download is needed) offers the same
numbers in the Hugging Face ``evaluate`` convention; it is created on first access because importing
``evaluate`` is slow.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from scipy import stats as _sp

ArrayLike = Sequence[float | None] | np.ndarray

#: top-k sizes reported by ``correlations`` (absolute counts and fractions of the ranked set).
TOP_K: int = 10
TOP_FRAC: float = 0.10


def _as_float(values: ArrayLike) -> np.ndarray:
    """1-D float array with None mapped to NaN."""
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D sequence, got shape {arr.shape}")
    return arr


def clean(scores: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop pairs where either value is NaN/None/inf; returns ``(scores, truth, n_dropped)``."""
    s, t = _as_float(scores), _as_float(truth)
    if s.shape != t.shape:
        raise ValueError(f"scores and truth differ in length: {s.size} vs {t.size}")
    keep = np.isfinite(s) & np.isfinite(t)
    return s[keep], t[keep], int((~keep).sum())


def _corr(fn, scores: ArrayLike, truth: ArrayLike) -> float:
    s, t, _ = clean(scores, truth)
    if s.size < 2 or np.all(s == s[0]) or np.all(t == t[0]):
        return math.nan  # undefined for fewer than 2 points or a constant side
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(s, t)[0])


def spearman(scores: ArrayLike, truth: ArrayLike) -> float:
    """Spearman rank correlation ρ (ties get average ranks); NaN if undefined."""
    return _corr(_sp.spearmanr, scores, truth)


def kendall(scores: ArrayLike, truth: ArrayLike) -> float:
    """Kendall τ-b (tie-corrected); NaN if undefined."""
    return _corr(_sp.kendalltau, scores, truth)


def pearson(scores: ArrayLike, truth: ArrayLike) -> float:
    """Pearson linear correlation r; NaN if undefined."""
    return _corr(_sp.pearsonr, scores, truth)


def resolve_k(k: int | float, n: int) -> int:
    """``k`` as a count: an int is used as is, a float in (0, 1) is a fraction of ``n`` (rounded, ≥ 1)."""
    if isinstance(k, (bool, np.bool_)):
        raise ValueError(f"k must be an int or a fraction, got {k!r}")
    if isinstance(k, (int, np.integer)):
        kk = int(k)
    elif isinstance(k, (float, np.floating)) and 0.0 < k < 1.0:
        kk = max(1, int(round(float(k) * n)))
    else:
        raise ValueError(f"k must be a positive int or a fraction in (0, 1), got {k!r}")
    if kk < 1 or kk > n:
        raise ValueError(f"k={kk} is outside 1..{n} (number of ranked items)")
    return kk


def _topk_membership(values: np.ndarray, k: int) -> np.ndarray:
    """Probability of each item being in the top-k (higher first) under random tie-breaking."""
    order = np.sort(values)[::-1]
    cut = order[k - 1]
    above = values > cut
    tied = values == cut
    member = above.astype(float)
    member[tied] = (k - above.sum()) / tied.sum()
    return member


def precision_at_k(scores: ArrayLike, truth: ArrayLike, k: int | float) -> float:
    """Fraction of the true top-k that is also in the proxy's top-k (both higher-is-better).

    ``k`` is a count or a fraction of the (cleaned) set. With ties at a cut-off the value is the
    expectation under random tie-breaking.
    """
    s, t, _ = clean(scores, truth)
    kk = resolve_k(k, s.size)
    return float(np.dot(_topk_membership(s, kk), _topk_membership(t, kk)) / kk)


def true_ranks(truth: ArrayLike) -> np.ndarray:
    """Competition rank of each item by ``truth`` (1 = best; ties share the best rank)."""
    t = _as_float(truth)
    ascending = np.sort(t)
    return (t.size - np.searchsorted(ascending, t, side="right") + 1).astype(float)


def best_rank_at_k(scores: ArrayLike, truth: ArrayLike, k: int | float) -> float:
    """True rank (1 = best) of the best architecture among the proxy's top-k.

    Ranks are competition ranks on ``truth``. If proxy ties straddle the cut-off, the value is the
    expectation over which tied items enter the top-k (so it may be fractional).
    """
    s, t, _ = clean(scores, truth)
    kk = resolve_k(k, s.size)
    ranks = true_ranks(t)
    cut = np.sort(s)[::-1][kk - 1]
    sure = ranks[s > cut]
    best_sure = sure.min() if sure.size else math.inf
    tied = np.sort(ranks[s == cut])
    r, m = kk - sure.size, tied.size  # r of the m tied items enter the top-k
    if r == m:
        return float(min(best_sure, tied[0]))
    total = math.comb(m, r)
    expected = 0.0
    for j in range(m - r + 1):  # P(best of the chosen r is tied[j]) = C(m-j-1, r-1) / C(m, r)
        expected += math.comb(m - j - 1, r - 1) / total * min(best_sure, tied[j])
    return float(expected)


def correlations(scores: ArrayLike, truth: ArrayLike, higher_is_better: bool = True) -> dict[str, Any]:
    """All ranking statistics of one proxy against one task.

    Keys: ``n`` (pairs kept), ``dropped`` (NaN/None/inf pairs removed), ``spearman``, ``kendall``,
    ``pearson`` (sign-corrected so that positive means "ranks like the truth" when
    ``higher_is_better`` is False), ``precision@10`` (share of the true top-10 in the proxy's
    top-10), ``precision@10%`` (same for the top 10 %), ``best_rank@10`` (true rank of the best of
    the proxy's top-10). A top-k statistic is NaN when k ≥ n, where it says nothing.
    """
    s, t, dropped = clean(scores, truth)
    if not higher_is_better:
        s = -s
    n = int(s.size)
    k_frac = max(1, int(round(TOP_FRAC * n)))
    informative = lambda k: k < n  # noqa: E731 - every item is in a top-n
    return {
        "n": n,
        "dropped": dropped,
        "spearman": spearman(s, t),
        "kendall": kendall(s, t),
        "pearson": pearson(s, t),
        f"precision@{TOP_K}": precision_at_k(s, t, TOP_K) if informative(TOP_K) else math.nan,
        f"precision@{TOP_FRAC:.0%}": precision_at_k(s, t, k_frac) if informative(k_frac) else math.nan,
        f"best_rank@{TOP_K}": best_rank_at_k(s, t, TOP_K) if informative(TOP_K) else math.nan,
    }


STAT_KEYS: tuple[str, ...] = (
    "n", "dropped", "spearman", "kendall", "pearson",
    f"precision@{TOP_K}", f"precision@{TOP_FRAC:.0%}", f"best_rank@{TOP_K}",
)


def _make_ranking_metric():
    import datasets
    import evaluate

    class RankingMetric(evaluate.Metric):
        """swaplm's ranking statistics in the ``evaluate`` convention (works offline).

        >>> m = RankingMetric()
        >>> m.compute(predictions=[1.0, 2.0, 3.0], references=[10.0, 20.0, 30.0])["spearman"]
        1.0
        """

        def _info(self) -> evaluate.MetricInfo:
            return evaluate.MetricInfo(
                description="Ranking agreement of a training-free proxy with ground truth: Spearman, "
                "Kendall tau-b, Pearson, precision@top-k and best-rank@k (swaplm.stats).",
                citation="",
                inputs_description=(
                    "predictions: proxy score per architecture (None/NaN = failed, dropped); "
                    "references: ground truth per architecture (higher is better); "
                    "higher_is_better (bool, default True): direction of the proxy."
                ),
                features=datasets.Features(
                    {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
                ),
                reference_urls=["https://docs.scipy.org/doc/scipy/reference/stats.html"],
            )

        def _compute(self, predictions, references, higher_is_better: bool = True) -> dict[str, Any]:
            return correlations(predictions, references, higher_is_better=higher_is_better)

    RankingMetric.__module__ = __name__
    return RankingMetric


_LAZY: dict[str, Any] = {}


def __getattr__(name: str) -> Any:  # PEP 562: build RankingMetric (imports evaluate) on first use
    if name == "RankingMetric":
        if name not in _LAZY:
            _LAZY[name] = _make_ranking_metric()
        return _LAZY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "spearman", "kendall", "pearson", "precision_at_k", "best_rank_at_k", "true_ranks",
    "correlations", "clean", "resolve_k", "STAT_KEYS", "RankingMetric",
]
