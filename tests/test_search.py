"""swaplm search: algorithms, benchmark mode, outputs, journal/resume (real SIGKILL) and bad input."""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swaplm.errors import SwapError
from swaplm.search import BenchmarkView, evolution, random_search, swapnas
from swaplm.search.algorithms import History
from swaplm.spaces import get_space


class Line:
    """Toy space: integers 0..99, mutation ±1..3, crossover the mean; fitness = the value itself."""

    name = "line"

    def sample(self, rng):
        return rng.randrange(100)

    def mutate(self, a, rng):
        return min(99, max(0, a + rng.choice([-3, -2, -1, 1, 2, 3])))

    def crossover(self, a, b, rng):
        return (a + b) // 2

    def key(self, a):
        return str(a)

    def encode(self, a):
        return (a // 10, a % 10)


def _fit(calls):
    def f(archs):
        calls.append(list(archs))
        return [float(a) for a in archs]
    return f


@pytest.mark.parametrize("algo", [swapnas, evolution, random_search])
def test_algorithms_spend_the_budget_and_are_deterministic(algo):
    calls_a, calls_b = [], []
    a = algo(Line(), _fit(calls_a), 40, random.Random(3))
    b = algo(Line(), _fit(calls_b), 40, random.Random(3))
    assert len(a) == 40 and a.archs == b.archs and calls_a == calls_b
    assert a.fitness[a.best_index()] == max(a.fitness)


def test_swapnas_climbs_and_keeps_the_best_children():
    found = [swapnas(Line(), _fit([]), 60, random.Random(s)) for s in range(20)]
    rand = [random_search(Line(), _fit([]), 1, random.Random(s)) for s in range(20)]
    assert sum(h.fitness[h.best_index()] for h in found) / 20 > 95 > sum(h.fitness[0] for h in rand) / 20
    # a cycle scores M children in one fitness call
    calls = []
    swapnas(Line(), _fit(calls), 30, random.Random(0), population=10, mutations=5)
    assert [len(c) for c in calls] == [10, 5, 5, 5, 5]


def test_all_failed_is_an_error_not_a_silent_pick():
    hist = History()
    hist.add([1, 2], [-math.inf, -math.inf])
    with pytest.raises(SwapError, match="no evaluated candidate"):
        hist.best_index()


def test_benchmark_view_maps_mutations_onto_benchmark_archs():
    space = get_space("darts")
    records = space.benchmark()[:50]
    view = BenchmarkView(space, records)
    keys = {space.key(r.arch) for r in records}
    rng = random.Random(0)
    arch = view.sample(rng)
    for _ in range(30):
        child = view.mutate(arch, rng)
        assert space.key(child) in keys and space.key(child) != space.key(arch)
        assert space.key(view.crossover(arch, child, rng)) in keys
        arch = child


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _cli(args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "swaplm", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_darts_search_writes_a_buildable_genotype(tmp_path):
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache")}
    out = _cli(["search", "darts", "--budget", "8", "--population", "4", "--out", str(tmp_path / "run"), "--json"], env)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout)
    assert set(res) == {"out_dir", "best", "fitness", "params", "evaluations", "seconds"} and res["evaluations"] == 8
    from swaplm.spaces.darts_cnn.genotype import parse_genotype

    text = (tmp_path / "run" / "best" / "genotype.txt").read_text()
    model = get_space("darts").build(parse_genotype(text))
    assert sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n) == res["params"]
    assert (tmp_path / "run" / "search.md").is_file() and (tmp_path / "run" / "search_trajectory.png").is_file()
    journal = (tmp_path / "run" / "journal.jsonl").read_text().splitlines()
    assert len(journal) - 1 == len({line["key"] for line in map(json.loads, journal[1:])})


def test_flexibert_search_exports_an_hf_model_dir(tmp_path):
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache")}
    out = _cli(["search", "flexibert", "--task", "sst2", "--budget", "3", "--population", "2", "--batch-size", "4",
                "--max-length", "16", "--out", str(tmp_path / "run"), "--json"], env)
    assert out.returncode == 0, out.stderr[-2000:]
    best = tmp_path / "run" / "best"
    load = ("import swaplm, sys\nfrom transformers import AutoConfig, AutoModel\n"
            "m = AutoModel.from_config(AutoConfig.from_pretrained(sys.argv[1]))\n"
            "print(type(m).__name__, m.config.hidden_size)")
    res = subprocess.run([sys.executable, "-c", load, str(best)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[0] == "FlexiBertModel"
    assert "swaplm search flexibert" in (best / "README.md").read_text()


ARGS = ["search", "darts", "--budget", "24", "--population", "6"]


def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path):
    run_dir = tmp_path / "killed"
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache_a")}
    proc = subprocess.Popen([sys.executable, "-m", "swaplm", *ARGS, "--out", str(run_dir), "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = run_dir / "journal.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= 9:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(journal.read_text().splitlines()) - 1
    assert 8 <= saved < 24 and not (run_dir / "best").exists()
    # the journal is the only memory: use a fresh shared cache so nothing else can answer
    env_b = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache_b")}
    resumed = _cli([*ARGS, "--resume", str(run_dir), "--json"], env_b)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = _cli([*ARGS, "--out", str(tmp_path / "whole"), "--json"], {**ENV, "SWAPLM_CACHE": str(tmp_path / "c")})
    r, w = json.loads(resumed.stdout), json.loads(whole.stdout)
    assert (r["best"], r["fitness"], r["params"], r["evaluations"]) == (w["best"], w["fitness"], w["params"], w["evaluations"])
    seq = lambda d: [(t["key"], t["fitness"]) for t in json.loads((d / "search.json").read_text())["trajectory"]]
    assert seq(run_dir) == seq(tmp_path / "whole")
    meta = json.loads((run_dir / "search.json").read_text())
    assert meta["result"]["computed"] <= 24 - saved  # the journaled evaluations were not recomputed


def test_corrupt_journal_line_is_reported_recomputed_and_nothing_else_lost(tmp_path):
    run_dir = tmp_path / "run"
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache")}
    args = ["search", "darts", "--budget", "6", "--population", "3", "--no-cache"]
    first = _cli([*args, "--out", str(run_dir), "--json"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    journal.write_text("\n".join(lines) + "\n")
    again = _cli([*args, "--resume", str(run_dir), "--json"], env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 corrupt line" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(again.stdout)["best"] == json.loads(first.stdout)["best"]
    assert json.loads((run_dir / "search.json").read_text())["result"]["computed"] == 1


@pytest.mark.parametrize("args, message", [
    (["search", "nospace"], "unknown search space"),
    (["search", "darts", "--algorithm", "annealing"], "unknown search algorithm"),
    (["search", "darts", "--fitness", "nope"], "unknown proxy"),
    (["search", "darts", "--budget", "0"], "--budget must be >= 1"),
    (["search", "darts", "--budget", "ten"], "--budget must be a number"),
    (["search", "darts", "--budget", "50,200"], "add --benchmark"),
    (["search", "darts", "--reg-mu", "2"], "go together"),
    (["search", "flexibert", "--task", "squad"], "unknown task"),
])
def test_bad_search_input_is_one_line(args, message, tmp_path):
    out = _cli(args, {**ENV, "SWAPLM_CACHE": str(tmp_path)}, timeout=120)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_resume_refuses_other_directories_and_other_settings(tmp_path):
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache")}
    (tmp_path / "empty").mkdir()
    out = _cli(["search", "darts", "--resume", str(tmp_path / "empty")], env, timeout=120)
    assert out.returncode == 1 and "not a search directory" in out.stderr and "Traceback" not in out.stderr
    args = ["search", "darts", "--budget", "4", "--population", "2", "--out", str(tmp_path / "r")]
    assert _cli(args, env).returncode == 0
    other = _cli(["search", "darts", "--budget", "5", "--population", "2", "--resume", str(tmp_path / "r")], env)
    assert other.returncode == 1 and "other settings (budget)" in other.stderr and "Traceback" not in other.stderr
    again = _cli(args, env, timeout=120)
    assert again.returncode == 1 and "already holds a search" in again.stderr


def test_size_control_rows_respect_a_hard_parameter_limit(tmp_path):
    from swaplm.search.compare import size_control
    from swaplm.swap import Regularise

    rows = size_control(get_space("darts"), "cifar10", [Regularise(0.5, 0.3, unit="k")], 20, [0, 1],
                        max_params=[900], out_dir=tmp_path, scoring={"repeats": 2},
                        algorithm_options={"population": 5})
    prior, limit = rows
    assert limit["setting"] == "--max-params 900" and limit["params_max"] <= 900
    assert prior["params_mean"] < 1200  # a prior at 0.5 k pulls the found models small


def test_resume_with_only_the_directory_continues_with_its_saved_settings(tmp_path):
    """Killed after 8 evaluations, `swaplm search --resume DIR` (no other option) ends with the uninterrupted
    run's best, fitness and evaluation count; a disagreeing option beside --resume is one line naming it."""
    args = ["search", "darts", "--budget", "24", "--population", "6", "--seed", "3"]
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "swaplm", *args, "--out", str(run_dir), "--json"],
                            env={**ENV, "SWAPLM_CACHE": str(tmp_path / "cache_a")}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    journal = run_dir / "journal.jsonl"
    while proc.poll() is None and not (journal.exists() and len(journal.read_text().splitlines()) >= 9):
        time.sleep(0.02)  # polls the journal: the kill comes after 8 journaled evaluations, whatever the speed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "best").exists()
    env = {**ENV, "SWAPLM_CACHE": str(tmp_path / "cache_b")}
    other = _cli(["search", "--resume", str(run_dir), "--seed", "4"], env, timeout=120)
    assert other.returncode == 1 and "--seed" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    resumed = _cli(["search", "--resume", str(run_dir), "--json"], env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = _cli([*args, "--out", str(tmp_path / "whole"), "--json"], {**ENV, "SWAPLM_CACHE": str(tmp_path / "c")})
    r, w = json.loads(resumed.stdout), json.loads(whole.stdout)
    assert (r["best"], r["fitness"], r["evaluations"]) == (w["best"], w["fitness"], w["evaluations"]) == \
        (r["best"], r["fitness"], 24)
