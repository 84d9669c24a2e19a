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


def test_nan_and_none_are_dropped_and_counted():
    c = stats.correlations([1, 2, None, 3, float("nan"), 4, 5], [2, 1, 9, 4, 9, 3, float("inf")])
    assert c["n"] == 4 and c["dropped"] == 3
    assert c["spearman"] == pytest.approx(stats.spearman([1, 2, 3, 4], [2, 1, 4, 3]))
    assert c["spearman"] == pytest.approx(0.6)


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
    out = metric.compute(predictions=[1.0, 2.0, None, 3.0, 4.0, 5.0], references=[2, 1, 7, 4, 3, 5])
    assert out["n"] == 5 and out["dropped"] == 1
    assert out["spearman"] == pytest.approx(0.8) and out["kendall"] == pytest.approx(0.6)
    flipped = metric.compute(predictions=[-1.0, -2.0, -3.0], references=[1, 2, 3], higher_is_better=False)
    assert flipped["spearman"] == pytest.approx(1.0)
