"""SWAP in bfloat16 / float16 against float32 on the same model and batch; writes a section of reports/engine.md.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/dtype.py --out reports/engine.md
"""
from __future__ import annotations

import argparse

from swaplm import models, swap_score
from swaplm.data import make_batch
from swaplm.report import markdown_table, write_section

CASES = [("builtin:minilm", "pretrained"), ("builtin:bert-small", "random")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/engine.md")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    args = ap.parse_args()
    rows = []
    for name, init in CASES:
        ref = None
        for dtype in ("float32", "bfloat16", "float16"):
            net, tok, _ = models.load(name, init=init, seed=0, dtype=dtype)
            batch = make_batch("builtin:wikitext2", model_kind="text", tokenizer=tok, n=args.n,
                               max_length=args.max_length, seed=0)
            res = swap_score(net, batch)
            ref = ref if ref is not None else res.score
            rows.append([f"{name} ({init})", dtype, f"{res.score:,.0f}", f"{res.neurons:,}",
                         f"{100 * (res.score - ref) / ref:+.3f} %"])
    section = ["## SWAP in lower precision", "",
               f"Command: `python benchmarks/dtype.py --out {args.out}`; N = {args.n} WikiText-2 blocks of "
               f"{args.max_length} tokens, eval mode, CPU; the difference is against float32 on the same model "
               "and batch (a sign near zero can flip when activations are rounded).", "",
               markdown_table(["model", "dtype", "SWAP", "neurons", "vs float32"], rows, align="llrrr"), ""]
    write_section(args.out, "dtype", section)
    print(f"wrote the dtype section of {args.out}")


if __name__ == "__main__":
    main()
