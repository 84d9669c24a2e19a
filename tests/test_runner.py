"""The evaluation layer (swaplm.runner): store safety, identities that change by themselves, executors."""
import json
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.proxies import Proxy, register
from swaplm.runner import Scorer, Store, StoreWarning, evaluate_candidates, make_executor, resolve
from swaplm.spaces.base import Record, ScoringProtocol, Space

ROOT = Path(__file__).resolve().parent.parent


class WidthSpace(Space):
    name = "widths"
    tasks = ("acc",)
    protocol = ScoringProtocol(n=6, repeats=1, init="gaussian", mode="train")

    def key(self, arch):
        return f"w{arch}"

    def build(self, arch):
        return nn.Sequential(nn.Conv2d(3, arch, 3), nn.ReLU())

    def inputs(self, data=None, *, n=None, seed=0, max_length=None):
        return torch.randn(n, 3, 5, 5, generator=torch.Generator().manual_seed(seed))

    def benchmark(self):
        return [Record(i, w, {"acc": float(w)}) for i, w in enumerate([1, 2, 3])]


def _append_many(path: str, tag: str, count: int) -> None:
    store = Store(path)
    for i in range(count):
        store.append(f"{tag}{i}", {"c#1": {"value": float(i), "seconds": 0.001}}, build_seconds=0.0,
                     computed_at="t", versions={"torch": "x"})


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "s.jsonl")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, tag, 300)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        store = Store(path).load()
    assert sorted(store.keys("c#1")) == sorted([f"a{i}" for i in range(300)] + [f"b{i}" for i in range(300)])
    assert store.get("c#1", "b299")["value"] == 299.0
    lines = Path(path).read_text().splitlines()
    assert json.loads(lines[0]) == {"swaplm_store": 1} and len(lines) == 601


def test_torn_last_line_is_reported_and_never_glued_to_the_next(tmp_path):
    path = tmp_path / "s.jsonl"
    _append_many(str(path), "k", 3)
    path.write_text(path.read_text()[:-7])  # last line cut mid-write, no newline
    Store(path).append("new", {"c#1": {"value": 9.0, "seconds": 0.0}})  # appending first inserts a newline
    with pytest.warns(StoreWarning, match="1 corrupt line"):
        store = Store(path).load()
    assert sorted(store.keys("c#1")) == ["k0", "k1", "new"]
    with warnings.catch_warnings():  # the load compacted the file: the bad line is gone
        warnings.simplefilter("error", StoreWarning)
        assert sorted(Store(path).load().keys("c#1")) == ["k0", "k1", "new"]


def _oom_proxy(model, batch, ctx):
    raise MemoryError("out of memory (simulated)")


def _det_failure(model, batch, ctx):
    return math.inf


def test_deterministic_failures_are_stored_transient_ones_are_not(tmp_path):
    register(Proxy("test_oom", _oom_proxy))
    register(Proxy("test_inf", _det_failure))
    space = WidthSpace()
    scorer = Scorer(space, ["test_oom", "test_inf", "params"], resolve(space))
    store = Store(tmp_path / "s.jsonl")
    first = evaluate_candidates(scorer, [("w1", 1)], store=store)["w1"]
    assert "MemoryError" in first.failed["test_oom"] and "not finite" in first.failed["test_inf"]
    again = Scorer(space, ["test_oom", "test_inf", "params"], resolve(space))
    reread = Store(tmp_path / "s.jsonl")
    hit = again.lookup(reread, "w1")
    assert set(hit.values) == {"test_inf", "params"}  # the out-of-memory failure was not stored
    assert hit.failed["test_inf"] == first.failed["test_inf"]


def test_identity_follows_settings_data_and_versions():
    space = WidthSpace()
    base = Scorer(space, ["params"], resolve(space)).columns["params"]
    assert Scorer(space, ["params"], resolve(space)).columns["params"] == base  # stable
    for change in ({"seed": 1}, {"n": 4}, {"repeats": 2}, {"mode": "eval"}, {"init": None}):
        assert Scorer(space, ["params"], resolve(space, **change)).columns["params"] != base, change
    other_batch = torch.zeros(6, 3, 5, 5)
    assert Scorer(space, ["params"], resolve(space), batch=other_batch).columns["params"] != base


def test_space_identity_covers_the_space_modules_it_imports(tmp_path):
    from swaplm.runner.identity import space_dependencies

    root = tmp_path / "spaces"
    for pkg, source in {"a": "from ..b.model import Net\n", "b": "from ..shared import x\n", "c": ""}.items():
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / "model.py").write_text(source)
    (root / "shared.py").write_text("import swaplm.spaces.c.model\n")
    (root / "base.py").write_text("")
    found = space_dependencies(sorted((root / "a").glob("*.py")), root)  # a -> b -> shared -> c, transitively
    assert sorted(str(f.relative_to(root.resolve())) for f in found) == [
        "b/__init__.py", "b/model.py", "c/__init__.py", "c/model.py", "shared.py"]
    assert space_dependencies([root / "c" / "model.py"], root) == []

    spaces = ROOT / "spaces"
    nb301 = {str(f.relative_to(spaces)) for f in space_dependencies(sorted((spaces / "nb301").glob("*.py")), spaces)}
    assert {"darts_cnn/model.py", "darts_cnn/genotype.py", "cifar10_sample.py"} <= nb301
    # NB-201 imports no other space module than the protocol module, which every space identity covers
    assert space_dependencies(sorted((spaces / "nb201").glob("*.py")), spaces) == [spaces / "base.py"]


def test_settings_are_validated_before_any_model_is_built():
    space = WidthSpace()
    for bad in ({"init": "nope"}, {"mode": "sideways"}, {"padding": "x"}, {"n": 1}, {"repeats": 0}):
        with pytest.raises(SwapError):
            resolve(space, **bad)
    with pytest.raises(SwapError, match="unknown input option"):
        resolve(space, inputs_options={"vocab": 8})


def test_a_local_proxy_is_refused_by_worker_processes_with_a_clear_error():
    register(Proxy("test_local", lambda model, batch, ctx: 1.0))
    space = WidthSpace()
    scorer = Scorer(space, ["test_local"], resolve(space))
    pool = make_executor(2, 1)
    try:
        with pytest.raises(SwapError, match="cannot be sent to worker processes"):
            list(pool.map(scorer, [("w1", 1, ["test_local"]), ("w2", 2, ["test_local"])]))
    finally:
        pool.close()


def _copy_package(dest: Path) -> Path:
    shutil.copytree(ROOT / "swaplm", dest / "swaplm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "spaces", dest / "swaplm" / "spaces", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


_RUN = """
import json, sys
from swaplm.bench import run_bench
r = run_bench("darts", proxies=("swap", "params"), limit=2, repeats=1, cache_dir=sys.argv[1], progress=False,
              warmup=False)
print(json.dumps({"computed": r.computed, "values": [x.values for x in r.rows], "file": __import__("swaplm").__file__}))
"""


def test_changing_a_proxy_source_invalidates_only_its_values(tmp_path):
    pkg = _copy_package(tmp_path / "pkg")
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(pkg), "OMP_NUM_THREADS": "1"}

    def run():
        out = subprocess.run([sys.executable, "-c", _RUN, str(cache)], env=env, capture_output=True, text=True,
                             timeout=300, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    assert first["file"].startswith(str(pkg)) and first["computed"] == 2
    assert run()["computed"] == 0
    params_py = pkg / "swaplm" / "proxies" / "params.py"
    params_py.write_text(params_py.read_text() + "\n# an edit that could change the value\n")
    third = run()
    assert third["computed"] == 2 and third["values"] == first["values"]
    new_lines = [json.loads(s) for s in (cache / "darts.jsonl").read_text().splitlines()[1:]][-2:]
    assert all(list(line["columns"]) == [c for c in line["columns"] if c.startswith("params#")] for line in new_lines)


_SLOW = """
import time
import torch

class SlowScorer:  # a scorer whose every job outlasts the test
    device = torch.device("cpu")

    def score(self, arch, key, names):
        time.sleep(300)
"""

_POOL = """
import multiprocessing as mp, sys, threading, time
from slow import SlowScorer
from swaplm.runner import make_executor

pool = make_executor(2, 1)
threading.Thread(target=lambda: list(pool.map(SlowScorer(), [("a", 1, []), ("b", 2, [])])), daemon=True).start()
while len(mp.active_children()) < 2:
    time.sleep(0.05)
print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_pool_workers_end_when_their_parent_is_terminated(tmp_path):
    import signal
    import time

    (tmp_path / "slow.py").write_text(_SLOW)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", _POOL], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        parent.send_signal(signal.SIGTERM)  # no clean-up runs in the parent: the workers must notice by themselves
        parent.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "pool workers outlived their terminated parent"
    finally:
        parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


class Square(nn.Module):
    """An activation class registered at run time (x² − 0.5: both signs occur)."""

    def forward(self, x):
        return x * x - 0.5


class SquareSpace(WidthSpace):
    name = "squares"

    def build(self, arch):
        return nn.Sequential(nn.Conv2d(3, arch, 3), Square())


def _width_proxy(model, batch, ctx):
    return float(model[0].out_channels * 10)


def test_run_time_proxies_and_activations_reach_worker_processes():
    from swaplm import activations

    register(Proxy("test_width", _width_proxy))
    if Square not in activations._extra:
        activations.register(Square)
    space = SquareSpace()
    jobs = [(f"w{w}", w, ["test_width", "swap"]) for w in (1, 2, 3)]
    here = {ev.key: ev.values for ev in make_executor(1).map(Scorer(space, ["test_width", "swap"], resolve(space)), jobs)}
    pool = make_executor(2, 1)
    try:
        there = {ev.key: ev.values for ev in pool.map(Scorer(space, ["test_width", "swap"], resolve(space)), jobs)}
    finally:
        pool.close()
    assert there == here and here["w2"]["test_width"] == 20.0 and all(v["swap"] > 0 for v in here.values())


def _reads_prior(model, batch, ctx):
    return float(ctx.regularise.mu)


def test_a_proxy_that_reads_the_size_prior_is_filed_under_it():
    """A user proxy declaring ``uses_regularise`` gets another store column when the prior changes (no stale
    value), one that does not declare it keeps its column."""
    from swaplm import Regularise

    reader = Proxy("test_prior_reader", _reads_prior, uses_regularise=True)
    plain = Proxy("test_prior_blind", _reads_prior)
    space = WidthSpace()
    cols = [Scorer(space, [reader, plain], resolve(space, regularise=Regularise(mu=m, sigma=1.0))).columns
            for m in (1.0, 2.0)]
    assert cols[0]["test_prior_reader"] != cols[1]["test_prior_reader"]
    assert cols[0]["test_prior_blind"] == cols[1]["test_prior_blind"]
    assert Proxy("x", _reads_prior).uses_regularise is False and Proxy("x", _reads_prior).version is None
