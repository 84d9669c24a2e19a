"""Ranking statistics between a proxy's scores and ground truth (the one module every report uses).

Conventions
-----------
* ``truth`` is always higher-is-better (accuracy, GLUE score).
* ``precision_at_k`` and ``best_rank_at_k`` treat ``scores`` as higher-is-better too; a caller with a
  lower-is-better proxy passes ``-scores`` (``correlations(..., higher_is_better=False)`` does this).
* Ties are handled as the expected value under random tie-breaking, so the result never depends on
  input order; without ties it is the usual count / rank.
* ``correlations`` ranks a proxy value that is not finite (None, NaN, ±inf: a failed proxy) as the
  **worst** architecture (all such values tie), so every proxy is compared on the same architectures;
  ``non_finite`` counts them. Pairs whose *truth* is missing are dropped (``dropped``); ``n`` is the number
  of architectures ranked. Pearson r is linear in the values, so it uses the finite pairs only.
  The low-level ``spearman`` / ``kendall`` / ``pearson`` / ``precision_at_k`` / ``best_rank_at_k`` drop
  non-finite pairs (``clean``).
* ``bootstrap_ci`` gives percentile bootstrap intervals (architectures resampled with replacement, seeded:
  the same inputs always give the same interval); ``within_strata`` the mean Spearman ρ inside groups of
  architectures (e.g. equal depth and width), with a bootstrap that resamples inside each group.

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


def worst_ranked(scores: ArrayLike, truth: ArrayLike, higher_is_better: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Orient and complete a proxy for ranking: ``(ranks, truth, finite, dropped)``.

    Pairs with a non-finite truth are removed (``dropped`` counts them). Scores are negated when
    ``higher_is_better`` is False and replaced by their average ranks among the finite scores (1 = lowest;
    equal scores share a rank); every non-finite score (None, NaN, ±inf: a failed proxy) gets rank 0, strictly
    below every finite one, so it ranks as the worst architecture (all of them tie there). No arithmetic is
    done on the values, so the order holds at any magnitude. ``finite`` marks the scores that were finite.
    The ranks serve every order statistic (Spearman, Kendall, top-k); Pearson needs the values themselves.
    """
    s, t, dropped = _oriented(scores, truth, higher_is_better)
    finite = np.isfinite(s)
    ranks = np.zeros(s.size)
    if finite.any():
        ranks[finite] = _sp.rankdata(s[finite])
    return ranks, t, finite, dropped


def _oriented(scores: ArrayLike, truth: ArrayLike, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """``(scores, truth, dropped)``: the pairs with a finite truth, scores negated when lower is better."""
    s, t = _as_float(scores), _as_float(truth)
    if s.shape != t.shape:
        raise ValueError(f"scores and truth differ in length: {s.size} vs {t.size}")
    keep = np.isfinite(t)
    s, t = s[keep], t[keep]
    return (s if higher_is_better else -s), t, int((~keep).sum())


def correlations(scores: ArrayLike, truth: ArrayLike, higher_is_better: bool = True, *,
                 intervals: bool = False, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """All ranking statistics of one proxy against one task.

    Keys: ``n`` (architectures ranked: those with a finite truth), ``non_finite`` (proxy values that were
    None/NaN/±inf, ranked as the worst), ``dropped`` (pairs without a finite truth, removed), ``spearman``,
    ``kendall``, ``pearson`` (sign-corrected so that positive means "ranks like the truth" when
    ``higher_is_better`` is False; Pearson on the finite pairs only), ``precision@10`` (share of the true
    top-10 in the proxy's top-10), ``precision@10%`` (same for the top 10 %), ``best_rank@10`` (true rank of
    the best of the proxy's top-10). A top-k statistic is NaN when k ≥ n, where it says nothing.

    ``intervals=True`` adds ``spearman_ci``, ``kendall_ci``, ``pearson_ci``: 95 % percentile bootstrap
    intervals ``[low, high]`` over ``n_boot`` resamples of the architectures (seeded by ``seed``).
    """
    values = _oriented(scores, truth, higher_is_better)[0]
    s, t, finite, dropped = worst_ranked(scores, truth, higher_is_better)
    n = int(s.size)
    k_frac = max(1, int(round(TOP_FRAC * n)))
    informative = lambda k: k < n  # noqa: E731 - every item is in a top-n
    out = {
        "n": n,
        "non_finite": int((~finite).sum()),
        "dropped": dropped,
        "spearman": spearman(s, t),
        "kendall": kendall(s, t),
        "pearson": pearson(values[finite], t[finite]),
        f"precision@{TOP_K}": precision_at_k(s, t, TOP_K) if informative(TOP_K) else math.nan,
        f"precision@{TOP_FRAC:.0%}": precision_at_k(s, t, k_frac) if informative(k_frac) else math.nan,
        f"best_rank@{TOP_K}": best_rank_at_k(s, t, TOP_K) if informative(TOP_K) else math.nan,
    }
    if intervals:
        for stat in ("spearman", "kendall"):
            out[f"{stat}_ci"] = _bootstrap(s, t, stat, n_boot, seed)
        out["pearson_ci"] = _bootstrap(values[finite], t[finite], "pearson", n_boot, seed)
    return out


STAT_KEYS: tuple[str, ...] = (
    "n", "non_finite", "dropped", "spearman", "kendall", "pearson",
    f"precision@{TOP_K}", f"precision@{TOP_FRAC:.0%}", f"best_rank@{TOP_K}",
)
CI_LEVEL: float = 0.95


def _nan() -> float:
    return math.nan  # the one NaN object, so equal results compare equal


def _row_spearman(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of two (B, n) arrays (average ranks; NaN for a constant row)."""
    rs, rt = _sp.rankdata(s, axis=1), _sp.rankdata(t, axis=1)
    return _row_pearson(rs, rt)


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=1) / den
    r[~(den > 1e-12 * max(1.0, float(np.abs(den).max(initial=0.0))))] = np.nan
    return r


def _percentiles(values: np.ndarray) -> list[float]:
    values = values[np.isfinite(values)]
    if values.size < 2:
        return [_nan(), _nan()]
    lo, hi = np.percentile(values, [50 * (1 - CI_LEVEL), 50 * (1 + CI_LEVEL)])
    return [float(lo), float(hi)]


def _bootstrap(s: np.ndarray, t: np.ndarray, stat: str, n_boot: int, seed: int) -> list[float]:
    """Percentile interval of ``stat`` over resamples of the pairs ``(s, t)``: for Spearman and Kendall the
    completed ranks of :func:`worst_ranked`, for Pearson the finite oriented values."""
    n = s.size
    if stat not in ("spearman", "kendall", "pearson"):
        raise ValueError(f"no bootstrap for statistic {stat!r} (spearman, kendall, pearson)")
    if n < 3 or n_boot < 2:
        return [_nan(), _nan()]
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    if stat == "spearman":
        vals = _row_spearman(s[idx], t[idx])
    elif stat == "pearson":
        vals = _row_pearson(s[idx], t[idx])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals = np.array([_sp.kendalltau(s[i], t[i])[0] for i in idx], dtype=float)
    return _percentiles(vals)


def bootstrap_ci(scores: ArrayLike, truth: ArrayLike, stat: str = "spearman", *, higher_is_better: bool = True,
                 n_boot: int = 1000, seed: int = 0) -> list[float]:
    """95 % percentile bootstrap interval ``[low, high]`` of ``stat`` (spearman, kendall or pearson) with the
    conventions of :func:`correlations` (non-finite proxy values ranked worst). Architectures are resampled
    with replacement ``n_boot`` times from a generator seeded with ``seed``: deterministic."""
    if stat == "pearson":
        s, t, _ = _oriented(scores, truth, higher_is_better)
        finite = np.isfinite(s)
        return _bootstrap(s[finite], t[finite], stat, n_boot, seed)
    s, t, _, _ = worst_ranked(scores, truth, higher_is_better)
    return _bootstrap(s, t, stat, n_boot, seed)


def within_strata(scores: ArrayLike, truth: ArrayLike, strata: Sequence[Any], higher_is_better: bool = True, *,
                  min_size: int = 3, intervals: bool = False, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean Spearman ρ inside groups of architectures (``strata[i]`` labels architecture i; None: no group).

    Each group with at least ``min_size`` architectures of finite truth gets its own ρ (non-finite proxy
    values ranked worst, as in :func:`correlations`); ``spearman_mean`` is the plain mean of the groups'
    defined ρ (a group where the proxy or the truth is constant has none). Returns ``{"spearman_mean",
    "n_strata" (groups averaged), "strata": {label: {"n", "spearman"}}}``.

    ``intervals=True`` adds ``spearman_mean_ci``, a 95 % bootstrap interval: each of ``n_boot`` resamples
    draws architectures with replacement inside each of the ``n_strata`` averaged groups and takes the mean of
    their ρ. A resample in which some group's ρ is undefined (its draw made the proxy or the truth constant) is
    **dropped**, never averaged over fewer groups, so every kept resample means the same groups as the point
    estimate. ``resamples_dropped`` counts the dropped resamples and ``resamples_dropped_by_stratum`` counts,
    per averaged group, the resamples where that group's ρ was undefined (one resample may count in several
    groups). The interval is NaN when fewer than two resamples are kept.
    """
    s_all, t_all = _as_float(scores), _as_float(truth)
    if len(strata) != s_all.size or s_all.size != t_all.size:
        raise ValueError(f"scores, truth and strata differ in length: {s_all.size}, {t_all.size}, {len(strata)}")
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(strata):
        if label is not None:
            groups.setdefault(str(label), []).append(i)
    per: dict[str, dict[str, Any]] = {}
    prepared: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label in sorted(groups):
        ids = np.array(groups[label])
        s, t, _, _ = worst_ranked(s_all[ids], t_all[ids], higher_is_better)
        rho = spearman(s, t) if s.size >= min_size else _nan()
        per[label] = {"n": int(s.size), "spearman": rho}
        if math.isfinite(rho):
            prepared[label] = (s, t)
    out: dict[str, Any] = {
        "spearman_mean": float(np.mean([per[g]["spearman"] for g in prepared])) if prepared else _nan(),
        "n_strata": len(prepared),
        "strata": per,
    }
    if intervals:
        out.update(_strata_bootstrap(prepared, n_boot, seed))
    return out


def _strata_bootstrap(prepared: dict[str, tuple[np.ndarray, np.ndarray]], n_boot: int, seed: int
                      ) -> dict[str, Any]:
    """The interval fields of :func:`within_strata` from its averaged groups' (ranks, truth) pairs."""
    if not prepared or n_boot < 2:
        return {"spearman_mean_ci": [_nan(), _nan()], "resamples_dropped": 0,
                "resamples_dropped_by_stratum": {label: 0 for label in prepared}}
    rng = np.random.default_rng(seed)
    reps = []
    for s, t in prepared.values():
        idx = rng.integers(0, s.size, size=(n_boot, s.size))
        reps.append(_row_spearman(s[idx], t[idx]))
    rhos = np.vstack(reps)  # (groups, n_boot)
    defined = np.isfinite(rhos)
    complete = defined.all(axis=0)
    return {"spearman_mean_ci": _percentiles(rhos[:, complete].mean(axis=0)),
            "resamples_dropped": int((~complete).sum()),
            "resamples_dropped_by_stratum": {label: int((~row).sum()) for label, row in zip(prepared, defined)}}


def rank_ensemble(columns: Sequence[ArrayLike], higher_is_better: Sequence[bool] | None = None,
                  weights: Sequence[float] | None = None) -> np.ndarray:
    """Rank-average ensemble of several proxies' scores over the same architectures.

    Each column is oriented (negated where ``higher_is_better[j]`` is False), its non-finite values are ranked
    worst (as in :func:`correlations`), and it is turned into average ranks scaled to [0, 1] (ties share
    their mean rank). The result is the (``weights``-weighted) mean of those scaled ranks: one score per
    architecture, higher is better. ``rank_ensemble([result.values("swap"), result.values("params")])``
    combines two bench columns.
    """
    if not columns:
        raise ValueError("rank_ensemble needs at least one column")
    cols = [_as_float(c) for c in columns]
    n = cols[0].size
    if any(c.size != n for c in cols):
        raise ValueError(f"columns differ in length: {[c.size for c in cols]}")
    hib = list(higher_is_better) if higher_is_better is not None else [True] * len(cols)
    w = np.asarray(weights if weights is not None else [1.0] * len(cols), dtype=float)
    if len(hib) != len(cols) or w.size != len(cols):
        raise ValueError("higher_is_better and weights need one entry per column")
    if n < 2:
        return np.zeros(n)
    total = np.zeros(n)
    for c, up, wj in zip(cols, hib, w):
        s, _, _, _ = worst_ranked(c, np.zeros(n), up)
        total += wj * (_sp.rankdata(s) - 1.0) / (n - 1)
    return total / w.sum()


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
                    "predictions: proxy score per architecture (None/NaN = failed, ranked worst); "
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
    "correlations", "clean", "resolve_k", "STAT_KEYS", "RankingMetric", "worst_ranked", "bootstrap_ci",
    "within_strata", "CI_LEVEL", "rank_ensemble",
]
