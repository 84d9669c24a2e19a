"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class SwapError(Exception):
    """A problem with the user's input (model, data, settings) that swaplm can explain in one line."""


def check_samples(n: object) -> int:
    """``n`` when it is a usable batch size: SWAP compares samples, so a batch needs at least 2."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise SwapError(f"the batch needs at least 2 samples (N >= 2: SWAP compares samples), got {n}")
    return n
