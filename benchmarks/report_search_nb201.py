"""Make reports/search_nb201.md: architecture search on NAS-Bench-201 in benchmark mode, fitness from the store.

    OMP_WAIT_POLICY=PASSIVE nice python benchmarks/report_search_nb201.py --workers 2

The fitness values are those of two full-benchmark bench runs of the cifar10 build on its default inputs
(CIFAR-10 training images), read from the shared bench store ($SWAPLM_CACHE/bench/nb201.jsonl) under the same
identity as

    swaplm bench nb201 --task cifar10 --proxies swap,swap_reg,params     # the space's protocol
    swaplm bench nb201 --task cifar10 --proxies nwot -n 32

(swap_reg only when the space protocol has a size prior); whatever the store lacks is computed first, with a
progress bar, in ``--workers`` processes. Then every method runs on the same pool of benchmark archs:

- the NASWOT protocol (Mellor et al. 2021): sample N archs uniformly, keep the best score; N = 10, 100, 1000;
  500 runs each, with nwot, swap and (with a prior) swap_reg;
- SWAP-NAS and aging evolution at evaluation budgets 100 and 1000, fitness swap, swap_reg (with a prior) and
  nwot;
- the budget-matched oracle (sample N, keep the best true CIFAR-10 test accuracy) and a single random draw.

The report gives the chosen arch's test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (mean ± std over
runs), a verdict computed from those numbers, and NWOT's published table in a separate cited section.
``--limit-archs K`` restricts the pool to the first K benchmark archs and ``--runs R`` caps every run count (a
quick check of the script); ``--device`` must be the device the store was filled on (it is part of a stored
value's identity; default auto, as for ``swaplm bench``).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("cifar10", "cifar100", "imagenet16_120")
NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16_120": "ImageNet16-120"}
NWOT_N = 32  # nwot's batch in the store (NWOT's published protocol used 128)
SAMPLE_NS = (10, 100, 1000)  # the NASWOT protocol's N
SEARCH_BUDGETS = (100, 1000)  # SWAP-NAS and aging evolution
RUNS = 500  # NASWOT's run count, for the sample-N methods
SEARCH_RUNS = 500  # SWAP-NAS and aging evolution runs per fitness and budget
ORACLE, RANDOM = "oracle best-of-N", "random draw"
TRUTH = "true CIFAR-10 test accuracy"  # the oracle's fitness
ANCHORS = "Mellor et al., ICML 2021, Table 2a (500 runs), as quoted in ../shared/reference/anchors.md §4.1"
# NWOT's published NB-201 search table, quoted exactly from the anchors file (figures, not computed here)
CITED = [
    ("NASWOT (nwot, batch 128, CIFAR-10 training images), N = 10: CIFAR-10 test", "92.44 ± 1.13 (3.05 s on a GTX "
     "1080 Ti)", ANCHORS),
    ("NASWOT, N = 100: CIFAR-10 test", "92.81 ± 0.99 (30 s)", ANCHORS),
    ("NASWOT, N = 1000: CIFAR-10 test", "92.96 ± 0.81 (306 s)", ANCHORS),
    ("same chosen cells on CIFAR-100, N = 10 / 100 / 1000", "68.62 / 69.48 / 69.98", ANCHORS),
    ("same chosen cells on ImageNet16-120, N = 10 / 100 / 1000", "41.31 / 43.10 / 44.44", ANCHORS),
    ("random (baseline in that table), CIFAR-10 test", "86.61 ± 13.46", ANCHORS),
    ("optimal-of-N (oracle), N = 10 / N = 100, CIFAR-10 test", "93.06 / 93.84", ANCHORS),
    ("REA (12,000 s), CIFAR-10 test", "93.92 ± 0.30", ANCHORS),
    ("random search (12,000 s), CIFAR-10 test", "93.70 ± 0.36", ANCHORS),
]


# ------------------------------------------------------------------------------------------------ fitness
def fitness_proxies(space) -> list[str]:
    """The proxy fitnesses of the study: nwot, swap, and swap_reg where the space protocol has a size prior."""
    return ["nwot", "swap"] + (["swap_reg"] if space.protocol.regularise is not None else [])


def search_fitness(proxies: list[str]) -> list[str]:
    """The fitnesses of SWAP-NAS and aging evolution: swap, swap_reg (with a prior), nwot."""
    return ["swap"] + (["swap_reg"] if "swap_reg" in proxies else []) + ["nwot"]


def stored_values(space, *, limit: int | None, device: str, workers: int, progress: bool = True,
                  cache_dir=None) -> dict:
    """The two bench runs the study reads, over the first ``limit`` benchmark archs (None: all): ``"swap"``
    (swap, params and, with a prior, swap_reg at the space's protocol, on the network it scores) and
    ``"nwot"`` (nwot at batch :data:`NWOT_N` on the benchmark's own network, as NWOT scores it and as
    benchmarks/report_nb201.py stores it); each read from the store, computing only what it lacks, and timed.
    ``cache_dir``: the store folder (None: ``$SWAPLM_CACHE/bench``)."""
    from swaplm.bench import run_bench
    from swaplm.runner.store import default_cache_dir
    from swaplm.spaces.nb201.model import C_DEFAULT, N_DEFAULT

    store = cache_dir if cache_dir is not None else default_cache_dir()
    swap = ["swap"] + (["swap_reg"] if space.protocol.regularise is not None else []) + ["params"]
    runs = {}
    full = type(space)(build=space.dataset, C=C_DEFAULT, N=N_DEFAULT)
    for name, scored, proxies, n in (("swap", space, swap, None), ("nwot", full, ["nwot"], NWOT_N)):
        t = time.perf_counter()
        res = run_bench(scored, proxies=proxies, n=n, limit=limit, device=device, workers=workers,
                        progress=progress, cache_dir=store)
        runs[name] = (res, time.perf_counter() - t)
        print(f"{name}: {len(res.rows)} archs, {res.computed} computed now, {res.from_cache} from the store, "
              f"{runs[name][1]:.1f} s", flush=True)
    return runs


# ------------------------------------------------------------------------------------------------ methods
def methods(view, fits: dict, truth, proxies: list[str], runs: int, search_runs: int) -> list[dict]:
    """Every (method, fitness) of the study: its budgets, its run count and ``search(budget, rng)``."""
    from swaplm.search import evolution, random_search, swapnas

    out = [dict(method="NASWOT protocol", fitness=p, budgets=SAMPLE_NS, runs=runs,
                search=lambda b, rng, f=fits[p]: random_search(view, f, b, rng)) for p in proxies]
    out.append(dict(method=ORACLE, fitness=TRUTH, budgets=SAMPLE_NS, runs=runs,
                    search=lambda b, rng: random_search(view, truth, b, rng)))
    out.append(dict(method=RANDOM, fitness="none", budgets=(1,), runs=runs,
                    search=lambda b, rng: random_search(view, truth, 1, rng)))
    for name, algo in (("SWAP-NAS", swapnas), ("aging evolution", evolution)):
        out += [dict(method=name, fitness=p, budgets=SEARCH_BUDGETS, runs=search_runs,
                     search=lambda b, rng, f=fits[p], a=algo: a(view, f, b, rng)) for p in search_fitness(proxies)]
    return out


def run_methods(view, specs: list[dict], progress: bool = True) -> dict:
    """``{(method, fitness): {budget: {"acc": {dataset: [...]}, "disconnected": k, "seconds": s}}}``: the
    chosen arch of runs with seeds 0..runs-1, scored on every dataset."""
    from swaplm.runner.progress import progress as bar
    from swaplm.search import chosen

    total = sum(s["runs"] * len(s["budgets"]) for s in specs)
    out: dict = {}
    with bar(progress, "nb201 benchmark-mode searches", total, unit="runs") as advance:
        for s in specs:
            per = out.setdefault((s["method"], s["fitness"]), {})
            for b in s["budgets"]:
                t = time.perf_counter()
                archs = chosen(s["search"], b, range(s["runs"]), on_run=advance)
                recs = [view.record(a) for a in archs]
                per[b] = {"acc": {d: [float(r.scores[d]) for r in recs] for d in DATASETS},
                          "disconnected": sum(not view.space.connected(a) for a in archs),
                          "seconds": time.perf_counter() - t}
    return out


# ------------------------------------------------------------------------------------------------ statistics
def mean_std(xs: list[float]) -> str:
    """``"92.44 ± 1.13"``: mean ± population std over runs."""
    return f"{statistics.fmean(xs):.2f} ± {statistics.pstdev(xs):.2f}"


def difference(a: list[float], b: list[float], paired: bool) -> tuple[float, float]:
    """(mean of ``a`` − mean of ``b``, 2 standard errors): of the per-seed differences when ``paired`` (the
    same seeds, so the same samples), else of two independent means."""
    if paired:
        d = [x - y for x, y in zip(a, b, strict=True)]
        return statistics.fmean(d), 2 * statistics.stdev(d) / math.sqrt(len(d))
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return statistics.fmean(a) - statistics.fmean(b), 2 * se


def word(diff: float, two_se: float) -> str:
    return "beat" if diff > two_se else "lost to" if diff < -two_se else "tied with"


def compare_row(res: dict, a: tuple, b: tuple, budget_a: int, budget_b: int, paired: bool) -> tuple[str, list]:
    """(word, [mean of a, mean of b, "difference [−2 SE, +2 SE]"]) on CIFAR-10 test accuracy."""
    from swaplm.report import interval_text

    xa, xb = res[a][budget_a]["acc"]["cifar10"], res[b][budget_b]["acc"]["cifar10"]
    diff, two_se = difference(xa, xb, paired)
    return word(diff, two_se), [f"{statistics.fmean(xa):.2f}", f"{statistics.fmean(xb):.2f}",
                                interval_text(diff, (diff - two_se, diff + two_se), 2)]


def listed(budgets: list[int]) -> str:
    """"10, 100 and 1,000"."""
    names = [f"{b:,}" for b in budgets]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def grouped(words: dict[int, str], other: str, at: str) -> str:
    """"beat X at N = 10 and 100 and tied with it at N = 1,000": budgets grouped by outcome, in order; ``at``
    is what precedes the budgets ("N = ", "budget ")."""
    groups: dict[str, list[int]] = {}
    for b, w in words.items():
        groups.setdefault(w, []).append(b)
    parts = []
    for i, (w, bs) in enumerate(groups.items()):
        parts.append(f"{w} {other if i == 0 else 'it'} at {at}{listed(bs)}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def verdict(res: dict, proxies: list[str]) -> tuple[str, list[list]]:
    """The verdict sentence and the table rows it is computed from, all on CIFAR-10 test accuracy (beat / lost
    to: a difference beyond 2 standard errors, else tied)."""
    best_of = lambda p: ("NASWOT protocol", p)  # noqa: E731
    oracle, rand = (ORACLE, TRUTH), (RANDOM, "none")
    rows: list[list] = []
    outcome: dict[str, dict[int, str]] = {}

    def compare(tag: str, a: tuple, b: tuple, budget: int, budget_b: int, paired: bool, what: str, whom: str):
        w, cells = compare_row(res, a, b, budget, budget_b, paired)
        outcome.setdefault(tag, {})[budget] = w
        rows.append([what, whom, f"{budget:,}", *cells, "paired" if paired else "independent", w])

    prior = "swap_reg" in proxies
    for n in SAMPLE_NS:
        compare("nwot", best_of("swap"), best_of("nwot"), n, n, True, "best-of-N by swap", "best-of-N by nwot")
        compare("oracle", best_of("swap"), oracle, n, n, True, "best-of-N by swap", "oracle best-of-N")
        compare("random", best_of("swap"), rand, n, 1, True, "best-of-N by swap", "random draw (first of the N)")
        if prior:
            compare("reg-swap", best_of("swap_reg"), best_of("swap"), n, n, True, "best-of-N by swap_reg",
                    "best-of-N by swap")
            compare("reg-nwot", best_of("swap_reg"), best_of("nwot"), n, n, True, "best-of-N by swap_reg",
                    "best-of-N by nwot")
    for b in SEARCH_BUDGETS:
        for algo in ("SWAP-NAS", "aging evolution"):
            for tag, other, whom in (("best", best_of("swap"), "best-of-N by swap"), ("oracle", oracle,
                                     "oracle best-of-N"), ("nwot", best_of("nwot"), "best-of-N by nwot")):
                compare(f"{algo}-{tag}", (algo, "swap"), other, b, b, False, f"{algo} (swap)", whom)
        compare("nas-evo", ("SWAP-NAS", "swap"), ("aging evolution", "swap"), b, b, False, "SWAP-NAS (swap)",
                "aging evolution (swap)")
        if prior:
            compare("nas-reg", ("SWAP-NAS", "swap_reg"), ("SWAP-NAS", "swap"), b, b, False,
                    "SWAP-NAS (swap_reg)", "SWAP-NAS (swap)")

    def lost(tag: str) -> str:
        bs = [b for b, w in outcome[tag].items() if w == "lost to"]
        return listed(bs) if bs else ""

    sentence = ("Picking the best of N random archs by swap "
                + grouped(outcome["nwot"], "picking by nwot", "N = ") + "; it "
                + grouped(outcome["oracle"], "the budget-matched oracle", "N = ") + "; it "
                + grouped(outcome["random"], "a single random draw", "N = ") + ". SWAP-NAS (swap) "
                + grouped(outcome["SWAP-NAS-best"], "best-of-N by swap", "budget ") + "; it "
                + grouped(outcome["nas-evo"], "aging evolution (swap)", "budget ") + "; it "
                + grouped(outcome["SWAP-NAS-nwot"], "best-of-N by nwot", "budget ") + "; it "
                + grouped(outcome["SWAP-NAS-oracle"], "the oracle", "budget ") + ".")
    if prior:
        sentence += (" With the size prior, best-of-N by swap_reg " + grouped(outcome["reg-swap"], "best-of-N by "
                                                                              "swap", "N = ")
                     + "; it " + grouped(outcome["reg-nwot"], "best-of-N by nwot", "N = ") + ".")
    wins = [text for text in (
        lost("nwot") and f"nwot's choice is the better one at N = {lost('nwot')}",
        lost("oracle") and f"the oracle's choice is the better one at N = {lost('oracle')}",
        lost("SWAP-NAS-nwot") and f"nwot's best-of-N beats SWAP-NAS at budget {lost('SWAP-NAS-nwot')}",
        lost("SWAP-NAS-oracle") and f"the oracle beats SWAP-NAS at budget {lost('SWAP-NAS-oracle')}") if text]
    if wins:
        sentence += " Where SWAP loses: " + "; ".join(wins) + "."
    return sentence, rows


VERDICT_HEAD = ["choice", "against", "N / budget", "CIFAR-10 (choice)", "CIFAR-10 (against)",
                "difference [± 2 SE]", "pairing", "outcome"]


# ------------------------------------------------------------------------------------------------ report
def result_rows(res: dict, keys: list[tuple], budgets_of) -> list[list[str]]:
    rows = []
    for key in keys:
        for b in budgets_of(key):
            r = res[key][b]
            rows.append([key[0], key[1], f"{b:,}", len(r["acc"]["cifar10"]),
                         *[mean_std(r["acc"][d]) for d in DATASETS], r["disconnected"]])
    return rows


HEAD = ["method", "fitness", "N / budget", "runs", *[f"{NAMES[d]} test (mean ± std)" for d in DATASETS],
        "disconnected picks"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "reports" / "search_nb201.md"))
    ap.add_argument("--workers", type=int, default=1, help="processes that score what the store lacks")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda: the device the store was filled on")
    ap.add_argument("--limit-archs", type=int, default=None, help="pool = the first K benchmark archs (a check)")
    ap.add_argument("--runs", type=int, default=RUNS, help=f"runs of the sample-N methods (default {RUNS}); also "
                    "caps --search-runs")
    ap.add_argument("--search-runs", type=int, default=SEARCH_RUNS, help="runs of SWAP-NAS and aging evolution "
                    f"per fitness and budget (default {SEARCH_RUNS})")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    if args.runs < 2 or args.search_runs < 2:
        sys.exit("error: --runs and --search-runs must be >= 2 (a standard deviation needs two runs)")
    t0 = time.perf_counter()

    from swaplm.report import cited_section, git_commit, markdown_table, provenance_footer
    from swaplm.runner.settings import resolve_device
    from swaplm.search import BenchmarkView, TableFitness
    from swaplm.spaces import get_space

    progress = not args.no_progress
    device = resolve_device(args.device)
    space = get_space("nb201")  # the cifar10 build, its default inputs (CIFAR-10 training images)
    proxies = fitness_proxies(space)
    command = "OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", "(unset)") + " python " + " ".join(
        [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])

    bench = stored_values(space, limit=args.limit_archs, device=device, workers=args.workers, progress=progress)
    fill_s = sum(s for _, s in bench.values())
    records = space.benchmark()[: len(bench["swap"][0].rows)]
    view = BenchmarkView(space, records)
    fits = {p: TableFitness.from_bench(space, bench["nwot" if p == "nwot" else "swap"][0], p) for p in proxies}
    truth = TableFitness(space, {space.key(r.arch): r.scores["cifar10"] for r in records}, name="cifar10 test")
    runs, search_runs = args.runs, min(args.search_runs, args.runs)
    t_search = time.perf_counter()
    res = run_methods(view, methods(view, fits, truth, proxies, runs, search_runs), progress)
    search_s = time.perf_counter() - t_search

    sentence, verdict_rows = verdict(res, proxies)
    sample_keys = [("NASWOT protocol", p) for p in proxies] + [(ORACLE, TRUTH), (RANDOM, "none")]
    search_keys = [(a, p) for a in ("SWAP-NAS", "aging evolution") for p in search_fitness(proxies)]
    sample_table = markdown_table(HEAD, result_rows(res, sample_keys, lambda k: sorted(res[k])),
                                  align="lllrrrrr")
    search_table = markdown_table(HEAD, result_rows(
        res, search_keys + [("NASWOT protocol", p) for p in proxies] + [(ORACLE, TRUTH)],
        lambda k: [b for b in SEARCH_BUDGETS if b in res[k]]), align="lllrrrrr")

    sw, nw = bench["swap"][0], bench["nwot"][0]
    s_set, n_set = sw.settings, nw.settings
    pool = len(records)
    disconnected = sum(not space.connected(r.arch) for r in records)
    ctx_rows = []
    for d in DATASETS:
        acc = [float(r.scores[d]) for r in records]
        conn = [float(r.scores[d]) for r in records if space.connected(r.arch)]
        ctx_rows.append([NAMES[d], f"{max(acc):.2f}", f"{statistics.fmean(acc):.2f}",
                         f"{statistics.fmean(conn):.2f}" if conn else "—"])
    prior = space.protocol.regularise
    computed = sw.computed + nw.computed
    pool_text = (f"all {pool:,} NAS-Bench-201 archs" if args.limit_archs is None else
                 f"the first {pool:,} benchmark archs by index (--limit-archs {args.limit_archs}: a check of the "
                 "script, not the study)")
    lines = [
        "# NAS-Bench-201 search in benchmark mode (fitness from the bench store)", "",
        "Command:", "", "```", command, "```", "",
        f"Commit: {git_commit()}. Wall time {time.perf_counter() - t0:.0f} s (reading or filling the store "
        f"{fill_s:.0f} s, {computed:,} values computed in this run; searches {search_s:.0f} s).", "",
        "## Verdict", "", sentence, "",
        "Computed from the CIFAR-10 test accuracy of the chosen archs: beat / lost to when the difference of the "
        "means is beyond 2 standard errors, else tied. Paired: the same seeds, so the same N samples (the standard "
        "error is that of the per-run differences); independent: separate runs.", "",
        markdown_table(VERDICT_HEAD, verdict_rows, align="lllrrrll"), "",
        "## Protocol", "",
        f"- Pool: {pool_text}, the {disconnected:,} archs without an input-to-output path included (they sit at "
        "chance accuracy in the benchmark). Every candidate is a benchmark arch: sampling is uniform over the pool "
        "(with replacement), and a mutation or crossover child is mapped to the nearest pool arch (on the full "
        "benchmark the child itself).",
        "- Truth: NAS-Bench-201 test accuracy after 200 epochs (CIFAR-10: trained on train+valid, tested on the 10k "
        "test set; CIFAR-100 and ImageNet16-120: the benchmark's x-test half). The oracle keeps the best CIFAR-10 "
        "test accuracy of its N samples: that is the truth we have (no validation accuracy ships), so the oracle "
        "peeks at the test set and bounds what any choice among the same N can reach.",
        f"- Fitness swap{' and swap_reg' if prior is not None else ''} at the nb201 space's default protocol: "
        f"N = {s_set['n']} images, {s_set['repeats']} pass(es), init {s_set['init'] or 'PyTorch default'}, "
        f"{s_set['mode']} mode"
        + (f"; swap_reg's size prior μ = {prior.mu:g}, σ = {prior.sigma:g} (Θ in {prior.unit} parameters)"
           if prior is not None else
           "; the protocol has no size prior, so swap_reg is skipped (no swap_reg rows)") + ".",
        f"- Fitness nwot at batch {n_set['n']} (not NWOT's published 128), same images and init.",
        f"- Images: {sw.settings['inputs']}, the same batch for every arch, seed 0; the cifar10 build (the "
        "benchmark's network, C = 16, 5 cells per stage, 10-class classifier); device "
        f"{s_set['device']}. Every fitness is the cifar10 build's: the CIFAR-100 and ImageNet16-120 columns are the "
        "accuracies of the same chosen cells on those datasets (as in NWOT's table).",
        f"- Values from the bench store `{s_set['cache']}`, filed under the same identity as `swaplm bench nb201 "
        f"--task cifar10 --proxies swap,swap_reg,params` and `swaplm bench nb201 --task cifar10 --proxies nwot -n "
        f"{NWOT_N}`: swap run {sw.computed:,} computed here / {sw.from_cache:,} read; nwot run {nw.computed:,} "
        f"computed here / {nw.from_cache:,} read.",
        f"- Runs: seed r = 0, 1, … ({runs} runs of each sample-N method, {search_runs} of each search per fitness "
        "and budget; run r uses `random.Random(r)` for every method and budget). So at one seed every sample-N "
        "method sees the same N archs (the comparisons among them are paired), the random draw is the first of "
        "them, and a smaller N's sample is the start of a larger one's.",
        "- SWAP-NAS: P = 20, S = 5, M = 5, crossover 0.5; aging evolution: P = 20, S = 5. Budget = fitness "
        "evaluations (a repeated arch counts again). Ties in fitness: the first evaluated is kept.",
        "- ± is the standard deviation over runs; the verdict's brackets are 2 standard errors of the difference.",
        "", "## Sample N, keep the best (NASWOT protocol)", "", sample_table, "",
        "## Searches at equal evaluation budget", "",
        "Best-of-N and oracle rows repeat the table above at the same budgets, for comparison.", "", search_table, "",
        "## The benchmark, for context", "",
        markdown_table(["dataset", "best test accuracy", "mean (pool)", "mean (connected archs)"], ctx_rows,
                       align="lrrr"), "",
        "## Cited figures: NWOT's published NAS-Bench-201 search (not computed here)", "",
        cited_section(CITED), "",
        "NWOT's protocol differs from this report's in its batch (128 CIFAR-10 training images; nwot here uses "
        f"{NWOT_N}) and in the runs' samples; compare its rows with the NASWOT-protocol (nwot) rows above.", "",
        "## Cost", "",
        markdown_table(["stage", "seconds"], [["read / fill the store: swap run", f"{bench['swap'][1]:.1f}"],
                                             ["read / fill the store: nwot run", f"{bench['nwot'][1]:.1f}"]]
                       + [[f"{k[0]} ({k[1]}), N / budget {b:,}", f"{v['seconds']:.1f}"]
                          for k, per in res.items() for b, v in per.items()], align="lr"), "",
        provenance_footer()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
