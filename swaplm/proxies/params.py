"""Parameter count."""
from swaplm.swap import count_params

from .base import Proxy

PROXY = Proxy("params", lambda model, batch, ctx: float(count_params(model)), cost="none",
              card="Number of trainable parameters (raw count, excluding 'auxiliary' heads); the trivial baseline "
                   "every proxy must beat.")
