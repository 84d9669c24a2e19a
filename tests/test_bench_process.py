"""`swaplm bench` as a process: a killed run resumes from its cache; worker processes give the same values."""
import json
import os
import signal
import subprocess
import sys
import time

from swaplm.bench import run_bench
from swaplm.spaces import get_space

ARGS = ["bench", "darts", "--limit", "10", "--repeats", "4", "--proxies", "swap,params", "--json"]


def _cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "swaplm.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_killed_bench_resumes_without_recomputing(tmp_path):
    env = {**os.environ, "SWAPLM_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = _cli(ARGS, env)
    cache_dir = tmp_path / "cache" / "bench"
    deadline = time.time() + 120
    lines = 0
    while time.time() < deadline and proc.poll() is None:
        files = list(cache_dir.glob("*.jsonl")) if cache_dir.exists() else []
        lines = len(files[0].read_text().splitlines()) if files else 0
        if lines >= 4:  # header + at least 3 architectures flushed
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(next(cache_dir.glob("*.jsonl")).read_text().splitlines()) - 1
    assert 3 <= saved < 10

    rerun = _cli(ARGS, env)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    resumed = json.loads(out)
    assert resumed["from_cache"] == saved and resumed["computed"] == 10 - saved

    fresh = _cli([*ARGS, "--no-cache"], env)
    out, err = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, err
    assert json.loads(out)["correlations"] == resumed["correlations"]


def test_worker_processes_give_identical_values():
    space = get_space("darts")
    kw = dict(proxies=["swap", "params"], limit=4, repeats=2, cache_dir=None, progress=False)
    one = run_bench(space, threads=1, **kw)
    two = run_bench(space, workers=2, threads=1, **kw)
    assert [r.id for r in two.rows] == [0, 1, 2, 3]
    assert [r.values for r in two.rows] == [r.values for r in one.rows]
