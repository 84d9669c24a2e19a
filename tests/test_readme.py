"""The README's two set-up commands are exactly what CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(readme) == 2 and "pip install torch==2.13.0" in readme[0] and "pytest" in readme[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme[0] in ci and readme[1] in ci
