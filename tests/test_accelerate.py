"""`accelerate launch` runs: candidates sharded over 2 CPU processes give exactly the single-process values.

On a CPU-only machine accelerate 1.x starts several processes with its torch.distributed launcher
(``--multi_gpu``; ``--cpu`` alone is a single process unless MPI is configured); swaplm then asks for
accelerate's MULTI_CPU state (gloo), one process per CPU share.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate is not installed")

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:  # a fresh rendezvous port per launch: back-to-back launches never collide
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, env, n=2, timeout=600):
    cmd = ["accelerate", "launch", "--multi_gpu", "--num_processes", str(n), "--num_machines", "1",
           "--main_process_port", str(_free_port()), "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "swaplm", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _launch_two_machines(args, env, timeout=600):
    """Two `accelerate launch` commands, one per machine (one process each), meeting on the loopback address.
    Returns the two finished processes, machine rank 0 first."""
    port = str(_free_port())
    procs = [subprocess.Popen(["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "2",
                               "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                               "--main_process_port", port, "--mixed_precision", "no", "--dynamo_backend", "no",
                               "-m", "swaplm", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for rank in (0, 1)]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [subprocess.CompletedProcess(p.args, p.returncode, o, e) for p, (o, e) in zip(procs, outs)]


def _plain(args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "swaplm", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _values(store):
    out = {}
    for line in store.read_text().splitlines()[1:]:
        d = json.loads(line)
        out[d["key"]] = {c: v.get("value", v.get("failed")) for c, v in d["columns"].items()}
    return out


def _same_as_one_process(launched, args, tmp_path, n):
    """The launched bench (its main process's output, its store under tmp_path/a) equals a plain one-process run
    of ``args`` (store under tmp_path/b): same correlations, the same value for every one of the ``n`` archs."""
    assert launched.returncode == 0, launched.stderr[-3000:]
    one = _plain(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / "b")})
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = json.loads(launched.stdout), json.loads(one.stdout)
    assert a["settings"]["processes"] == 2 and b["settings"]["processes"] == 1
    assert a["correlations"] == b["correlations"] and a["n_archs"] == b["n_archs"] == n
    va, vb = _values(tmp_path / "a" / "bench" / "darts.jsonl"), _values(tmp_path / "b" / "bench" / "darts.jsonl")
    assert va == vb and len(va) == n  # one line per arch: only the main process wrote


def test_bench_on_two_processes_equals_one(tmp_path):
    args = ["bench", "darts", "--limit", "24", "--repeats", "2", "--json"]
    _same_as_one_process(_launch(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / "a")}), args, tmp_path, 24)


def test_bench_on_two_machines_equals_one_process(tmp_path):
    args = ["bench", "darts", "--limit", "12", "--repeats", "2", "--json"]
    main, other = _launch_two_machines(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / "a")})
    assert other.returncode == 0, other.stderr[-3000:]
    assert other.stdout == ""  # only the main process of machine 0 prints
    _same_as_one_process(main, args, tmp_path, 12)


def test_benchmark_mode_search_does_not_depend_on_the_process_count(tmp_path):
    def run(launch, tag):
        args = ["search", "darts", "--benchmark", "--budget", "16", "--population", "4", "--out",
                str(tmp_path / tag), "--json"]
        out = launch(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / f"c{tag}")})
        assert out.returncode == 0, out.stderr[:3000] + out.stderr[-1500:]
        traj = json.loads((tmp_path / tag / "search.json").read_text())["trajectory"]
        return json.loads(out.stdout), [(t["key"], t["fitness"]) for t in traj]

    (ra, ta), (rb, tb) = run(_launch, "two"), run(_plain, "one")
    assert ta == tb and len(ta) == 16
    assert {k: ra[k] for k in ("best", "fitness", "params", "true_score")} == \
           {k: rb[k] for k in ("best", "fitness", "params", "true_score")}


def test_more_processes_than_candidates_is_one_line_and_stores_nothing(tmp_path):
    out = _launch(["bench", "darts", "--limit", "1"], {**ENV, "SWAPLM_CACHE": str(tmp_path)})
    assert out.returncode != 0
    ours = [l for l in out.stderr.splitlines() if l.startswith("error:")]
    assert ours == ["error: 2 processes for 1 architecture(s): launch at most 1 (--num_processes)"]
    assert not (tmp_path / "bench" / "darts.jsonl").exists()


def _checkpoints(root):
    import torch
    from transformers import BertConfig, BertModel

    cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     vocab_size=30522, max_position_embeddings=64)
    for step in (0, 10, 20):
        torch.manual_seed(step)
        BertModel(cfg).save_pretrained(root / f"checkpoint-{step}")
    return root


def test_rank_on_two_processes_equals_one(tmp_path):
    ckpts = _checkpoints(tmp_path / "run")
    args = ["rank", str(ckpts), "--proxies", "swap,params", "-n", "8", "--max-length", "16", "--json"]
    two = _launch(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / "a")})
    assert two.returncode == 0, two.stderr[-3000:]
    one = _plain(args, {**ENV, "SWAPLM_CACHE": str(tmp_path / "b")})
    assert one.returncode == 0, one.stderr[-3000:]
    ra, rb = json.loads(two.stdout)["ranking"], json.loads(one.stdout)["ranking"]
    assert [(r["model"], r["scores"]) for r in ra] == [(r["model"], r["scores"]) for r in rb] and len(ra) == 3
