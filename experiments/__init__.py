"""Reproducible studies that write figures into ``reports/`` (outside the installed package; run them from the
repository root as ``python experiments/NAME.py`` or ``python -m experiments.NAME``)."""
