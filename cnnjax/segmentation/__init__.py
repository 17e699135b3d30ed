"""Classical segmentation: k-means, mean shift and SLIC in JAX (jit + vmap); Felzenszwalb and watershed
via scikit-image; selective search's object proposals (selective_search.py, numpy); overlays for pictures."""

from cnnjax.segmentation.features import pixel_features, rgb_to_lab
from cnnjax.segmentation.kmeans import kmeans, kmeans_segment, kmeans_segment_batch
from cnnjax.segmentation.meanshift import mean_shift, mean_shift_segment, mean_shift_segment_batch
from cnnjax.segmentation.slic import enforce_connectivity, slic, slic_batch

__all__ = ["enforce_connectivity", "kmeans", "kmeans_segment", "kmeans_segment_batch", "mean_shift",
           "mean_shift_segment", "mean_shift_segment_batch", "pixel_features", "rgb_to_lab", "slic", "slic_batch"]
