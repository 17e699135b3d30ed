"""The confusion matrix of a classification run's evaluation as a PNG in its workdir.

Why: which classes a network mixes up (shirt vs T-shirt) is what its top-1 hides; the counts themselves are in
results.json. Rows are the true class, columns the prediction, each row normalised to its class's examples.
"""

from pathlib import Path

import numpy as np

# Above this many classes the per-cell counts are unreadable and left out; the colours remain.
ANNOTATE_MAX_CLASSES = 20


def save(confusion, path: str | Path, title: str = "") -> Path:
  """Draws `confusion` ([true, predicted] counts) row-normalised, with the counts written in small matrices."""
  import matplotlib
  matplotlib.use("Agg")  # files only; no display
  import matplotlib.pyplot as plt

  counts = np.asarray(confusion, np.float64)
  rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
  n = len(counts)
  size = min(4 + 0.45 * n, 14)
  fig, ax = plt.subplots(figsize=(size, size * 0.9))
  image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
  ax.set_xlabel("predicted class")
  ax.set_ylabel("true class")
  if title:
    ax.set_title(title, fontsize=9)
  if n <= ANNOTATE_MAX_CLASSES:
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    for t in range(n):
      for p in range(n):
        if counts[t, p]:
          ax.text(p, t, f"{int(counts[t, p])}", ha="center", va="center", fontsize=6,
                  color="white" if rates[t, p] > 0.5 else "black")
  fig.tight_layout()
  path = Path(path)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
