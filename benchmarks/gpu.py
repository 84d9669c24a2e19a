"""GPU measurements for reports/gpu.md (run by benchmarks/gpu.sh on a machine with CUDA; ≤ 10 minutes).

    python benchmarks/gpu.py --out reports/gpu.md            # on a GPU
    python benchmarks/gpu.py --device cpu --quick --out /tmp/gpu_check.md   # dry run of the script itself
    python benchmarks/gpu.py --parts nb201 --out /tmp/nb201_gpu.md          # one measurement only

Measures, each figure written by this script:
1. DARTS archs/min with the reference protocol (N = 16, 32 Gaussian re-inits, train mode), first ``--darts`` archs;
2. FlexiBERT archs/min (reference build, N = 128, L = 128), first ``--flexibert`` records;
3. BERT-base (config, random init, N = 128, L = 128, eval mode): SWAP vs a bare forward, median time over
   interleaved rounds and peak memory from ``torch.cuda.max_memory_allocated``;
4. CPU-vs-GPU agreement (TF32 off): the same archs scored on both devices, exact-equality count and the
   largest relative difference, for 50 DARTS and 20 FlexiBERT archs;
5. NB-201 archs/min of the SWAP bench as a user runs it: ``swaplm bench nb201 --task cifar10 --proxies swap
   --ids 0-(N-1) --device DEVICE --no-cache --json`` as a child process (the space's protocol, the benchmark's
   full network, first ``--nb201`` archs), timed as a whole process (start-up included) and by the bench's own
   wall time from its JSON.

``--parts`` runs some of them (darts, flexibert, bert, agreement, nb201; default all).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _bench(space, ids, device):
    from swaplm.bench import run_bench

    t = time.perf_counter()
    res = run_bench(space, proxies=("swap",), ids=ids, device=str(device), cache_dir=None, progress=False)
    return res, time.perf_counter() - t


def _agreement(space, ids, device):
    gpu, _ = _bench(space, ids, device)
    cpu, _ = _bench(space, ids, torch.device("cpu"))
    a, b = gpu.values("swap"), cpu.values("swap")
    equal = sum(x == y for x, y in zip(a, b))
    rel = max((abs(x - y) / max(abs(y), 1.0) for x, y in zip(a, b) if x is not None and y is not None), default=0.0)
    return equal, len(a), rel


def _bert_base(device, rounds):
    from transformers import BertConfig, BertModel

    from swaplm import swap_score
    from swaplm.data import bert_tokenizer, text_batch
    from swaplm.modelstate import no_tf32, to_device

    torch.manual_seed(0)
    model = BertModel(BertConfig()).to(device).eval()
    batch = to_device(text_batch("builtin:wikitext2", bert_tokenizer(), n=128, max_length=128, seed=0), device)
    times = {"bare": [], "swap": []}
    peaks = {}
    with no_tf32():
        for r in range(rounds):
            for name in ("bare", "swap"):
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
                _sync(device)
                t = time.perf_counter()
                if name == "bare":
                    with torch.no_grad():
                        model(**batch)
                else:
                    swap_score(model, batch)
                _sync(device)
                times[name].append(time.perf_counter() - t)
                if device.type == "cuda":
                    peaks[name] = torch.cuda.max_memory_allocated(device) - base
    return {k: statistics.median(v[1:] if len(v) > 1 else v) for k, v in times.items()}, peaks


def _nb201_cli(n: int, device) -> dict:
    """``swaplm bench nb201`` (SWAP, cifar10, first ``n`` archs, no store) as a child process: its archs, the
    process's wall seconds and the bench's own wall seconds (from its JSON)."""
    cmd = [sys.executable, "-m", "swaplm", "bench", "nb201", "--task", "cifar10", "--proxies", "swap", "--ids",
           f"0-{n - 1}", "--device", device.type, "--no-cache", "--json"]
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    seconds = time.perf_counter() - t
    if run.returncode != 0:
        tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"error: {' '.join(cmd[2:])} failed: {tail}")
    out = json.loads(run.stdout)
    return {"command": "swaplm " + " ".join(cmd[3:]), "archs": out["n_archs"], "process_s": seconds,
            "bench_s": out["wall_seconds"], "spearman": out["correlations"]["swap"]["cifar10"]["spearman"],
            "n": out["settings"]["n"]}


PARTS = ("darts", "flexibert", "bert", "agreement", "nb201")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default="reports/gpu.md")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (to check the script, not to measure)")
    ap.add_argument("--nb201", type=int, default=None, help="NB-201 archs to time (default 1000; --quick: 4)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"measurements to run, of {', '.join(PARTS)}")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        sys.exit(f"error: --parts takes some of {', '.join(PARTS)}; got {args.parts!r}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no CUDA device here; run on a GPU machine or pass --device cpu --quick to check the script")
    q = args.quick
    n_darts, n_flex, n_agree_d, n_agree_f, rounds = (8, 2, 4, 2, 2) if q else (300, 60, 50, 20, 5)
    n_nb201 = args.nb201 or (4 if q else 1000)
    from swaplm.spaces import get_space

    darts, flex = get_space("darts"), get_space("flexibert")
    t0 = time.perf_counter()
    if "darts" in parts or "flexibert" in parts:
        _bench(darts, [0], device)  # start-up (CUDA context, kernels) outside the timings
    rows, notes = [], []
    if "darts" in parts:
        dres, dsec = _bench(darts, list(range(n_darts)), device)
        rows.append((f"DARTS, reference protocol (N = 16, 32 re-inits), {n_darts} archs",
                     f"{60 * n_darts / dsec:.0f} archs/min"))
        notes.append(f"DARTS swap vs CIFAR-10 {dres.correlations()['swap']['cifar10']['spearman']:.3f}")
    if "flexibert" in parts:
        fres, fsec = _bench(flex, list(range(n_flex)), device)
        rows.append((f"FlexiBERT reference build (N = 128, L = 128), {n_flex} records",
                     f"{60 * n_flex / fsec:.1f} archs/min"))
        notes.append(f"FlexiBERT swap vs GLUE {fres.correlations()['swap']['glue']['spearman']:.3f}")
    if "bert" in parts:
        bt, peaks = _bert_base(device, rounds)
        rows.append(("BERT-base N = 128, L = 128: bare forward / SWAP",
                     f"{bt['bare']:.3f} s / {bt['swap']:.3f} s ({bt['swap'] / bt['bare']:.2f}×)"))
        if peaks:
            rows.append(("BERT-base peak memory (max_memory_allocated): bare / SWAP",
                         f"{peaks['bare'] / 2**20:.0f} MiB / {peaks['swap'] / 2**20:.0f} MiB "
                         f"({peaks['swap'] / max(peaks['bare'], 1):.2f}×)"))
    if "agreement" in parts:
        d_eq, d_n, d_rel = _agreement(darts, list(range(n_agree_d)), device)
        f_eq, f_n, f_rel = _agreement(flex, list(range(n_agree_f)), device)
        rows += [("CPU vs GPU, DARTS: identical scores", f"{d_eq} / {d_n} (largest relative difference {d_rel:.2e})"),
                 ("CPU vs GPU, FlexiBERT: identical scores",
                  f"{f_eq} / {f_n} (largest relative difference {f_rel:.2e})")]
    if "nb201" in parts:
        nb = _nb201_cli(n_nb201, device)
        per_min, whole = 60 * nb["archs"] / nb["bench_s"], 60 * nb["archs"] / nb["process_s"]
        rows += [(f"NB-201 SWAP bench (cifar10 build, N = {nb['n']}, full network), {nb['archs']} archs: bench "
                  "wall time", f"{per_min:.0f} archs/min"),
                 ("the same, whole process (start-up and CUDA context included)", f"{whole:.0f} archs/min")]
        rho = "—" if nb["spearman"] is None else f"{nb['spearman']:.3f}"
        notes.append(f"NB-201 swap vs CIFAR-10 {rho} (first {nb['archs']} archs)")
        print(f"NB-201 SWAP bench: {per_min:.0f} archs/min ({whole:.0f} archs/min as a whole process; "
              f"`{nb['command']}`)", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    from swaplm.report import markdown_table, provenance_footer, versions

    lines = [f"# swaplm on {name}", "", f"Command: `bash benchmarks/gpu.sh` (`python {' '.join(sys.argv)}`)", "",
             ", ".join(f"{k} {v}" for k, v in versions().items()) + "; "
             f"TF32 off in every scored forward. Every figure below was measured by this script in one run "
             f"({time.perf_counter() - t0:.0f} s).", ""]
    lines += [markdown_table(["what", "value"], rows, align="lr"), ""]
    if notes:
        lines += ["ρ on the timed subsets (not the headline): " + "; ".join(notes) + ".", ""]
    lines.append(provenance_footer())
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
