"""Per-family module tables: each module's PAIRS lists its (torchvision/timm, cnnjax) pairs."""
