"""swaplm.stats against hand-computed values."""
import math

import pytest

from swaplm import stats

X = [1, 2, 3, 4, 5]
Y = [2, 1, 4, 3, 5]  # two adjacent swaps of X


def test_correlations_match_hand_computed_values():
    # Spearman: sum d^2 = 4 -> 1 - 6*4/(5*24) = 0.8; Kendall: 8 concordant, 2 discordant of 10 -> 0.6;
    # Pearson: cov 8, var 10 and 10 -> 0.8
    assert stats.spearman(X, Y) == pytest.approx(0.8)
    assert stats.kendall(X, Y) == pytest.approx(0.6)
    assert stats.pearson(X, Y) == pytest.approx(0.8)


def test_reversed_order_is_minus_one():
    rev = X[::-1]
    assert stats.spearman(X, rev) == pytest.approx(-1.0)
    assert stats.kendall(X, rev) == pytest.approx(-1.0)
    assert stats.pearson(X, rev) == pytest.approx(-1.0)


def test_ties_use_average_ranks_and_tau_b():
    s, t = [1, 1, 2, 3], [1, 2, 3, 4]
    # ranks of s: 1.5 1.5 3 4 -> rho = 4.5 / sqrt(4.5 * 5)
    assert stats.spearman(s, t) == pytest.approx(4.5 / math.sqrt(22.5))
    # 5 concordant pairs, 1 pair tied in s only: tau_b = 5 / sqrt((6 - 1) * 6)
    assert stats.kendall(s, t) == pytest.approx(5 / math.sqrt(30))


def test_non_finite_proxy_values_rank_worst_and_missing_truth_is_dropped():
    # truth inf (last pair) is dropped; the proxy's None and NaN are ranked below every finite value (tied)
    c = stats.correlations([1, 2, None, 3, float("nan"), 4, 5], [2, 1, 9, 4, 0, 3, float("inf")])
    assert c["n"] == 6 and c["non_finite"] == 2 and c["dropped"] == 1
    assert c["spearman"] == pytest.approx(stats.spearman([1, 2, -1, 3, -1, 4], [2, 1, 9, 4, 0, 3]))
    # Pearson is linear in the values: finite pairs only
    assert c["pearson"] == pytest.approx(stats.pearson([1, 2, 3, 4], [2, 1, 4, 3]))
    # -inf from a lower-is-better proxy is also worst (not best after negation)
    low = stats.correlations([1, float("-inf"), 3], [3, 0, 1], higher_is_better=False)
    assert low["spearman"] == pytest.approx(1.0) and low["non_finite"] == 1


def test_worst_ranking_changes_the_answer_where_dropping_hid_failures():
    # the two failed archs are the worst ones: dropping them flatters the proxy less than ranking them worst does
    truth = [1, 2, 3, 4, 5, 6]
    scores = [None, float("-inf"), 1, 3, 2, 4]
    ranked = stats.correlations(scores, truth)["spearman"]
    dropped = stats.spearman(scores, truth)  # the low-level function drops them
    assert dropped == pytest.approx(0.8) and ranked == pytest.approx(stats.spearman([0, 0, 1, 3, 2, 4], truth))
    assert ranked > dropped  # here the failures sit where they belong


def test_bootstrap_interval_is_deterministic_and_brackets_the_estimate():
    import numpy as np

    rng = np.random.default_rng(1)
    truth = rng.normal(size=200)
    scores = truth + rng.normal(size=200)
    c = stats.correlations(scores, truth, intervals=True, n_boot=400, seed=3)
    lo, hi = c["spearman_ci"]
    assert lo < c["spearman"] < hi and 0.05 < hi - lo < 0.3
    assert c == stats.correlations(scores, truth, intervals=True, n_boot=400, seed=3)  # same seed, same interval
    assert stats.bootstrap_ci(scores, truth, "spearman", n_boot=400, seed=3) == [lo, hi]
    assert c["kendall_ci"][0] < c["kendall"] < c["kendall_ci"][1]
    assert c["pearson_ci"][0] < c["pearson"] < c["pearson_ci"][1]
    # fewer archs -> wider interval (the point of showing it at n = 50)
    small = stats.correlations(scores[:50], truth[:50], intervals=True, n_boot=400, seed=3)
    assert small["spearman_ci"][1] - small["spearman_ci"][0] > hi - lo
    with pytest.raises(ValueError):
        stats.bootstrap_ci(scores, truth, "p@10")


def test_within_strata_is_the_mean_of_per_group_spearman():
    # two groups; the truth separates them, so the pooled rho is high, but inside each group the proxy is reversed
    scores = [1, 2, 3, 10, 11, 12]
    truth = [3, 2, 1, 13, 12, 11]
    strata = ["a", "a", "a", "b", "b", "b"]
    w = stats.within_strata(scores, truth, strata, intervals=True, n_boot=200)
    assert w["strata"] == {"a": {"n": 3, "spearman": pytest.approx(-1.0)}, "b": {"n": 3, "spearman": pytest.approx(-1.0)}}
    assert w["spearman_mean"] == pytest.approx(-1.0) and w["n_strata"] == 2
    assert stats.correlations(scores, truth)["spearman"] > 0.4
    lo, hi = w["spearman_mean_ci"]
    assert lo <= -0.99 and hi <= 1.0
    # a group below min_size or with a constant side is not averaged
    w2 = stats.within_strata([1, 2, 3, 5, 5, 7], [1, 2, 3, 4, 5, 6], ["a", "a", "a", "b", "b", None], min_size=3)
    assert w2["n_strata"] == 1 and w2["spearman_mean"] == pytest.approx(1.0) and w2["strata"]["b"]["n"] == 2


def test_undefined_correlations_are_nan():
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))  # constant proxy
    assert math.isnan(stats.kendall([1], [2]))  # one point
    assert math.isnan(stats.correlations([None, None], [1, 2])["pearson"])


def test_precision_and_best_rank_known_answers():
    truth = [10, 9, 8, 7, 6, 5]  # id 0 best ... id 5 worst
    scores = [1, 6, 5, 2, 3, 4]  # proxy ranks ids 1, 2, 5, 4, 3, 0
    assert stats.precision_at_k(scores, truth, 2) == pytest.approx(0.5)  # {1,2} vs {0,1}
    assert stats.precision_at_k(scores, truth, 0.5) == pytest.approx(2 / 3)  # k=3: {1,2,5} vs {0,1,2}
    assert stats.precision_at_k(scores, truth, 6) == pytest.approx(1.0)
    assert stats.best_rank_at_k(scores, truth, 1) == 2.0  # id 1 is truly 2nd
    assert stats.best_rank_at_k(scores, truth, 2) == 2.0
    assert stats.best_rank_at_k(scores, truth, 6) == 1.0
    assert stats.best_rank_at_k(truth, truth, 1) == 1.0


def test_topk_ties_are_the_random_tiebreak_expectation():
    scores, truth = [1, 1, 1, 0], [4, 3, 2, 1]
    # 2 of the 3 tied items enter the top-2, each with probability 2/3; true top-2 = ids 0, 1
    assert stats.precision_at_k(scores, truth, 2) == pytest.approx(2 / 3)
    # subsets {0,1},{0,2},{1,2} of true ranks 1,2,3 -> best ranks 1,1,2
    assert stats.best_rank_at_k(scores, truth, 2) == pytest.approx(4 / 3)
    assert stats.best_rank_at_k(scores, truth, 1) == pytest.approx(2.0)  # mean of 1, 2, 3
    # ties in truth: competition ranks
    assert stats.true_ranks([5, 3, 5, 1]).tolist() == [1.0, 3.0, 1.0, 4.0]


def test_k_validation():
    with pytest.raises(ValueError):
        stats.precision_at_k([1, 2], [1, 2], 3)
    with pytest.raises(ValueError):
        stats.best_rank_at_k([1, 2], [1, 2], 0)
    with pytest.raises(ValueError):
        stats.precision_at_k([1, 2], [1, 2, 3], 1)  # length mismatch


def test_correlations_keys_direction_and_uninformative_topk():
    n = 30
    truth = list(range(n))
    c = stats.correlations(truth, truth)
    assert set(c) == set(stats.STAT_KEYS)
    assert c["spearman"] == pytest.approx(1.0)
    assert c["precision@10"] == 1.0 and c["precision@10%"] == 1.0 and c["best_rank@10"] == 1.0
    # a lower-is-better proxy: negated before ranking
    lower = stats.correlations([-t for t in truth], truth, higher_is_better=False)
    assert lower["spearman"] == pytest.approx(1.0) and lower["best_rank@10"] == 1.0
    small = stats.correlations([1, 2, 3], [1, 2, 3])
    assert math.isnan(small["precision@10"]) and math.isnan(small["best_rank@10"])  # k >= n says nothing


def test_ranking_metric_works_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    metric = stats.RankingMetric(cache_dir=str(tmp_path))
    out = metric.compute(predictions=[1.0, 2.0, None, 3.0, 4.0, 5.0], references=[2, 1, 0, 4, 3, 5])
    assert out["n"] == 6 and out["non_finite"] == 1 and out["dropped"] == 0
    # None ranked worst: ranks 2 3 1 4 5 6 vs 3 2 1 5 4 6 -> sum d^2 = 4; 13 concordant, 2 discordant of 15
    assert out["spearman"] == pytest.approx(1 - 6 * 4 / (6 * 35)) and out["kendall"] == pytest.approx(11 / 15)
    flipped = metric.compute(predictions=[-1.0, -2.0, -3.0], references=[1, 2, 3], higher_is_better=False)
    assert flipped["spearman"] == pytest.approx(1.0)


def test_failed_values_rank_below_every_finite_value_at_any_magnitude():
    # |lowest| >= 2**53: "lowest - 1" equals lowest in floating point, so a failure would tie with it
    c = stats.correlations([1e17, 3e17, float("nan")], [1, 2, 0])
    assert c["spearman"] == pytest.approx(1.0) and c["kendall"] == pytest.approx(1.0) and c["non_finite"] == 1
    assert stats.correlations([-1e17, -3e17, None], [1, 2, 0], higher_is_better=False)["spearman"] == pytest.approx(1.0)
    big = -1.7e308  # near the most negative double: any subtraction would overflow or be absorbed
    assert stats.correlations([big, 0.0, float("-inf")], [1, 2, 0])["spearman"] == pytest.approx(1.0)
    ranks, _, finite, _ = stats.worst_ranked([5.0, math.nan, 5.0, 7.0], [1, 2, 3, 4])
    assert list(ranks) == [1.5, 0.0, 1.5, 3.0] and list(finite) == [True, False, True, True]
    # Pearson still uses the finite values themselves, not their ranks
    assert stats.correlations([1, 2, 10, None], [1, 2, 3, 4])["pearson"] == pytest.approx(stats.pearson([1, 2, 10], [1, 2, 3]))
    assert stats.rank_ensemble([[1e17, 3e17, math.nan]]).tolist() == [0.5, 1.0, 0.0]


def test_strata_bootstrap_drops_and_counts_resamples_with_an_undefined_stratum():
    # stratum "a" has 3 architectures: a resample drawing one of them three times makes its rho undefined;
    # stratum "b" has 40 and never does
    scores = [1, 2, 3] + list(range(40))
    truth = [1, 2, 3] + list(range(40))
    strata = ["a"] * 3 + ["b"] * 40
    w = stats.within_strata(scores, truth, strata, intervals=True, n_boot=500, seed=1)
    by = w["resamples_dropped_by_stratum"]
    assert by["b"] == 0 and 0 < by["a"] < 500 and w["resamples_dropped"] == by["a"]
    # the kept resamples average both strata (each ρ = 1 here), never stratum "b" alone
    assert w["spearman_mean_ci"] == [pytest.approx(1.0), pytest.approx(1.0)]
    # a stratum below min_size or with a constant side is not averaged, so it is not counted either
    w2 = stats.within_strata([1, 2, 3, 5, 5, 7, 8], [1, 2, 3, 4, 4, 5, 6], ["a"] * 3 + ["b"] * 2 + [None] * 2,
                             intervals=True, n_boot=100)
    assert set(w2["resamples_dropped_by_stratum"]) == {"a"}
    # every resample dropped (seed 4 draws one architecture twice in both): no interval, and the count says why
    w3 = stats.within_strata([1, 2], [1, 2], ["a"] * 2, min_size=2, intervals=True, n_boot=2, seed=4)
    assert w3["resamples_dropped"] == 2 and all(math.isnan(v) for v in w3["spearman_mean_ci"])


def test_strata_bootstrap_counts_are_deterministic_and_absent_without_intervals():
    args = ([1, 2, 3, 4, 1, 3, 2, 4], [1, 2, 3, 4, 1, 2, 3, 4], ["a"] * 4 + ["b"] * 4)
    one = stats.within_strata(*args, intervals=True, n_boot=300, seed=5)
    assert one == stats.within_strata(*args, intervals=True, n_boot=300, seed=5)
    assert one["resamples_dropped"] >= max(one["resamples_dropped_by_stratum"].values())
    assert "resamples_dropped" not in stats.within_strata(*args)
