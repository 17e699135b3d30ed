"""googlenet pairs (being written)."""

PAIRS = ()
