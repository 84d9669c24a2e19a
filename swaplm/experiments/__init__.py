"""Reproducible experiments that produce the figures of ``reports/`` (run them as ``python -m swaplm.experiments.X``)."""
