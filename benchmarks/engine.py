"""Engine benchmark: bare forward vs naive SWAP vs swaplm, same model and batch, measured side by side.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/engine.py --out reports/engine.md

Cases: ``cnn`` (DARTS proxy net, train mode), ``bert2`` / ``bert2eval`` (2-layer BERT-like, train / eval mode),
``bertbase`` (BERT-base config, train mode), ``vec`` (32 Gaussian repeats of the DARTS proxy net: 32 × (re-init +
bare forward) vs swaplm's looped repeats vs swaplm's vectorised repeats, swaplm.vectorised).

Time: median wall seconds over interleaved rounds (bare, naive, swaplm, bare, ...; the order rotates every round
and every timed call follows one untimed bare forward, so no variant inherits the state another one left).
Peak memory: the peak of live tensor bytes allocated during the call (allocations and frees recorded by the
torch profiler, summed in time order). For the naive variant on the transformers the profiler cannot parse the
millions of events ``torch.unique`` emits, so the table gives a lower bound instead: the float32 (neurons × N)
matrix it concatenates, twice (the matrix and its sign are alive at once), never more than its true peak.
Weights and the input batch, allocated before the call, are not counted either way.
The naive column is the reference algorithm: keep every hooked output as float32, concatenate, sign,
transpose and ``torch.unique(dim=0)``.
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from swaplm import activations, swap_score
from swaplm.report import provenance_footer, strip_provenance
from swaplm.swap import batch_size, forward


def naive_swap(model, inputs) -> int:
    outs = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach()))
             for _, m in activations.select(model)]
    try:
        torch.manual_seed(0)  # same dropout draws as swap_score(seed=0)
        with torch.no_grad():
            forward(model, inputs)
    finally:
        for h in hooks:
            h.remove()
    mat = torch.cat([o.reshape(o.shape[0], -1) for o in outs], dim=1)
    return int(torch.unique(torch.sign(mat).t(), dim=0).shape[0])


def bare(model, inputs) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        forward(model, inputs)


def swaplm_score(model, inputs) -> int:
    return int(swap_score(model, inputs).score)


VARIANTS = {"bare forward": bare, "naive SWAP": naive_swap, "swaplm": swaplm_score}

REPEATS = 32


def bare_repeats(model, inputs) -> None:
    """What the looped protocol costs without SWAP: per repeat, seed + Gaussian re-init + bare train forward."""
    from swaplm.init import gaussian_init
    from swaplm.swap import repeat_seed

    state = [(t, t.detach().clone()) for t in [*model.parameters(), *model.buffers()]]
    with torch.no_grad():
        for r in range(REPEATS):
            torch.manual_seed(repeat_seed(0, r))
            gaussian_init(model)
            model(inputs)
        for t, copy in state:
            t.copy_(copy)


def swaplm_loop(model, inputs) -> tuple:
    res = swap_score(model, inputs, repeats=REPEATS, init="gaussian", mode="train", vectorise=False)
    assert res.path == "loop"
    return res.scores


def swaplm_vectorised(model, inputs) -> tuple:
    res = swap_score(model, inputs, repeats=REPEATS, init="gaussian", mode="train")
    assert res.path == "vectorised", res.fallback
    return res.scores


VEC_VARIANTS = {f"{REPEATS} × (re-init + bare forward)": bare_repeats, f"swaplm loop, repeats={REPEATS}": swaplm_loop,
                f"swaplm vectorised, repeats={REPEATS}": swaplm_vectorised}


def peak_bytes(fn, *args) -> tuple[int, object]:
    """Peak of live tensor bytes allocated during ``fn(*args)`` (torch profiler allocation/free events)."""
    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        value = fn(*args)
    events = sorted(((e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
                     for e in prof.events()), key=lambda t: t[0])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak, value


def cases(which):
    from transformers import BertConfig, BertModel

    def text(n, length, vocab=30522):
        g = torch.Generator().manual_seed(0)
        return {"input_ids": torch.randint(1000, vocab, (n, length), generator=g),
                "attention_mask": torch.ones(n, length, dtype=torch.long)}

    if "cnn" in which:
        from swaplm.data import cifar10_batch
        from swaplm.spaces import get_space

        space = get_space("darts")
        rec = space.benchmark()[0]
        torch.manual_seed(0)
        yield "DARTS proxy CNN (arch 0), N=16", space.build(rec.arch).train(), cifar10_batch(16)
    if "vec" in which:
        from swaplm.data import cifar10_batch
        from swaplm.spaces import get_space

        space = get_space("darts")
        yield (f"DARTS proxy CNN (arch 0), N=16, {REPEATS} Gaussian repeats", space.build(space.benchmark()[0].arch).train(),
               cifar10_batch(16))
    for case, train in (("bert2", True), ("bert2eval", False)):
        if case in which:
            torch.manual_seed(0)
            cfg = BertConfig(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024)
            yield (f"BERT-like 2 layers (H 256, I 1024), N=128, L=128, {'train' if train else 'eval'} mode",
                   BertModel(cfg).train(train), text(128, 128))
    if "bertbase" in which:
        torch.manual_seed(0)
        yield "BERT-base config (random init), N=128, L=128", BertModel(BertConfig()).train(), text(128, 128)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="cnn,vec,bert2,bert2eval,bertbase")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--policies", default=None,
                    help="comma-separated OpenMP wait policies (e.g. PASSIVE,ACTIVE): one child run each, one report")
    ap.add_argument("--runs", type=int, default=1, help="with --policies: child runs per policy (alternating)")
    ap.add_argument("--rows-to", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.policies:
        if not args.out:
            ap.error("--policies needs --out")
        return main_policies(args)
    torch.set_num_threads(args.threads)
    lines = ["| case | variant | time (s) | time ratio | peak mem (MB) | mem ratio | score |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for case in args.cases.split(","):
        title, model, inputs = next(cases([case]))
        variants = VEC_VARIANTS if case == "vec" else VARIANTS
        bare(model, inputs)  # warm-up
        if case == "vec":
            swaplm_vectorised(model, inputs)  # warm-up (first use probes each layer's batched kernels once)
        times = {k: [] for k in variants}
        scores = {}
        # millisecond-scale CNN calls need many rounds for a stable median
        rounds = (args.rounds * 8 if case == "cnn" else args.rounds * 2 if case == "vec" else args.rounds
                  if "base" not in title else max(2, args.rounds // 2))
        names = list(variants)
        for r in range(rounds):  # interleaved; the order rotates every round, so no variant always follows another
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn = variants[name]
                # an untimed bare forward first: every timed call starts from the same state, whatever ran
                # before it (the rotation alone puts the slow naive variant before swaplm in 2 of 3 rounds,
                # and its allocations leave the caches and the allocator cold for the next call)
                bare(model, inputs)
                t0 = time.perf_counter()
                value = fn(model, inputs)
                times[name].append(time.perf_counter() - t0)
                if value is not None:
                    scores[name] = value
        profiled = variants if case in ("cnn", "vec") else [k for k in variants if k != "naive SWAP"]
        mems = {name: peak_bytes(variants[name], model, inputs)[0] for name in profiled}
        first = next(iter(variants))
        t_bare, m_bare = statistics.median(times[first]), mems[first]
        for name in variants:
            t = statistics.median(times[name])
            if name in mems:
                mem = f"{mems[name] / 2**20:.1f} | {mems[name] / m_bare:.2f}×"
            else:  # lower bound: the (neurons x N) float32 matrix coexists with its sign (and first with the outputs)
                two = {k: v[:2] for k, v in inputs.items()}  # neurons per sample do not depend on N
                floor = 2 * swap_score(model, two).neurons * batch_size(inputs) * 4
                mem = f"≥ {floor / 2**20:.1f} | ≥ {floor / m_bare:.2f}×"
            score = scores.get(name, "")
            if isinstance(score, tuple):  # per-repeat counts: show their mean
                score = f"{sum(score) / len(score):.2f}"
            lines.append(f"| {title} | {name} | {t:.4f} | {t / t_bare:.2f}× | {mem} | {score} |")
        print("\n".join(lines[-3:]), flush=True)
        if case == "vec":
            assert scores[f"swaplm loop, repeats={REPEATS}"] == scores[f"swaplm vectorised, repeats={REPEATS}"], \
                "vectorised and looped repeats disagree"
        else:
            assert scores["naive SWAP"] == scores["swaplm"], "swaplm and the naive count disagree"
    table = "\n".join(lines)
    print(table)
    if args.rows_to:
        Path(args.rows_to).write_text("\n".join(lines[2:]) + "\n")
    if args.out:
        policy = os.environ.get("OMP_WAIT_POLICY")
        cmd = (f"OMP_WAIT_POLICY={policy} " if policy else "") + "python benchmarks/engine.py " + " ".join(sys.argv[1:])
        Path(args.out).write_text(_header(cmd, f"OpenMP wait policy {policy or 'unset (spinning)'}") + table + "\n\n"
                                  + provenance_footer())


def _header(cmd: str, policy: str) -> str:
    return ("# Engine benchmark: bare forward vs naive SWAP vs swaplm\n\n"
            f"Command: `{cmd}`\n\n"
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, {policy}, no_grad; the mode (train or "
            f"eval) is in the case name. "
            f"Times are medians of interleaved rounds (the variants' order rotates from round to round, and every timed call follows one untimed bare forward of the same model, so none inherits the state another variant left); ratios are against the first variant of the same case (the bare "
            f"forward of the same model and batch) in the same run. Peak memory: the peak of live tensor bytes "
            f"allocated during the call (torch profiler; weights and batch excluded). Naive SWAP on the transformers: "
            f"≥ twice the float32 (neurons × N) matrix it concatenates (the matrix and its sign are alive together) "
            f"(the profiler cannot parse the millions of events of its `torch.unique`). swaplm packs every hooked "
            f"output in its hook with the one-pass numba kernel of `swaplm/engine/fastpack.py` (numba installed; "
            f"`SWAPLM_NUMBA=0` gives the torch packer; when every hooked module is ReLU-like and N <= 32 the kernel marks each "
            f"code in a per-copy table of seen patterns instead of keeping it, so nothing is left to count after the forward) and walks the model's modules once per score. The repeats case compares 32 × (Gaussian "
            f"re-init + bare forward) with swaplm's looped and vectorised repeats (`swaplm/engine/vectorised.py`); its score "
            f"column is the mean count over the 32 repeats, equal for both paths. The machine (2 cores) was shared "
            f"with other jobs while this ran: ratios within one run are the figures to read, absolute times are noisy.\n\n")


def main_policies(args) -> None:
    """Run the benchmark ``--runs`` times per OpenMP wait policy (a child process each: the policy is read at
    start-up; the policies alternate run by run) and write one report: the time ratios of every run and their
    median per policy, then each run's table."""
    import subprocess
    import tempfile

    policies = args.policies.split(",")
    parts = {p: [] for p in policies}
    for run in range(args.runs):
        for policy in policies:
            with tempfile.NamedTemporaryFile(suffix=".md") as rows:
                env = {**os.environ, "OMP_WAIT_POLICY": policy}
                subprocess.run([sys.executable, __file__, "--cases", args.cases, "--rounds", str(args.rounds),
                                "--threads", str(args.threads), "--rows-to", rows.name], env=env, check=True)
                parts[policy].append(Path(rows.name).read_text())
    cmd = "python benchmarks/engine.py " + " ".join(sys.argv[1:])
    head = "| case | variant | time (s) | time ratio | peak mem (MB) | mem ratio | score |\n|---|---|---:|---:|---:|---:|---:|\n"
    text = _header(cmd, "each OpenMP wait policy in its own table (one child process per policy and run)")
    text += ratio_summary(parts)
    for policy, runs in parts.items():
        for i, rows in enumerate(runs, 1):
            label = f", run {i} of {len(runs)}" if len(runs) > 1 else ""
            text += f"## OMP_WAIT_POLICY={policy}{label}\n\n" + head + rows + "\n"
    out = Path(args.out)
    old = strip_provenance(out.read_text(encoding="utf-8")) if out.exists() else ""
    if "<!-- " in old:  # keep the marked sections other benchmarks wrote (scaling, dtype, darts_speed)
        text += "\n" + old[old.index("<!-- "):].rstrip("\n") + "\n\n"
    out.write_text(text + provenance_footer(), encoding="utf-8")


def ratio_summary(parts: dict[str, list[str]]) -> str:
    """Markdown table: per (case, variant), the time ratio of every run under each policy and their median."""
    runs = max(len(v) for v in parts.values())
    if runs < 2:
        return ""
    ratios: dict[tuple[str, str], dict[str, list[float]]] = {}
    for policy, texts in parts.items():
        for rows in texts:
            for line in rows.splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) >= 4 and cells[3].endswith("×"):
                    ratios.setdefault((cells[0], cells[1]), {}).setdefault(policy, []).append(float(cells[3][:-1]))
    lines = [f"## Time ratios over {runs} runs per policy", "",
             "Each run is a fresh child process with its own interleaved rounds (the run tables follow); the "
             "median over runs is the figure to quote.", "",
             "| case | variant | " + " | ".join(f"{p}: runs · median" for p in parts) + " |",
             "|---|---|" + "---:|" * len(parts)]
    for (case, variant), by_policy in ratios.items():
        if all(v == 1.0 for vals in by_policy.values() for v in vals):
            continue  # the reference variant of each case
        cols = []
        for p in parts:
            vals = by_policy.get(p, [])
            cols.append(" · ".join(f"{v:.2f}×" for v in vals) + (f" · **{statistics.median(vals):.2f}×**"
                                                                  if vals else ""))
        lines.append(f"| {case} | {variant} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n\n"


if __name__ == "__main__":
    main()
