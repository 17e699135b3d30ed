"""Analysis of models: parameter and multiply-add counting, per-layer tables, connectivity arithmetic."""

from cnnjax.analysis.counting import count_multiply_adds, count_params, layer_table
from cnnjax.analysis.connectivity import connectivity_weights

__all__ = ["connectivity_weights", "count_multiply_adds", "count_params", "layer_table"]
