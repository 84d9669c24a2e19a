"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class SwapError(Exception):
    """A problem with the user's input (model, data, settings) that swaplm can explain in one line."""
