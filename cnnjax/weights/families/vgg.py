"""vgg pairs (being written)."""

PAIRS = ()
