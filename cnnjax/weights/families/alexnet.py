"""alexnet pairs (being written)."""

PAIRS = ()
