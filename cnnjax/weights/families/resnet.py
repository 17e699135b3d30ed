"""resnet pairs (being written)."""

PAIRS = ()
