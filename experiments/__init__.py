"""Studies and scripts on top of cnnjax (segmentation validation, scaling); they import cnnjax, never the reverse."""
