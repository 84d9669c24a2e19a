"""exit_launched: how a process of an accelerate run ends (output flushed, exit status kept, no teardown)."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("code, status, err", [(None, 0, ""), (0, 0, ""), (3, 3, ""), ("bad input", 1, "bad input")])
def test_exit_launched_flushes_and_keeps_the_exit_status(code, status, err):
    script = ("import sys; from swaplm.runner.distributed import exit_launched\n"
              "print('written', end=''); sys.stderr.write('note'); exit_launched(%r)\n"
              "print('never reached')" % (code,))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == status
    assert out.stdout == "written"  # buffered output is flushed before os._exit; nothing after it runs
    assert out.stderr.startswith("note") and err in out.stderr
