"""The engine's fast paths behind the definition in :mod:`swaplm.swap` (SPEC §2).

* :mod:`.packers`: how hooked outputs become codes. One packer is chosen per score (``choose_packer``) and named
  in ``SwapResult.packer``: "seen-table", "numba", "staged" or "reference" (the plain ``swaplm.swap.Collector``).
  Every packer gives the reference's codes bit for bit; they differ in speed only.
* :mod:`.vectorised`: the repeats as K re-initialised copies folded into one forward (``SwapResult.path``).
* :mod:`.fastpack`: the numba kernels the packers and ``count_distinct`` use on the CPU.

The submodules are imported where they are used (``swaplm.swap`` imports this package while it loads, and the
packers subclass its collector), so importing this package imports nothing else.
"""
