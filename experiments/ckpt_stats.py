"""Statistics of the checkpoint-ranking experiment: rank correlations whose intervals carry the fine-tuning seed
noise, the split-half reliability of the fine-tuned accuracy (Spearman-Brown), and the spread of the candidates
against that noise.

``acc`` is always an (n candidates, S seeds) array of fine-tuned accuracies; a proxy is a length-n sequence of
values (None or NaN where it failed) with its direction (higher is better or not).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import rankdata


def oriented(values, higher_is_better: bool) -> np.ndarray:
    """Values as floats, negated when lower is better; a failed value (None, NaN, ±inf) becomes -inf, so it ranks
    below every finite one (the worst candidate), as ``swaplm rank`` ranks it."""
    v = np.array([np.nan if x is None else float(x) for x in values], dtype=float)
    v = v if higher_is_better else -v
    v[~np.isfinite(v)] = -np.inf
    return v


def row_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of two (B, n) arrays (average ranks for ties; NaN for a constant row)."""
    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (rx * ry).sum(-1) / den
    return np.where(den > 1e-12, r, np.nan)


def spearman(x, y) -> float:
    return float(row_spearman(np.asarray(x, float)[None], np.asarray(y, float)[None])[0])


def interval(values: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Percentile interval of the finite values (None when fewer than two are finite)."""
    v = values[np.isfinite(values)]
    if v.size < 2:
        return None
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def resample(acc: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-level bootstrap indices and truths: each replicate draws n candidates with replacement and, for each
    drawn candidate, S of its seeds with replacement; -> (candidate indices (B, n), mean accuracies (B, n))."""
    acc = np.asarray(acc, dtype=float)
    n, s = acc.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    sidx = rng.integers(0, s, size=(n_boot, n, s))
    return idx, acc[idx[..., None], sidx].mean(-1)


def seed_bootstrap(acc, proxies: dict[str, tuple], reference: str | None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman ρ of every proxy with the mean accuracy over seeds, and a 95 % interval from a bootstrap that
    resamples candidates and, within each drawn candidate, its fine-tuning seeds; every proxy is scored on the
    same replicates, so ``delta`` (ρ(proxy) − ρ(reference)) is a paired difference.

    proxies: {name: (values, higher_is_better)}. -> {name: {"spearman", "interval", "delta", "delta_interval"}}
    (the deltas only when ``reference`` is a proxy with a defined ρ)."""
    acc = np.asarray(acc, dtype=float)
    truth = acc.mean(1)
    idx, boot_truth = resample(acc, n_boot, seed)
    rho, boot = {}, {}
    for name, (values, higher) in proxies.items():
        v = oriented(values, higher)
        rho[name] = spearman(v, truth)
        boot[name] = row_spearman(v[idx], boot_truth)
    out = {}
    ref_ok = reference in rho and math.isfinite(rho[reference])
    for name in proxies:
        row = {"spearman": rho[name], "interval": interval(boot[name])}
        if ref_ok and name != reference:
            row["delta"] = rho[name] - rho[reference]
            row["delta_interval"] = interval(boot[name] - boot[reference])
        out[name] = row
    return out


# ------------------------------------------------------------------------------------------------- reliability
def spearman_brown(rho1: float, m: float) -> float:
    """Reliability of the mean of m measurements whose single-measurement reliability is rho1."""
    return m * rho1 / (1 + (m - 1) * rho1)


def step_up(r: float, a: int, b: int, total: int) -> float:
    """The reliability of the mean of ``total`` seeds from the correlation ``r`` between the means of two
    disjoint halves of ``a`` and ``b`` seeds (Spearman-Brown). Equal halves: the single-seed reliability ρ1 solves
    r = R_a(ρ1) and the result is R_total(ρ1), which for a = b = total / 2 is the textbook 2r / (1 + r). Unequal
    halves: ρ1 solves r² = R_a(ρ1) R_b(ρ1) (the correlation of two parallel means is the geometric mean of their
    reliabilities). A non-positive r has no single-seed reliability behind it; it is stepped up as equal halves,
    2r / (1 + r) (negative: the seed noise outweighs the differences between the candidates)."""
    if not math.isfinite(r):
        return math.nan
    if r <= 0:
        return 2 * r / (1 + r) if r > -1 else -1.0
    if r >= 1:
        return 1.0
    if a == b:
        rho1 = r / (a - (a - 1) * r)  # inverts r = R_a(rho1)
    else:
        lo, hi = 0.0, 1.0
        for _ in range(100):  # R_a R_b rises monotonically in rho1 on [0, 1]
            mid = (lo + hi) / 2
            if spearman_brown(mid, a) * spearman_brown(mid, b) < r * r:
                lo = mid
            else:
                hi = mid
        rho1 = (lo + hi) / 2
    return spearman_brown(rho1, total)


def half_splits(s: int, max_splits: int = 200, seed: int = 0) -> list[tuple[tuple, tuple]]:
    """Splits of seeds 0..s-1 into halves of s // 2 and s - s // 2 seeds: every split when there are at most
    ``max_splits`` (equal halves counted once), else ``max_splits`` random ones."""
    seeds = tuple(range(s))
    first = [c for c in itertools.combinations(seeds, s // 2) if not (s % 2 == 0 and 0 not in c)]
    if len(first) > max_splits:
        rng = np.random.default_rng(seed)
        first = [tuple(sorted(rng.choice(s, s // 2, replace=False).tolist())) for _ in range(max_splits)]
    return [(c, tuple(x for x in seeds if x not in c)) for c in first]


def reliability(acc, max_splits: int = 200, seed: int = 0) -> dict:
    """Split-half reliability of the candidates' mean accuracy over seeds: for every split of the seeds into two
    halves, Spearman ρ between the candidates' half means, stepped up to the full number of seeds with
    Spearman-Brown (:func:`step_up`), averaged over the splits. ``ceiling`` = √reliability is the highest |ρ| a
    proxy without noise of its own can be expected to reach against this truth (correlation attenuation)."""
    acc = np.asarray(acc, dtype=float)
    n, s = acc.shape
    if s < 2 or n < 3:
        return {"splits": 0, "half_rho": math.nan, "reliability": math.nan, "ceiling": math.nan}
    rs, rel = [], []
    for h1, h2 in half_splits(s, max_splits, seed):
        r = spearman(acc[:, list(h1)].mean(1), acc[:, list(h2)].mean(1))
        rs.append(r)
        rel.append(step_up(r, len(h1), len(h2), s))
    rel_mean = float(np.nanmean(rel)) if np.isfinite(rel).any() else math.nan
    ceiling = math.nan if not math.isfinite(rel_mean) else math.sqrt(rel_mean) if rel_mean > 0 else 0.0
    return {"splits": len(rs), "half_rho": float(np.nanmean(rs)) if np.isfinite(rs).any() else math.nan,
            "reliability": rel_mean, "ceiling": ceiling}


def reliability_interval(acc, n_boot: int = 500, seed: int = 0) -> list[float] | None:
    """95 % interval of the reliability over resamples of the candidates (seeds kept)."""
    acc = np.asarray(acc, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(acc), size=(n_boot, len(acc)))
    return interval(np.array([reliability(acc[i])["reliability"] for i in idx]))


def spread(acc) -> dict:
    """How far apart the candidates are against the seed noise: ``range`` (max − min of the mean accuracies),
    ``sd_means`` (their standard deviation), ``mean_seed_sd`` (the mean over candidates of the standard deviation
    over seeds, ddof 1), ``ratio_range`` = range / mean_seed_sd, ``ratio_sd`` = sd_means / mean_seed_sd."""
    acc = np.asarray(acc, dtype=float)
    means = acc.mean(1)
    sd = acc.std(1, ddof=1) if acc.shape[1] > 1 else np.zeros(len(acc))
    noise = float(sd.mean())
    rng_ = float(means.max() - means.min())
    sdm = float(means.std(ddof=1)) if len(means) > 1 else 0.0
    return {"range": rng_, "sd_means": sdm, "mean_seed_sd": noise,
            "ratio_range": rng_ / noise if noise > 0 else math.inf,
            "ratio_sd": sdm / noise if noise > 0 else math.inf}
