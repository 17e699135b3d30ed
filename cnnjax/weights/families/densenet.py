"""densenet pairs (being written)."""

PAIRS = ()
