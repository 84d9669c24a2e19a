"""Make reports/transformer_proxies.md: SWAP variants, transformer proxies and rank ensembles on NAS-Bench-BERT
(FlexiBERT, both builds) and DARTS, with settings chosen on a tuning half and numbers reported on the other.

    OMP_WAIT_POLICY=PASSIVE nice -n 10 python benchmarks/report_transformer_proxies.py --workers 2

Protocol
1. FlexiBERT, reference and faithful build, the space protocol (N = 128 packed WikiText-2 blocks of 128 tokens,
   weights as built, train mode, padding counted): every SWAP variant of ``swaplm.proxies.swap_variants`` (one
   shared forward per record) and ``params`` on a declared subset (every ``--stride``-th id). The variant and the
   ensembles are chosen on ids 0–249 (criterion: mean Spearman ρ inside the (layers, hidden) groups, the
   information beyond size); the numbers that count are those on ids 250–499. Baselines (#layers, #params,
   Σ FF layers, the two-feature rule layers-then-hidden) are ranked on the same records.
2. Every other transformer proxy (registry family "transformer", helper proxies included when registered) on
   every ``--other-stride``-th id at N = ``--other-n`` (the gradient proxies cost several passes each), with the
   baselines on the same records; lpzero is evaluated without ids 0–49 (it was fitted on them).
3. Cost per architecture at N = 128: every proxy on ``--timing-ids`` of each build (wall seconds per proxy,
   from the bench rows; all swap variants share one forward, so their cost is the sum of their columns).
4. DARTS (space protocol: N = 16, 32 Gaussian re-inits, train mode): the variants, swap, synflow, logsynflow,
   params on ids 0–999 (every ``--darts-stride``-th); variant and ensemble chosen on 0–499, reported on 500–999.

Ensembles are ``swaplm.stats.rank_ensemble`` (mean of scaled ranks). Every correlation carries a 95 % bootstrap
interval. Figures from elsewhere appear only in the cited section. ``--limit N`` runs on the first N ids only
(to check the script; write such a report elsewhere).
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from swaplm import stats
from swaplm.bench import run_bench
from swaplm.proxies import available
from swaplm.proxies.swap_variants import PROXIES as VARIANT_PROXIES
from swaplm.report import (cited_section, fmt, interval_text, markdown_table, provenance_footer, provenance_rows,
                           versions)
from swaplm.spaces import get_space

VARIANTS = [p.name for p in VARIANT_PROXIES]  # registered variants + grid (swap_pooled = SWAP itself)
HELPER_PROXIES = ["w_pca", "meco", "dss", "zico", "lpzero"]
LPZERO_FIT_IDS = range(0, 50)
BASELINES = ["params", "num_layers", "sum_feed_forward", "layers+hidden"]
ANCHORS = "../shared/reference/anchors.md"
CITED = [
    ("two-feature rule (layers, then hidden) vs GLUE, all 500 NB-BERT archs", "ρ 0.925, τ 0.801", f"{ANCHORS} §0"),
    ("#layers vs GLUE, all 500", "ρ 0.834", f"{ANCHORS} §0"),
    ("published SWAP vs GLUE, 500 archs", "ρ 0.71", f"{ANCHORS} §1.1"),
    ("Head Confidence (Serianni & Kalita's scores), 500 archs", "ρ 0.716", f"{ANCHORS} §1.2"),
    ("LPZero published scores, 500 archs (0.760 on its 50 fitting archs)", "ρ 0.715", f"{ANCHORS} §1.5"),
    ("ZeroLM (abstract), FlexiBERT", "ρ 0.76, τ 0.53", f"{ANCHORS} §1.6"),
    ("DARTS-1000: SWAP / synflow (published code runs)", "ρ 0.916 / 0.925", f"{ANCHORS} §0"),
]


NOTES = """\
- **What the variants are** (`swaplm.proxies.swap_variants`; one hooked forward per record serves all of them).
  Every call of a hooked activation module (FlexiBERT: the GELU of each feed-forward Linear, so a layer with 3 FF
  Linears gives 3 calls) is one *layer* l. `swap_layer_log` = Σ_l log distinct_l and `swap_layer_mean` = mean_l
  distinct_l / neurons_l (per-layer counts, so depth no longer multiplies one pooled count); `swap_tokens_*` /
  `swap_tok24_*`: tokens as samples, the pattern of each (sequence, hidden unit) over its first 16 / 24 token
  positions; `swap_small_*` / `swap_n8_*`: patterns over disjoint groups of 16 / 8 samples of the batch, averaged
  over the groups (small N with repeats, from the same forward); `swap_pre`: SWAP on the activation inputs
  (pre-activation signs); `swap_pooled`: SWAP itself from the same profile (tested equal to `swaplm.swap_score`).
- **Pre- vs post-activation signs differ only through exact zeros.** GELU(x) = x·Φ(x) has the sign of x, but in
  float32 it returns exactly −0.0 for x ≤ −6 (Φ underflows), so post-activation patterns have a third state where
  pre-activation ones are −1. That is the whole difference between `swap_pre` and `swap_pooled`.
- **N = {n}** for the variant study{n_note}; `swap_pooled` is SWAP at that N, so every variant is compared on the
  same forward. Costs at N = 128 are measured separately below.
- **Selection.** On NAS-Bench-BERT the variant and the ensemble weights are chosen by the within-(layers, hidden)
  mean ρ on the tuning ids (the question is what a proxy knows beyond size); on DARTS by overall ρ. Only the
  held-out columns answer the question; the tuning columns show what was chosen and why.
- **Ensembles** are `swaplm.stats.rank_ensemble` (mean of [0, 1]-scaled ranks, optional weights), available to
  users for any bench columns: `rank_ensemble([res.values("swap"), res.values("params")])`. `layers+hidden` is a
  hand-made rule from the architecture description, not a proxy; ensembles with it are shown as hybrids.
"""

# ------------------------------------------------------------------------------------------------- helpers
def _hib(result, name: str) -> bool:
    return result.higher_is_better.get(name, True)


def column(result, name: str, ids) -> tuple[np.ndarray, np.ndarray, list]:
    """(values, glue/cifar truth, strata) of ``name`` on the rows whose id is in ``ids``."""
    keep = set(ids)
    rows = [i for i, r in enumerate(result.rows) if r.id in keep]
    vals = result.values(name)
    truth = result.truth(result.tasks[0])
    strata = result.strata() or [None] * len(result.rows)
    return (np.array([np.nan if vals[i] is None else vals[i] for i in rows], dtype=float),
            np.array([np.nan if truth[i] is None else truth[i] for i in rows], dtype=float),
            [strata[i] for i in rows])


def evaluate(values, truth, strata, hib=True, intervals=True) -> dict:
    c = stats.correlations(values, truth, higher_is_better=hib, intervals=intervals)
    if any(s is not None for s in strata):
        c["within"] = stats.within_strata(values, truth, strata, higher_is_better=hib, intervals=intervals)
    return c


def cells(c: dict) -> list[str]:
    w = c.get("within")
    return [interval_text(c["spearman"], c.get("spearman_ci")), interval_text(c["kendall"], c.get("kendall_ci")),
            interval_text(w["spearman_mean"], w.get("spearman_mean_ci")) if w else "—"]


def _score(c: dict, key: str) -> float:
    v = c["within"]["spearman_mean"] if key == "within" else c["spearman"]
    return v if v == v else -2.0


def ensemble_values(result, names, ids, weights=None) -> np.ndarray:
    cols = [column(result, n, ids)[0] for n in names]
    return stats.rank_ensemble(cols, [_hib(result, n) for n in names], weights)


def usable(result, names) -> list[str]:
    """Names with at least one finite, non-constant value (a variant that fails on a space is dropped)."""
    out = []
    for n in names:
        v = np.array([np.nan if x is None else x for x in result.values(n)], dtype=float)
        v = v[np.isfinite(v)]
        if v.size >= 2 and not np.all(v == v[0]):
            out.append(n)
    return out


def split_ids(result, boundary: int) -> tuple[list[int], list[int]]:
    ids = [r.id for r in result.rows]
    return [i for i in ids if i < boundary], [i for i in ids if i >= boundary]


def timing_text(label: str, res, secs: float) -> str:
    prov = dict(provenance_rows(res))
    return (f"- {label}: {secs:.0f} s this invocation ({res.computed} of {len(res.rows)} records scored now, the "
            f"rest read from the cache); rows computed at {prov['rows computed at']} with "
            f"{prov['versions that computed the rows']}.")


# ------------------------------------------------------------------------------------------- the studies
def variant_study(result, names, baselines, boundary: int, criterion: str, ensembles_with: list[str]):
    """Choose the variant and the ensembles on ids < boundary, evaluate on ids >= boundary.

    Returns (markdown, summary dict)."""
    tune, held = split_ids(result, boundary)
    rows, tuned = [], {}
    for n in [*names, *baselines]:
        hib = _hib(result, n)
        ct = evaluate(*column(result, n, tune), hib=hib, intervals=False)
        ch = evaluate(*column(result, n, held), hib=hib)
        tuned[n] = (ct, ch)
        rows.append([n, fmt(ct["spearman"]), fmt(ct["within"]["spearman_mean"]) if "within" in ct else "—",
                     *cells(ch)])
    best = max(names, key=lambda n: _score(tuned[n][0], criterion))
    best_overall = max(names, key=lambda n: _score(tuned[n][0], "overall"))
    # ensembles: the chosen variant with each partner (equal weights), every pair of variants, and the chosen
    # variant with a partner at weight w ∈ {0.25, 0.5, 0.75}; the one best on the tuning ids is reported
    candidates = []
    for partner in ensembles_with:
        for w in (0.25, 0.5, 0.75):
            candidates.append(((best, partner), (w, 1 - w)))
    for a, b in itertools.combinations([*names, *ensembles_with], 2):
        if (a, b) != (best, b) or b not in ensembles_with:
            candidates.append(((a, b), (0.5, 0.5)))
    ens_rows, ens_best = [], {}
    scored = []
    for members, weights in candidates:
        vt = ensemble_values(result, members, tune, weights)
        _, tt, st = column(result, members[0], tune)
        scored.append((_score(evaluate(vt, tt, st, intervals=False), criterion), members, weights))
    scored.sort(key=lambda s: -s[0])
    shown = []
    for partner in ensembles_with:  # the best weighting with each partner, and the best pair of variants
        pick = next(s for s in scored if s[1] == (best, partner))
        shown.append(pick)
    pair = next((s for s in scored if s not in shown and s[1][0] != best), None)
    if pair is not None:
        shown.append(pair)
    for tscore, members, weights in shown:
        vh = ensemble_values(result, members, held, weights)
        _, th, sh = column(result, members[0], held)
        ch = evaluate(vh, th, sh)
        label = " ⊕ ".join(f"{m}×{w:g}" for m, w in zip(members, weights))
        ens_best[label] = (tscore, ch)
        ens_rows.append([label, fmt(tscore), *cells(ch)])
    crit = "within-group mean ρ" if criterion == "within" else "overall ρ"
    md = (f"Tuning ids: {len(tune)} records with id < {boundary}; held out: {len(held)} records with id ≥ "
          f"{boundary}. Brackets: 95 % bootstrap intervals on the held-out records.\n\n"
          + markdown_table(["proxy / baseline", "ρ tuning", "within ρ tuning", "ρ held out", "τ held out",
                            "within-group mean ρ held out"], rows)
          + f"\n\nChosen on the tuning ids by {crit}: **`{best}`** (by overall ρ: `{best_overall}`).\n\n"
          "Rank-average ensembles (`swaplm.stats.rank_ensemble`), weights chosen on the tuning ids:\n\n"
          + markdown_table(["ensemble", f"{crit} tuning", "ρ held out", "τ held out",
                            "within-group mean ρ held out"], ens_rows))
    return md, {"best": best, "best_overall": best_overall, "tuned": tuned, "ensembles": ens_best}


def flexibert_variants(build: str, args, ids):
    space = get_space("flexibert", build=build)
    t0 = time.perf_counter()
    res = run_bench(space, proxies=[*VARIANTS, "params"], ids=ids, n=args.n, workers=args.workers,
                    cache_dir=args.cache)
    secs = time.perf_counter() - t0
    names = usable(res, VARIANTS)
    md, summary = variant_study(res, names, BASELINES, 250, "within", ["params", "layers+hidden"])
    summary["result"], summary["n"] = res, args.n
    return md, summary, timing_text(f"{build} build, {len(VARIANTS)} variants + params on {len(res.rows)} records "
                                    f"at N = {args.n}", res, secs)


def other_proxies(build: str, args, ids):
    """Every other transformer proxy on ``ids`` at N = ``--other-n``: all records, tuning ids (< 250) and
    held-out ids; the proxy with the best within-group ρ on the tuning ids is the one the summary quotes.

    Returns (markdown, result, names, timing line, summary dict)."""
    space = get_space("flexibert", build=build)
    names = [p for p in available("transformer") if p not in VARIANTS and p not in ("swap_reg", "params")]
    t0 = time.perf_counter()
    res = run_bench(space, proxies=[*names, "params"], ids=ids, n=args.other_n, workers=args.workers,
                    cache_dir=args.cache)
    secs = time.perf_counter() - t0
    tune, held = split_ids(res, 250)
    rows, tuned = [], {}
    for n in [*names, *BASELINES]:
        hib = _hib(res, n)
        drop = (lambda i: n == "lpzero" and i in LPZERO_FIT_IDS)  # lpzero was fitted on ids 0-49
        every = [i for i in tune + held if not drop(i)]
        c_all = evaluate(*column(res, n, every), hib=hib)
        c_tune = evaluate(*column(res, n, [i for i in tune if not drop(i)]), hib=hib, intervals=False)
        c_held = evaluate(*column(res, n, held), hib=hib)
        tuned[n] = (c_tune, c_held)
        rows.append([n, len(every), *cells(c_all), fmt(c_tune["within"]["spearman_mean"]), *cells(c_held)])
    usable_names = usable(res, names)
    best = max(usable_names, key=lambda n: _score(tuned[n][0], "within"))
    md = (markdown_table(["proxy / baseline", "n (all)", "ρ all", "τ all", "within ρ all", "within ρ tuning",
                          "ρ held out", "τ held out", "within ρ held out"], rows)
          + f"\n\nChosen on the tuning ids (ids < 250) by within-group mean ρ: **`{best}`**.")
    summary = {"best": best, "tuned": tuned, "held": len(held), "n": args.other_n}
    return md, res, names, timing_text(f"{build} build, {len(names)} proxies on {len(res.rows)} records at N = "
                                       f"{args.other_n}", res, secs), summary


def costs(args, ids) -> tuple[str, list[str]]:
    rows, notes = {}, []
    names = [p for p in available("transformer") if p != "swap_reg"]
    for build in ("reference", "faithful"):
        space = get_space("flexibert", build=build)
        t0 = time.perf_counter()
        res = run_bench(space, proxies=names, ids=ids, workers=1, cache_dir=args.cache)
        notes.append(timing_text(f"{build} build, cost run: {len(names)} proxies on ids {ids} at N = 128", res,
                                 time.perf_counter() - t0))
        ms = res.mean_seconds()
        fails = res.failures()
        for n in names:
            rows.setdefault(n, {})[build] = (ms.get(n), fails.get(n, 0))
        rows.setdefault("(model build)", {})[build] = (ms["build"], 0)
        var = sum(ms[n] for n in VARIANTS if n in ms)
        rows.setdefault("all swap variants together (one shared forward)", {})[build] = (var, 0)
    builds = ("reference", "faithful")
    table = markdown_table(["proxy", "s / arch reference", "s / arch faithful", "failed (ref)", "failed (faithful)"],
                           [[n, *(fmt(v.get(b, (None,))[0], 2) for b in builds), *(str(v.get(b, (0, 0))[1]) for b in builds)]
                            for n, v in rows.items()])
    return table, notes


def darts_study(args):
    space = get_space("darts")
    ids = list(range(0, 1000, args.darts_stride))
    t0 = time.perf_counter()
    base = ["swap", "synflow", "logsynflow", "params"]
    res = run_bench(space, proxies=[*VARIANTS, *base], ids=ids, workers=args.workers, cache_dir=args.cache)
    secs = time.perf_counter() - t0
    names = usable(res, VARIANTS)
    md, summary = variant_study(res, names + ["swap"], ["synflow", "logsynflow", "params"], 500, "overall",
                                ["logsynflow", "synflow", "params"])
    summary["result"] = res
    return md, summary, timing_text(f"DARTS, variants + {', '.join(base)} on {len(res.rows)} archs", res, secs)


# ---------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports/transformer_proxies.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stride", type=int, default=5, help="FlexiBERT variant study: every k-th id")
    ap.add_argument("--n", type=int, default=32, help="FlexiBERT variant study: samples per batch")
    ap.add_argument("--other-stride", type=int, default=10)
    ap.add_argument("--other-n", type=int, default=16)
    ap.add_argument("--timing-ids", default="1")
    ap.add_argument("--darts-stride", type=int, default=4)
    ap.add_argument("--cache", default="runs/transformer_proxies/cache")
    ap.add_argument("--skip", default="", help="comma list of steps to skip: other, costs, darts")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    started = datetime.now(timezone.utc)
    n_all = args.limit or 500
    ids = list(range(0, n_all, args.stride))
    sections, timings, summaries, state, others = [], [], {}, {"darts": None}, {}
    missing = [p for p in HELPER_PROXIES if p not in available()]

    def write(final: bool = False) -> None:
        """The report so far (written after every step, so an interrupted run leaves its finished steps)."""
        cmd = "OMP_WAIT_POLICY=PASSIVE nice -n 10 python benchmarks/report_transformer_proxies.py " + \
            " ".join(sys.argv[1:])
        v = versions()
        head = ["# SWAP variants, transformer proxies and rank ensembles (NAS-Bench-BERT, DARTS)", "",
                "Command:", "", "```", cmd, "```", "",
                f"Started {started:%Y-%m-%d %H:%M} UTC, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
                "with " + ", ".join(f"{k} {val}" for k, val in v.items()) + "."
                + ("" if final else " **Partial: the run had not finished all steps when this was written.**"), "",
                f"Subset: the FlexiBERT variant study uses every {args.stride}th id ({len(ids)} records per build: "
                f"{sum(i < 250 for i in ids)} tuning, {sum(i >= 250 for i in ids)} held out) at N = {args.n} "
                "(the space protocol otherwise: 128-token packed WikiText-2 blocks, weights as built, train mode, "
                "padding counted), declared because scoring costs several seconds per record on this shared "
                "2-core machine; every baseline is ranked on the same records. Variants: "
                + ", ".join(f"`{n}`" for n in VARIANTS) + " (`swap_pooled` is SWAP itself, counted from the same "
                "profile; module `swaplm.proxies.swap_variants`).", ""]
        body = []
        for title, text in [("Summary", summary_text(summaries, state["darts"], others)), ("Notes", NOTES.format(n=args.n, n_note=" (the space protocol's N)" if args.n == 128 else
                                           " (the protocol's N = 128 costs about 4× the forward time)")), *sections,
                            ("Wall time and provenance", "\n".join(timings)),
                            ("Cited figures (not computed here)", cited_section(CITED))]:
            body += [f"## {title}", "", text, ""]
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join([*head, *body, provenance_footer()]))
        print(f"wrote {args.out}", flush=True)

    for build in ("reference", "faithful"):
        md, summary, tline = flexibert_variants(build, args, ids)
        summaries[build] = summary
        timings.append(tline)
        sections.append((f"FlexiBERT {build} build: SWAP variants, tuned on ids 0–249, held out 250–499", md))
        print(f"{build}: best {summary['best']}", flush=True)
        write()
    if "darts" not in skip:
        md, state["darts"], tline = darts_study(args)
        timings.append(tline)
        sections.append(("DARTS: SWAP variants and ensembles vs log-synflow, tuned on 0–499, held out 500–999",
                         f"Every {args.darts_stride}th arch, space protocol (N = 16 CIFAR-10 images, 32 Gaussian "
                         "re-inits, train mode); strata are the space's equal-count parameter bins; selection by "
                         "overall ρ on the tuning ids.\n\n" + md))
        write()
    if "other" not in skip:
        for build in ("reference", "faithful"):
            md, res, names, tline, others[build] = other_proxies(build, args,
                                                                  list(range(0, n_all, args.other_stride)))
            timings.append(tline)
            sections.append((f"FlexiBERT {build} build: every other transformer proxy (N = {args.other_n})",
                             f"{len(res.rows)} records (every {args.other_stride}th id), N = {args.other_n}, same "
                             "seed/mode as above; held out = ids ≥ 250. lpzero's 'all' column leaves out ids 0–49 "
                             "(its expression was fitted on them). Proxies included: " + ", ".join(names) + "."
                             + (f" **Not registered when this ran, so not included: {', '.join(missing)}.**"
                                if missing else "") + "\n\n" + md))
            print(f"{build}: other proxies done", flush=True)
            write()
    if "other" in skip:
        sections.append(("Other transformer proxies: not in this report",
                         "The step that ranks every other transformer proxy (w_pca, v_pca, meco, dss, zico, lpzero, "
                         "head_confidence, synaptic_*, nwot, the gradient proxies, ...) against GLUE was skipped in "
                         "this invocation (`--skip other`): on this shared machine it did not finish within the "
                         "session's time. Their cost per architecture at N = 128 is in the next section."))
    if "costs" not in skip:
        table, notes = costs(args, [int(i) for i in args.timing_ids.split(",")])
        timings += notes
        sections.append(("Cost per architecture at N = 128 (FlexiBERT)",
                         f"Wall seconds per proxy on id(s) {args.timing_ids} of each build, one worker process "
                         "(this machine: 2 CPU cores shared with other jobs, so these are rough). The swap variants "
                         "share one hooked forward: the first variant column carries it, the rest reuse it.\n\n"
                         + table))
    write(final=True)


def summary_text(summaries: dict, darts, others: dict | None = None) -> str:
    """Computed sentences: every choice was made on the tuning ids; only held-out numbers are quoted."""
    lines = []
    for build, s in summaries.items():
        tuned = s["tuned"]
        best = s["best"]
        ch = tuned[best][1]
        p, rule = tuned["params"][1], tuned["layers+hidden"][1]
        ens = s["ensembles"]
        top_ens = max(ens, key=lambda k: ens[k][0])  # chosen by its tuning score
        ce = ens[top_ens][1]
        w_best, w_par = ch["within"]["spearman_mean"], p["within"]["spearman_mean"]
        beats_size = w_best > w_par
        lines.append(
            f"- **{build} build, SWAP variants at N = {s['n']}, held out "
            f"({len(s['result'].rows) - len(split_ids(s['result'], 250)[0])} records, ids ≥ 250)**: the variant chosen on the tuning ids, `{best}`, has a within-(layers, hidden) mean ρ of "
            f"{cells(ch)[2]} vs **#params {cells(p)[2]}**; its overall ρ is {cells(ch)[0]} vs **the two-feature "
            f"rule {cells(rule)[0]}** (#params {cells(p)[0]}, #layers {cells(tuned['num_layers'][1])[0]}) on the "
            f"same records. SWAP itself (`swap_pooled`): within {cells(tuned['swap_pooled'][1])[2]}, overall "
            f"{cells(tuned['swap_pooled'][1])[0]}. The ensemble chosen on the tuning ids, `{top_ens}`: within "
            f"{cells(ce)[2]}, overall {cells(ce)[0]}. "
            + ("The chosen variant's within-group ρ is above #params' (intervals overlap unless stated by the "
               "brackets)." if beats_size else "**The chosen variant knows no more than #params inside the groups.**")
            + (" It reaches the 0.4 goal." if w_best >= 0.4 else " It does not reach the 0.4 goal.")
            + (" Its overall ρ is below the two-feature rule's." if ch["spearman"] < rule["spearman"] else ""))
    for build, o in (others or {}).items():
        tuned, best = o["tuned"], o["best"]
        ch, p, rule = tuned[best][1], tuned["params"][1], tuned["layers+hidden"][1]
        w_best, w_par = ch["within"]["spearman_mean"], p["within"]["spearman_mean"]
        lines.append(
            f"- **{build} build, every other transformer proxy at N = {o['n']}, held out ({o['held']} records, ids "
            f"≥ 250)**: the one chosen on the tuning ids, `{best}`, has a within-group mean ρ of {cells(ch)[2]} vs "
            f"**#params {cells(p)[2]}**; overall {cells(ch)[0]} vs **the two-feature rule {cells(rule)[0]}** "
            f"(#params {cells(p)[0]}). "
            + ("Its within-group ρ is above #params'." if w_best > w_par else
               "**It knows no more than #params inside the groups.**")
            + (" It reaches the 0.4 goal." if w_best >= 0.4 else " It does not reach the 0.4 goal."))
    if darts is not None:
        tuned, best, ens = darts["tuned"], darts["best"], darts["ensembles"]
        top = max(ens, key=lambda k: ens[k][0])
        lo = tuned["logsynflow"][1]["spearman"]
        lines.append(f"- **DARTS, held out (ids ≥ 500)**: the variant chosen on 0–499, `{best}`, ρ "
                     f"{cells(tuned[best][1])[0]}; logsynflow {cells(tuned['logsynflow'][1])[0]}; SWAP "
                     f"{cells(tuned['swap'][1])[0]}; the ensemble chosen on 0–499, `{top}`, ρ {cells(ens[top][1])[0]}"
                     + (" — above logsynflow on the held-out ids." if ens[top][1]["spearman"] > lo else
                        " — not above logsynflow on the held-out ids.")
                     + (" The chosen variant beats logsynflow." if tuned[best][1]["spearman"] > lo else
                        " No SWAP variant chosen this way beats logsynflow."))
    lines += ["", conclusion(summaries, others or {})]
    return "\n".join(lines)


def conclusion(summaries: dict, others: dict) -> str:
    """One computed paragraph: do the label-free scores chosen on the tuning ids know more than size?"""
    picks = []  # (label, within held out, within of #params, overall, rule's overall)
    for build, s in summaries.items():
        picks.append((f"`{s['best']}` ({build}, variant)", s["tuned"][s["best"]][1], s["tuned"]["params"][1],
                      s["tuned"]["layers+hidden"][1]))
    for build, o in others.items():
        picks.append((f"`{o['best']}` ({build}, N = {o['n']})", o["tuned"][o["best"]][1], o["tuned"]["params"][1],
                      o["tuned"]["layers+hidden"][1]))
    if not picks:
        return ""
    above = [p for p in picks if p[1]["within"]["spearman_mean"] > p[2]["within"]["spearman_mean"]]
    clear = [p for p in above if p[1]["within"].get("spearman_mean_ci", (math.nan,))[0]
             > p[2]["within"]["spearman_mean"]]
    goal = [p for p in picks if p[1]["within"]["spearman_mean"] >= 0.4]
    beat_rule = [p for p in picks if p[1]["spearman"] > p[3]["spearman"]]
    text = (f"**Conclusion.** {len(picks)} label-free scores were chosen on the tuning ids (one per build and "
            f"study); on the held-out ids {len(above)} of them have a within-(layers, hidden) mean ρ above #params' "
            f"on the same records" + (f" ({', '.join(p[0] for p in above)})" if above else "")
            + f", {len(clear)} with the lower end of its 95 % interval above #params' value, and {len(goal)} reach "
            "the 0.4 goal. " + (f"{len(beat_rule)} rank(s) better overall than the two-feature rule "
                                f"({', '.join(p[0] for p in beat_rule)})." if beat_rule else
                                "None ranks better overall than the two-feature rule (layers, then hidden size)."))
    if not clear:
        text += (" On NAS-Bench-BERT, no training-free score measured here carries information about GLUE beyond "
                 "model size that this protocol can detect.")
    return text


if __name__ == "__main__":
    main()
