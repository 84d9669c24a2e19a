"""Make reports/nb201.md: SWAP, regularised SWAP and every CNN proxy on NAS-Bench-201's 15,625 architectures.

    OMP_WAIT_POLICY=PASSIVE nice python benchmarks/report_nb201.py --workers 2

Stages (every value computed by swaplm through the bench store, so an interrupted run resumes; ``--stages``
runs some of them without writing the report):

- ``swap``: swap, swap_reg and params on all 15,625 archs of each dataset, at the space's protocol (chosen by
  ``benchmarks/nb201_protocol.py`` on a tuning sample: reports/nb201_protocol.md);
- ``nwot``: nwot on all archs of each dataset at batch ``NWOT_N``;
- ``datafree``: synflow, logsynflow, flops and l2_norm on all archs of each dataset (they read no image
  values: flops per sample, synflow on an all-ones input; run at batch 2);
- ``sample``: every other CNN proxy on the declared sample ``SAMPLE`` (index % 15 == 7, 1,042 archs) at the
  protocol's batch.

Each dataset is scored on its own network (classifier width) and images: CIFAR-10 training images for cifar10,
CIFAR-100 test images for cifar100 and, for ImageNet16-120 (no images ship), the CIFAR-100 images downsampled
to 16x16. Correlations are against the benchmark's test accuracy, over all archs and over the connected ones.
Figures from elsewhere appear only in the "Cited figures" section (``CITED``).

Beside the Markdown, ``reports/nb201.json`` holds every headline ρ (all and connected archs), the sample
table's ρ, the protocol, and SWAP's and swap_reg's ρ on the check subset ``CHECK`` (117 held-out archs) that
``tests/test_heavy.py`` rescores from an empty cache.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from swaplm import stats
from swaplm.bench import bench_tasks
from swaplm.proxies import available, get_proxy
from swaplm.report import cited_section, fmt, git_commit, interval_text, markdown_table, provenance_footer
from swaplm.spaces import get_space
from swaplm.spaces.nb201 import NB201Space
from swaplm.spaces.nb201.model import C_DEFAULT, N_DEFAULT

DATASETS = ("cifar10", "cifar100", "imagenet16_120")
NWOT_N = 32
SAMPLE = [i for i in range(15625) if i % 15 == 7]
#: the archs the heavy test rescores from an empty cache (held out of the protocol study's index % 16 == 0)
CHECK = [i for i in range(15625) if i % 125 == 3 and i % 16]
FAILED_RUN = {"imagenet16_120": 4992}  # connected, but at chance in the benchmark: a failed training run
STAGES = {
    "swap": (("swap", "swap_reg", "params"), None, None),
    "nwot": (("nwot",), None, NWOT_N),
    "datafree": (("synflow", "logsynflow", "flops", "l2_norm"), None, 2),
}
#: names in the tables: the swap stage's params count the reduced network SWAP scores; the benchmark network's
#: parameter count is the space's feature params_m
SCORED_PARAMS, BENCH_PARAMS = "params (scored net)", "#params (benchmark net)"
HEADLINE = ("swap", "swap_reg", "nwot", "synflow", "logsynflow", "flops", "l2_norm", BENCH_PARAMS, SCORED_PARAMS)
SKIP_SAMPLE = {"activation_distance"}  # not a published CNN proxy; grows with unit count like params
ANCHORS = "../shared/reference/anchors.md §4.1"
CITED = [
    ("regularised SWAP ρ, NB-201 CIFAR-100 (validation accuracy), SWAP-NAS ICLR 2024 abstract", "0.90", ANCHORS),
    ("NWOT ρ in the same abstract (\"the second best\")", "0.80", ANCHORS),
    ("SWAP re-run by APD (protocol unstated), C10 / C100 / IN16", "0.810 / 0.820 / 0.774", ANCHORS),
    ("zero-cost-nas (batch 64, all 15,625, |ρ| vs test acc): synflow", "0.737 / 0.763 / 0.751", ANCHORS),
    ("zero-cost-nas: jacob_cov", "0.731 / 0.704 / 0.701", ANCHORS),
    ("zero-cost-nas: snip / grad_norm", "0.596 / 0.637 / 0.578 and 0.594 / 0.637 / 0.578", ANCHORS),
    ("zero-cost-nas: grasp / fisher", "0.514 / 0.547 / 0.549 and 0.360 / 0.385 / 0.327", ANCHORS),
    ("NWOT Kendall τ with accuracy (batch 128, CIFAR-10 train images)", "0.574 / 0.611 / 0.549", ANCHORS),
    ("AZ-NAS ρ, CIFAR-10 test (all 15,625)", "0.9127", ANCHORS),
    ("MeCo ρ", "0.894 / 0.883 / 0.845", ANCHORS),
    ("trivial baselines on all 15,625 (APD): #params / FLOPs", "0.751 / 0.726 / 0.690 and 0.733 / 0.708 / 0.691",
     ANCHORS),
]


def run_stage(stage: str, workers: int, limit: int | None) -> tuple[list, float]:
    """The stage's bench runs, one per dataset, and their wall time."""
    t0 = time.perf_counter()
    if stage == "sample":
        proxies = [p for p in available("cnn") if p not in SKIP_SAMPLE and not p.startswith("swap")
                   and p not in (*STAGES["nwot"][0], *STAGES["datafree"][0], "params")]
        ids, n = SAMPLE, None
    else:
        proxies, ids, n = STAGES[stage]
        ids = ids or list(range(15625))
    space = "nb201" if stage == "swap" else NB201Space(C=C_DEFAULT, N=N_DEFAULT)  # others: the benchmark's net
    runs = bench_tasks(space, tasks="all", proxies=proxies, ids=ids[:limit] if limit else ids, n=n,
                       workers=workers)
    for r in runs:
        print(f"{stage} {r.tasks[0]}: {len(r.rows)} archs, {r.computed} computed now, {r.wall_seconds:.0f} s",
              flush=True)
    return runs, time.perf_counter() - t0


class Table:
    """Per dataset: {column: {id: value}} merged from the stage runs, with truth, params and connectivity."""

    def __init__(self, runs_by_stage: dict[str, list]):
        self.values: dict[str, dict[str, dict[int, float | None]]] = {d: {} for d in DATASETS}
        self.truth: dict[str, dict[int, float]] = {d: {} for d in DATASETS}
        self.connected: dict[int, bool] = {}
        self.strata: dict[str, dict[int, str]] = {d: {} for d in DATASETS}  # space.stratum: params bins per build
        self.hib: dict[str, bool] = {}
        self.batch: dict[str, int] = {}
        self.seconds: dict[str, dict[str, float]] = {d: {} for d in DATASETS}
        for runs in runs_by_stage.values():
            for r in runs:
                task = r.tasks[0]
                self.hib.update(r.higher_is_better)
                for p in r.proxies:
                    name = SCORED_PARAMS if p == "params" else p
                    self.values[task][name] = {row.id: row.values.get(p) for row in r.rows}
                    self.hib[name] = r.higher_is_better[p]
                    self.batch[name] = r.settings.get("n")
                    self.seconds[task][name] = r.mean_seconds()[p]
                if "params_m" in r.features:
                    self.values[task][BENCH_PARAMS] = {row.id: row.features["params_m"] for row in r.rows}
                    self.hib[BENCH_PARAMS], self.batch[BENCH_PARAMS] = True, None
                for row in r.rows:
                    self.truth[task][row.id] = row.truth[task]
                    self.connected[row.id] = row.connected is not False
                    self.strata[task][row.id] = row.stratum

    def corr(self, task: str, name: str, ids: list[int], strata: dict[int, str] | None = None) -> dict:
        vals = [self.values[task][name].get(i) for i in ids]
        truth = [self.truth[task][i] for i in ids]
        c = stats.correlations(vals, truth, self.hib.get(name, True), intervals=True, n_boot=1000, seed=0)
        if strata is not None:
            c["within"] = stats.within_strata(vals, truth, [strata[i] for i in ids], self.hib.get(name, True),
                                              intervals=True, n_boot=200, seed=0)
        return c


def headline(table: Table, task: str) -> tuple[str, dict]:
    ids_all = sorted(table.values[task]["swap"])  # every arch (the sample stage adds no arch of its own)
    ids_conn = [i for i in ids_all if table.connected[i]]
    strata = table.strata[task]
    names = [n for n in HEADLINE if n in table.values[task]]
    out, rows = {}, []
    for name in names:
        a, c = table.corr(task, name, ids_all, strata), table.corr(task, name, ids_conn)
        out[name] = {"all": a, "connected": c}
        rows.append([name, table.batch.get(name), interval_text(a["spearman"], a["spearman_ci"]),
                     fmt(a["kendall"]), interval_text(c["spearman"], c["spearman_ci"]), fmt(c["kendall"]),
                     interval_text(a["within"]["spearman_mean"], a["within"].get("spearman_mean_ci"))])
    text = markdown_table(["proxy / baseline", "batch", f"ρ all {len(ids_all)}", "τ all",
                           f"ρ connected {len(ids_conn)}", "τ connected", "mean ρ within params bins"], rows)
    return text, out


def sample_table(table: Table, task: str) -> tuple[str, dict]:
    ids = [i for i in SAMPLE if i in table.truth[task]]
    names = [n for n in table.values[task] if all(i in table.values[task][n] for i in ids)]
    corr = {n: table.corr(task, n, ids) for n in names}
    order = sorted(names, key=lambda n: -corr[n]["spearman"])
    rows = [[n, table.batch.get(n), interval_text(corr[n]["spearman"], corr[n]["spearman_ci"]),
             fmt(corr[n]["kendall"]), fmt(table.seconds[task].get(n), 3)] for n in order]
    return markdown_table(["proxy / baseline", "batch", f"ρ on the sample ({len(ids)})", "τ", "s/arch"], rows), corr


def disconnected_text(table: Table, task: str) -> str:
    scored = sorted(table.values[task]["swap"])
    ids = [i for i in scored if not table.connected[i]]
    conn = [table.values[task]["swap"][i] for i in scored if table.connected[i]]
    if not ids:
        return f"{task}: no disconnected arch among the {len(scored)} scored."
    vals = np.array([table.values[task]["swap"][i] for i in ids], dtype=float)
    return (f"{task}: {len(ids)} disconnected archs scored without error; their SWAP ranges "
            f"{vals.min():.0f}–{vals.max():.0f} (median {np.median(vals):.0f}) against a median of "
            f"{np.median(conn):.0f} over the connected archs; their accuracy is the benchmark's chance value, "
            f"so they sit at the bottom of the truth and are ranked by their score like every other arch.")


def failed_run_text(table: Table) -> str:
    task, idx = "imagenet16_120", FAILED_RUN["imagenet16_120"]
    ids = sorted(table.values[task]["swap"])
    if idx not in ids:
        return f"Index {idx} (a failed ImageNet16-120 training run in the benchmark) is not among the scored archs."
    with_it = stats.spearman([table.values[task]["swap"][i] for i in ids], [table.truth[task][i] for i in ids])
    rest = [i for i in ids if i != idx]
    without = stats.spearman([table.values[task]["swap"][i] for i in rest], [table.truth[task][i] for i in rest])
    return (f"Index {idx} is connected, but its ImageNet16-120 accuracy is {table.truth[task][idx]:.2f} % (chance: a "
            f"failed training run inside the benchmark; its CIFAR-10 / CIFAR-100 accuracies are "
            f"{table.truth['cifar10'][idx]:.2f} / {table.truth['cifar100'][idx]:.2f} %). It stays in both views with "
            f"the benchmark's value; SWAP ρ on all ImageNet16-120 archs is {with_it:.4f} with it and {without:.4f} "
            f"without it.")


def verdict(heads: dict) -> str:
    c100 = heads["cifar100"]
    sw, sr = c100["swap"]["all"], c100["swap_reg"]["all"]
    parts = [f"On CIFAR-100 over all {sw['n']:,} archs, SWAP reaches ρ "
             f"{interval_text(sw['spearman'], sw['spearman_ci'])}"
             f" and regularised SWAP ρ {interval_text(sr['spearman'], sr['spearman_ci'])}: "]
    reach = [n for n, c in (("SWAP", sw), ("reg-SWAP", sr)) if c["spearman_ci"][0] >= 0.90]
    near = [n for n, c in (("SWAP", sw), ("reg-SWAP", sr)) if c["spearman_ci"][1] >= 0.90 > c["spearman_ci"][0]]
    if reach:
        parts.append(f"{' and '.join(reach)} reach the published 0.90 (interval at or above it)")
    elif near:
        parts.append(f"{' and '.join(near)} are compatible with the published 0.90 (it lies in the interval)")
    else:
        parts.append("neither reaches the published 0.90 (it lies above both intervals; the published protocol is "
                     "not known, see §4.2 of the anchors)")
    parts.append(". Against the baselines on the same archs: ")
    best = max(sw["spearman"], sr["spearman"])
    cmp = []
    for name in ("nwot", "synflow", BENCH_PARAMS):
        if name in c100:
            c = c100[name]["all"]
            side = "below" if c["spearman_ci"][1] < best else ("above" if c["spearman_ci"][0] > best else "level with")
            cmp.append(f"{name} ρ {c['spearman']:.3f} ({side} the better SWAP)")
    return "".join(parts) + "; ".join(cmp) + "."


def protocol_section(path: Path = Path("reports/nb201_protocol.json")) -> str:
    if not path.is_file():
        return "reports/nb201_protocol.json is missing: run benchmarks/nb201_protocol.py first."
    out = json.loads(path.read_text())
    from nb201_protocol import render  # the same table the protocol script writes

    body = render(out).split("\n", 2)[2].rsplit("\n---", 1)[0]  # drop its title and footer
    return (f"From `{out['command']}` at commit {out['commit']} (engine fingerprint {out['engine_fingerprint']}); "
            "the chosen option became the space's default protocol and the prior swap_reg's.\n" + body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="reports/nb201.md")
    ap.add_argument("--stages", default="swap,nwot,datafree,sample",
                    help="stages to run; the report is written only when all four ran")
    ap.add_argument("--limit", type=int, default=None, help="first N archs per stage (a script check)")
    args = ap.parse_args()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    runs, walls = {}, {}
    for stage in stages:
        runs[stage], walls[stage] = run_stage(stage, args.workers, args.limit)
    if set(stages) != {"swap", "nwot", "datafree", "sample"}:
        print("not every stage ran: no report written")
        return
    table = Table(runs)
    space = get_space("nb201")
    proto = space.protocol
    heads, sections = {}, []
    for task in DATASETS:
        text, heads[task] = headline(table, task)
        desc = space.input_description(task)
        sections.append((f"{task}: every proxy on all archs", f"Inputs: {desc}.\n\n" + text))
    samples = {}
    for task in DATASETS:
        text, samples[task] = sample_table(table, task)
        sections.append((f"{task}: every CNN proxy on the declared sample",
                         f"Archs with index % 15 == 7 ({len(SAMPLE)}); every proxy, the full-coverage ones included, "
                         "on the same archs. s/arch: mean seconds of the proxy alone (build excluded).\n\n" + text))
    lines = [f"# SWAP on NAS-Bench-201 (all 15,625 architectures, three datasets)", "",
             "Command:", "", "```", "OMP_WAIT_POLICY=PASSIVE python benchmarks/report_nb201.py "
             + " ".join(sys.argv[1:]), "```", "", f"Commit: {git_commit()}.", "",
             "## Verdict", "", verdict(heads), "",
             "## Protocol", "",
             f"SWAP (default protocol of the nb201 space): N = {proto.n} images, mean over {proto.repeats} "
             f"re-inits ({proto.init or 'PyTorch default'}), {proto.mode} mode, on the reduced network the protocol "
             f"study chose (C = {space.C}, {space.N} cell per stage), built per dataset, seed 0 for every arch; "
             f"swap_reg = SWAP × exp(-(Θ-μ)²/σ) with Θ in thousands of the scored network's parameters, "
             f"μ = {proto.regularise.mu}, σ = {proto.regularise.sigma} (both chosen on the CIFAR-10 tuning sample, "
             "see below). Every other proxy scores the benchmark's own network (C = 16, 5 cells per stage), as the "
             "published figures do; its batch is in each table. Ground truth: the benchmark's test accuracy (200 "
             "epochs). 'connected' drops the 341 archs without an input-to-output path. 'within params bins': the "
             "mean ρ inside the space's strata, equal-count bins of the benchmark network's parameter count over "
             "the 15,625 archs (ties keep one count in one bin, so the bins are only roughly equal). "
             "Brackets are 95 % bootstrap intervals (1000 resamples of archs; 200 for the within-bins mean).", ""]
    for title, body in sections:
        lines += [f"## {title}", "", body, ""]
    lines += ["## Disconnected archs and index 4992", "",
              *[f"- {disconnected_text(table, t)}" for t in DATASETS], f"- {failed_run_text(table)}", "",
              "## How the protocol was chosen", "", protocol_section(), "",
              "## Cost", "", markdown_table(["stage", "wall (this invocation)"],
                                            [[s, f"{w:.0f} s"] for s, w in walls.items()]), "",
              "Per-arch seconds of every proxy are in the tables; the timed full cifar10 SWAP run and the bare-forward "
              "floor are in reports/engine.md.", "",
              "## Cited figures (not computed here)", "", cited_section(CITED), "", provenance_footer(), ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    doc = summary(table, heads, samples, space, limit=args.limit, command=" ".join(sys.argv[1:]))
    Path(args.out).with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")


def summary(table: Table, heads: dict, samples: dict, space, *, limit: int | None, command: str) -> dict:
    """The report's figures for scripts and the heavy tests: every headline and sample ρ, the protocol and the
    check subset's ρ (computed from the same stored values as the tables)."""
    def brief(c: dict) -> dict:
        return {"n": c["n"], "spearman": c["spearman"], "spearman_ci": list(c["spearman_ci"]),
                "kendall": c["kendall"]}

    proto = space.protocol
    check = {}
    for task in DATASETS:
        ids = [i for i in CHECK if i in table.values[task]["swap"]]  # fewer with --limit
        check[task] = {p: brief(table.corr(task, p, ids)) for p in ("swap", "swap_reg")} if len(ids) > 2 else None
    return {"command": f"python benchmarks/report_nb201.py {command}".strip(), "commit": git_commit(),
            "limit": limit, "ground_truth": "test accuracy (200 epochs)",
            "inputs": {t: space.input_description(t) for t in DATASETS},
            "protocol": {"n": proto.n, "repeats": proto.repeats, "init": proto.init, "mode": proto.mode,
                         "C": space.C, "N": space.N, "mu": proto.regularise.mu, "sigma": proto.regularise.sigma},
            "batch": table.batch,
            "headline": {t: {p: {view: brief(c) for view, c in v.items()} for p, v in heads[t].items()}
                         for t in DATASETS},
            "sample": {t: {p: brief(c) for p, c in samples[t].items()} for t in DATASETS},
            "check_ids": CHECK, "check": check}


if __name__ == "__main__":
    main()
