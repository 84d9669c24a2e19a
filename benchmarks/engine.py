"""Engine benchmark: bare forward vs naive SWAP vs swaplm, same model and batch, measured side by side.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/engine.py --out reports/engine.md

Time: median wall seconds over interleaved rounds (bare, naive, swaplm, bare, ...).
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
    if "bert2" in which:
        torch.manual_seed(0)
        cfg = BertConfig(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024)
        yield "BERT-like 2 layers (H 256, I 1024), N=128, L=128", BertModel(cfg).train(), text(128, 128)
    if "bertbase" in which:
        torch.manual_seed(0)
        yield "BERT-base config (random init), N=128, L=128", BertModel(BertConfig()).train(), text(128, 128)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="cnn,bert2,bertbase")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = ["| case | variant | time (s) | time ratio | peak mem (MB) | mem ratio | score |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for case in args.cases.split(","):
        title, model, inputs = next(cases([case]))
        bare(model, inputs)  # warm-up
        times = {k: [] for k in VARIANTS}
        scores = {}
        # millisecond-scale CNN calls need many rounds for a stable median
        rounds = args.rounds * 8 if "CNN" in title else args.rounds if "base" not in title else max(2, args.rounds // 2)
        for _ in range(rounds):  # interleaved
            for name, fn in VARIANTS.items():
                t0 = time.perf_counter()
                value = fn(model, inputs)
                times[name].append(time.perf_counter() - t0)
                if value is not None:
                    scores[name] = value
        profiled = VARIANTS if case == "cnn" else [k for k in VARIANTS if k != "naive SWAP"]
        mems = {name: peak_bytes(VARIANTS[name], model, inputs)[0] for name in profiled}
        t_bare, m_bare = statistics.median(times["bare forward"]), mems["bare forward"]
        for name in VARIANTS:
            t = statistics.median(times[name])
            if name in mems:
                mem = f"{mems[name] / 2**20:.1f} | {mems[name] / m_bare:.2f}×"
            else:  # lower bound: the (neurons x N) float32 matrix coexists with its sign (and first with the outputs)
                two = {k: v[:2] for k, v in inputs.items()}  # neurons per sample do not depend on N
                floor = 2 * swap_score(model, two).neurons * batch_size(inputs) * 4
                mem = f"≥ {floor / 2**20:.1f} | ≥ {floor / m_bare:.2f}×"
            lines.append(f"| {title} | {name} | {t:.4f} | {t / t_bare:.2f}× | {mem} | {scores.get(name, '')} |")
        print("\n".join(lines[-3:]), flush=True)
        assert scores["naive SWAP"] == scores["swaplm"], "swaplm and the naive count disagree"
    table = "\n".join(lines)
    print(table)
    if args.out:
        policy = os.environ.get("OMP_WAIT_POLICY")
        cmd = (f"OMP_WAIT_POLICY={policy} " if policy else "") + "python benchmarks/engine.py " + " ".join(sys.argv[1:])
        Path(args.out).write_text(
            "# Engine benchmark: bare forward vs naive SWAP vs swaplm\n\n"
            f"Command: `{cmd}`\n\n"
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, train mode, no_grad. "
            f"Times are medians of interleaved rounds; ratios are against the bare forward of the same model "
            f"and batch in the same run. Peak memory: the peak of live tensor bytes allocated during the call (torch "
            f"profiler; weights and batch excluded). Naive SWAP on the transformers: ≥ twice the float32 "
            f"(neurons × N) matrix it concatenates (the matrix and its sign are alive together) (the profiler cannot parse the millions of events of its "
            f"`torch.unique`). swaplm packs small hooked outputs on one thread under `OMP_WAIT_POLICY=PASSIVE` "
            f"(see `SMALL_SINGLE_THREAD` in `swaplm/swap.py`).\n\n"
            + table + "\n")


if __name__ == "__main__":
    main()
