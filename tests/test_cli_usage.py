"""Usage errors through the real entry point (swaplm.cli:main in a fresh process): typer's short usage message
on stderr, exit code 2, never a traceback."""
import subprocess
import sys

import pytest

ENTRY = "import sys; from swaplm.cli import main; sys.argv[0] = 'swaplm'; main()"

CASES = {
    "unknown_command": (["nosuch"], "No such command"),
    "missing_argument": (["score"], "Missing argument"),
    "bad_int": (["score", "builtin:bert-tiny", "--batch-size", "abc"], "--batch-size"),
    "bad_choice": (["score", "builtin:bert-tiny", "--init", "nope"], "--init"),
    "unknown_option": (["score", "builtin:bert-tiny", "--no-such-option"], "No such option"),
    "bench_bad_int": (["bench", "darts", "--limit", "many"], "--limit"),
    "bench_bad_init": (["bench", "darts", "--init", "nope"], "--init"),  # one enum for --init in every command
    "bench_bad_mode": (["bench", "flexibert", "--mode", "training"], "--mode"),
    "search_bad_device": (["search", "darts", "--device", "tpu"], "--device"),
}


def swaplm(*argv, timeout=120):
    return subprocess.run([sys.executable, "-c", ENTRY, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"})


@pytest.mark.parametrize("case", sorted(CASES))
def test_usage_error_is_a_short_usage_message_with_exit_2(case):
    argv, needle = CASES[case]
    proc = swaplm(*argv)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Usage: swaplm" in proc.stderr and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 8, proc.stderr


def test_swap_error_through_the_entry_point_is_one_line_exit_1():
    proc = swaplm("bench", "nosuchspace")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error:")


def test_help_exits_0():
    proc = swaplm("--help")
    assert proc.returncode == 0 and "score" in proc.stdout and not proc.stderr.strip()
