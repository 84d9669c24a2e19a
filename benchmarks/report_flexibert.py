"""Make reports/flexibert_glue.md: SWAP vs GLUE over the 500 NAS-Bench-BERT (FlexiBERT) architectures.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/report_flexibert.py --out reports/flexibert_glue.md

Every score is computed by swaplm on the shipped WikiText-2 sample (128 packed blocks of 128 tokens) and cached
per architecture, so a rerun resumes. Steps:
1. reference build (hidden 256 / FF 1024 for every record, no attention mask), reference protocol (N = 128,
   HF default init, one pass, train mode, padding counted) on all 500 records;
2. faithful build (the record's hidden size and FF widths, attention mask applied), same protocol;
3. regularised SWAP: μ/σ (Θ in millions of parameters) tuned on ids 0–249 of each build, reported on 250–499;
4. saturation: SWAP and SWAP / neurons at N ∈ {8, 16, 32, 64, 128} on a subset, and on padded SST-2 sentences
   with padding counted (reference) vs masked;
5. peak memory of a SWAP run vs a bare forward on the largest reference model.

Every correlation carries a 95 % bootstrap interval; the trivial baselines (#layers, Σ FF layers and the two-feature
rule layers+hidden) are ranked on the same records as the proxies, and the mean ρ inside each (layers, hidden)
stratum is shown for all. Wall times are this invocation's and the per-record seconds stored in the bench cache;
figures from elsewhere appear only in the "Cited figures" section, each with its source (``CITED`` below).
``--limit N`` runs every step on the first N records only (to check the script; write such a report elsewhere).
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import torch

from swaplm import stats, swap_score
from swaplm.bench import run_bench, split
from swaplm.report import cited_section, interval_text, markdown_table, provenance_rows, write_report
from swaplm.spaces import get_space
from swaplm.swap import Regularise

TUNE_IDS, HOLDOUT_IDS = range(0, 250), range(250, 500)
MU_GRID = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0]  # millions of parameters
SIGMA_GRID = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0]

#: figures from elsewhere, printed only as citations in their own section (never mixed with computed ones)
FACTS, ANCHORS = "../shared/reference/method-facts.md", "../shared/reference/anchors.md"
CITED = [
    ("SWAP Spearman ρ vs GLUE, 500 archs, published", "0.71", f"{FACTS} §4.1 (TPAMI abstract)"),
    ("SWAP ρ vs GLUE, the released reference code (random tokens, N = 128, L = 16)", "0.702 (Kendall 0.481)",
     f"{FACTS} §1.7 item 6, §4.1"),
    ("reference-code time per model, N = 128, L = 128, CPU, 2 threads", "7.6–44.8 s", f"{FACTS} §1.9"),
    ("sorting by (layers, hidden size), GLUE, 500 archs", "ρ 0.925, τ 0.801", f"{ANCHORS} §0"),
    ("Head Confidence ρ vs GLUE (Serianni & Kalita's scores), 500 archs", "0.716", f"{FACTS} §4.2"),
    ("LPZero ρ vs GLUE, 500 archs (0.760 on the 50 archs it was fitted on)", "0.715", f"{ANCHORS} §0, §1.5"),
    ("mean ρ on random 50-arch subsets: #layers / layers+hidden", "0.827±0.024 / 0.919±0.020", f"{ANCHORS} §0"),
]


def _cell(c: dict, stat: str = "spearman") -> str:
    return interval_text(c[stat], c.get(f"{stat}_ci"))


def _within(c: dict) -> str:
    w = c.get("within_strata")
    return interval_text(w["spearman_mean"], w.get("spearman_mean_ci")) if w else "—"


def verdict(result, task: str = "glue") -> str:
    """Computed sentence: the best proxy vs the best trivial baseline on ``task``, with intervals."""
    corr = result.correlations(intervals=True)
    def rho(n):  # an undefined rho (constant column) never counts as best
        r = corr[n][task]["spearman"]
        return r if r == r else -2.0

    best_p = max(result.proxies, key=rho)
    best_f = max(result.features, key=rho)
    p, f = corr[best_p][task], corr[best_f][task]
    side = ("**no proxy beats the trivial baseline**" if p["spearman"] <= f["spearman"]
            else "the best proxy ranks above every trivial baseline")
    return (f"On {task} over {len(result.rows)} records {side}: best proxy `{best_p}` ρ {_cell(p)}, best baseline "
            f"`{best_f}` ρ {_cell(f)}. Inside the (layers, hidden) strata `{best_p}` keeps a mean ρ of "
            f"{_within(p)}.")


def tune(result, task: str = "glue") -> tuple[float, float, list]:
    """Grid μ, σ (Θ in M) maximising Spearman(swap × exp(-(Θ-μ)²/σ), task) on ids 0–249."""
    rows = [r for r in result.rows if r.id in TUNE_IDS and r.values.get("swap") is not None]
    swap = np.array([r.values["swap"] for r in rows])
    theta = np.array([r.values["params"] for r in rows]) / 1e6
    truth = np.array([r.truth[task] for r in rows])
    grid = [(mu, sg, stats.spearman(swap * np.exp(-((theta - mu) ** 2) / sg), truth))
            for mu in MU_GRID for sg in SIGMA_GRID]
    grid.sort(key=lambda g: -g[2])
    return grid[0][0], grid[0][1], grid


def _verdict(result, mu, sigma, grid) -> str:
    """One clause comparing the tuned prior with plain SWAP on the tuning ids, and flagging a grid edge."""
    rows = [r for r in result.rows if r.id in TUNE_IDS and r.values.get("swap") is not None]
    plain = stats.spearman([r.values["swap"] for r in rows], [r.truth["glue"] for r in rows])
    text = f"; plain SWAP {plain:.3f} there"
    if grid[0][2] <= plain:
        text += ": no prior in the grid beats plain SWAP on this build"
    if sigma == SIGMA_GRID[-1] or mu in (MU_GRID[0], MU_GRID[-1]):
        text += "; the optimum lies on the grid's edge (the flattest prior tried)" if sigma == SIGMA_GRID[-1] \
            else "; the optimum lies on the grid's edge"
    return text


def per_task_table(result, names) -> str:
    corr = result.correlations(intervals=True)
    rows = [[n, *(_cell(corr[n][t]) for t in result.tasks)] for n in names]
    return markdown_table(["proxy / baseline", *result.tasks], rows)


def halves_table(result, names, task="glue") -> str:
    have = {r.id for r in result.rows}
    parts = split(result, {label: ids for label, ids in
                           {f"all {len(result.rows)}": sorted(have), "0–249 (tuning)": TUNE_IDS,
                            "250–499 (held out)": HOLDOUT_IDS}.items() if have.intersection(ids)}, intervals=True)
    rows = [[n, *(_cell(parts[p][n][task]) for p in parts), *(_cell(parts[p][n][task], "kendall") for p in parts)]
            for n in names]
    return markdown_table(["proxy / baseline", *(f"ρ {p}" for p in parts), *(f"τ {p}" for p in parts)], rows)


def glue_table(result) -> str:
    """ρ, τ and the mean within-strata ρ on GLUE, each with its interval, for every proxy and baseline."""
    corr = result.correlations(intervals=True)
    rows = [[n, _cell(c["glue"]), _cell(c["glue"], "kendall"), _within(c["glue"])] for n, c in corr.items()]
    return markdown_table(["proxy / baseline", "ρ", "τ", "mean ρ within (layers, hidden) strata"], rows)


def saturation(space, stride: int, workers: int, limit: int | None = None) -> tuple[str, float, int, int]:
    """SWAP / saturation vs N (packed WikiText-2) and padding handling (padded SST-2 sentences)."""
    ids = list(range(0, limit or 500, stride))
    t0, computed, total = time.perf_counter(), 0, 0
    rows = []
    settings = [(n, None, "reference") for n in (8, 16, 32, 64, 128)]
    settings += [(128, "builtin:sst2", "reference"), (128, "builtin:sst2", "mask")]
    for n, data, padding in settings:
        res = run_bench(space, proxies=["swap", "params"], ids=ids, n=n, data=data, padding=padding,
                        workers=workers, progress=False)
        computed, total = computed + sum(not r.cached for r in res.rows), total + len(res.rows)
        neurons = _neurons(space, res, n, data, padding)
        swaps = np.array([r.values["swap"] for r in res.rows])
        sat = swaps / np.array([neurons[r.id] for r in res.rows])
        corr = res.correlations(intervals=True)
        sff = [r.features["sum_feed_forward"] for r in res.rows]
        rows.append([n, data or "wikitext2 blocks (no padding)", padding, float(swaps.mean()), float(sat.mean()),
                     float(sat.min()), _cell(corr["swap"]["glue"]), _cell(corr["num_layers"]["glue"]),
                     _cell(corr["sum_feed_forward"]["glue"]),
                     interval_text(stats.spearman(swaps, sff), stats.bootstrap_ci(swaps, sff))])
        print(f"saturation N={n} data={data} padding={padding}: mean sat {sat.mean():.3f}, "
              f"ρ={corr['swap']['glue']['spearman']:.3f}", flush=True)
    table = markdown_table(["N", "data", "padding", "mean SWAP", "mean saturation", "min saturation",
                            "ρ(SWAP, GLUE)", "ρ(#layers, GLUE)", "ρ(ΣFF, GLUE)", "ρ(SWAP, ΣFF)"], rows)
    text = (f"Reference build, HF default init, train mode, one pass, {len(ids)} records (ids 0, {stride}, …, "
            f"{ids[-1]}). Saturation = SWAP / hooked neurons (1.0: every neuron's pattern distinct). "
            "`padding=reference` counts padded positions as the published code did; `mask` sets them to the "
            "inactive state. SST-2 sentences are padded to the longest of the 128 chosen. Brackets: 95 % "
            "bootstrap intervals.\n\n" + table)
    return text, time.perf_counter() - t0, computed, total


def _neurons(space, res, n, data, padding) -> dict[int, int]:
    """Hooked neurons per sample of each scored record: a forward on the first 2 rows of the same batch
    (same sequence length L; the count is per sample, so independent of N)."""
    full = space.inputs(data, n=n)
    two = {k: v[:2] for k, v in full.items()}
    wanted = {row.id for row in res.rows}
    out = {}
    for r in space.benchmark():
        if r.id in wanted:
            out[r.id] = swap_score(space.build(r.arch), two, mode="eval", padding=padding).neurons
    return out


def peak_memory(space) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from engine import bare, peak_bytes  # noqa: E402

    recs = space.benchmark()
    big = max(recs, key=lambda r: (space.num_layers(r.arch), space.sum_feed_forward(r.arch)))
    torch.manual_seed(0)
    model = space.build(big.arch).train()
    batch = space.inputs(n=128)
    gc.collect()
    m_bare, _ = peak_bytes(bare, model, batch)
    m_swap, _ = peak_bytes(lambda m, b: swap_score(m, b, mode="train", padding="reference"), model, batch)
    t0 = time.perf_counter()
    bare(model, batch)
    t_bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    swap_score(model, batch, mode="train", padding="reference")
    t_swap = time.perf_counter() - t0
    return (f"Largest reference model (record {big.id}: {space.num_layers(big.arch)} layers, "
            f"Σ FF layers {space.sum_feed_forward(big.arch)}), N = 128, L = 128, train mode: peak live tensor "
            f"memory during the call (torch profiler) — bare forward {m_bare / 2**20:.1f} MB, SWAP "
            f"{m_swap / 2**20:.1f} MB (**{m_swap / m_bare:.2f}×**); time bare {t_bare:.2f} s, SWAP {t_swap:.2f} s "
            f"({t_swap / t_bare:.2f}×, one measurement each).")


def _timing(label: str, res, secs: float) -> str:
    """A step's times, each written by the code that measured it: this invocation's wall time and the per-record
    seconds stored with the rows (when and with which versions those rows were computed)."""
    prov = dict(provenance_rows(res))
    return (f"- {label}: {secs:.0f} s this invocation ({res.computed} of {len(res.rows)} records scored now, the "
            f"rest read from the cache); {res.compute_seconds():.0f} s of scoring summed over the per-record seconds "
            f"stored with the rows (mean {res.mean_seconds()['swap']:.2f} s swap, build "
            f"{res.mean_seconds()['build']:.2f} s per record); rows computed at {prov['rows computed at']} with "
            f"{prov['versions that computed the rows']}.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports/flexibert_glue.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-proxies", default="all", help="proxies for the subset table ('all', or a list)")
    ap.add_argument("--baseline-stride", type=int, default=10)
    ap.add_argument("--baseline-n", type=int, default=16)
    ap.add_argument("--saturation-stride", type=int, default=5)
    ap.add_argument("--skip-saturation", action="store_true")
    ap.add_argument("--skip-peak-memory", action="store_true")
    ap.add_argument("--builds", default="reference,faithful")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records (to check the script quickly)")
    args = ap.parse_args()
    from swaplm.proxies import available

    extra = available("transformer") if args.baseline_proxies == "all" else [p for p in args.baseline_proxies.split(",") if p]
    lim = {"limit": args.limit} if args.limit else {}
    n_all = args.limit or 500
    results, sections, timings = {}, [], []
    for build in args.builds.split(","):
        space = get_space("flexibert", build=build)
        t0 = time.perf_counter()
        base = run_bench(space, proxies=["swap", "params"], workers=args.workers, **lim)
        timings.append(_timing(f"{build} build, swap + params, {len(base.rows)} records at N = 128, L = 128, "
                               f"{args.workers} worker process(es)", base, time.perf_counter() - t0))
        mu, sigma, grid = tune(base)
        print(f"{build}: tuned mu={mu} sigma={sigma} (M params) rho={grid[0][2]:.3f} on 0-249", flush=True)
        # swap and params come from the cache; swap_reg is derived from them
        final = run_bench(space, proxies=["swap", "swap_reg", "params"], regularise=Regularise(mu, sigma, unit="M"),
                          workers=args.workers, **lim)
        results[build] = final
        rows = [*final.proxies, *final.features]
        sections.append((f"{build.capitalize()} build: proxies against the trivial baselines (GLUE)",
                         verdict(final) + "\n\n" + glue_table(final)))
        sections.append((f"{build.capitalize()} build: Spearman ρ per task (all {len(final.rows)})",
                         "Brackets: 95 % bootstrap intervals.\n\n" + per_task_table(final, rows)))
        sections.append((f"{build.capitalize()} build: GLUE on both halves",
                         f"μ/σ of `swap_reg` (Θ in millions of parameters, factor exp(-(Θ-μ)²/σ)) chosen by grid "
                         f"search over μ ∈ {MU_GRID}, σ ∈ {SIGMA_GRID} on ids 0–249 (GLUE): **μ = {mu}, "
                         f"σ = {sigma}** (ρ {grid[0][2]:.3f} there{_verdict(base, mu, sigma, grid)}).\n\n"
                         + halves_table(final, rows)))
        if extra:
            ids = list(range(0, n_all, args.baseline_stride))
            t0 = time.perf_counter()
            allp = run_bench(space, proxies=["swap", *[p for p in extra if p != "swap"]], ids=ids,
                             n=args.baseline_n, regularise=Regularise(mu, sigma, unit="M"), workers=args.workers)
            timings.append(_timing(f"{build} build, every proxy on {len(ids)} records at N = {args.baseline_n}",
                                   allp, time.perf_counter() - t0))
            corr, mean_s = allp.correlations(intervals=True), allp.mean_seconds()
            rows = [[p, _cell(corr[p]["glue"]), _cell(corr[p]["glue"], "kendall"), _within(corr[p]["glue"]),
                     *(_cell(corr[p][t]) for t in allp.tasks if t != "glue"), mean_s.get(p), allp.failures().get(p, 0)]
                    for p in [*allp.proxies, *allp.features]]
            table = markdown_table(["proxy", "GLUE ρ", "GLUE τ", "GLUE ρ within strata",
                                    *(f"{t} ρ" for t in allp.tasks if t != "glue"), "s / record", "failed"], rows)
            sections.append((f"{build.capitalize()} build: every proxy on a subset",
                             f"All registered proxies on {len(ids)} records (ids 0, {args.baseline_stride}, …, "
                             f"{ids[-1]}) with N = {args.baseline_n} packed WikiText-2 blocks of 128 tokens (the "
                             f"gradient proxies cost several forwards and backwards each, so the full 500 × N = 128 "
                             f"run is out of this machine's budget). Same seed, init and mode as above; labels: "
                             f"none (label-needing proxies use the surrogate their card names). The trivial baselines "
                             f"(`num_layers`, `sum_feed_forward`, `layers+hidden`) are ranked on **the same "
                             f"{len(ids)} records**; brackets are 95 % bootstrap intervals, so differences inside "
                             f"them are noise at this n.\n\n" + verdict(allp) + "\n\n" + table))

    ref = results.get("reference")
    if ref is not None:
        space = get_space("flexibert", build="reference")
        if not args.skip_peak_memory:
            sections.append(("Peak memory", peak_memory(space)))
        if not args.skip_saturation:
            t0 = time.perf_counter()
            text, secs, computed, total = saturation(space, args.saturation_stride, args.workers, args.limit)
            sections.append(("Saturation: does SWAP carry information beyond size?",
                             text + f"\n\nSaturation runs: {secs:.0f} s this invocation ({computed} of {total} "
                             "record scores computed now, the rest read from the cache)."))
    sections.append(("Wall time", "\n".join(timings)))
    main_result = ref if ref is not None else next(iter(results.values()))
    if "faithful" in results and ref is not None:
        sections.insert(0, (f"Faithful build (GLUE, all {len(results['faithful'].rows)})",
                            glue_table(results["faithful"])))
    sections.append(("Cited figures (not computed here)", cited_section(CITED)))
    cmd = "OMP_WAIT_POLICY=PASSIVE python benchmarks/report_flexibert.py " + " ".join(sys.argv[1:])
    write_report(main_result, args.out, command=cmd,
                 title=f"SWAP on {len(main_result.rows)} NAS-Bench-BERT architectures (GLUE)",
                 extra_sections=sections, plots=["swap", "params", "num_layers"] if ref else None,
                 headline_task="glue")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
