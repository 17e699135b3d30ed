"""Felzenszwalb-Huttenlocher graph segmentation and watershed, wrapping scikit-image.

Why: they complete the lecture's list of classical methods (Felzenszwalb & Huttenlocher 2004;
Beucher & Meyer's watershed); both are sequential graph algorithms that gain nothing from jit, so
scikit-image's implementations are used as they are. [H, W, C] -> labels [H, W] int32 from 0.
"""

import numpy as np


def felzenszwalb(image: np.ndarray, scale: float = 100.0, sigma: float = 0.8, min_size: int = 50) -> np.ndarray:
  """skimage.segmentation.felzenszwalb on an RGB or grey image."""
  from skimage import segmentation
  image = np.asarray(image)
  channel_axis = -1 if image.ndim == 3 else None
  return segmentation.felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size,
                                   channel_axis=channel_axis).astype(np.int32)


def watershed(image: np.ndarray, markers: int = 100, compactness: float = 0.001) -> np.ndarray:
  """Compact watershed of the Sobel gradient magnitude from `markers` grid seeds (skimage)."""
  from skimage import color, filters, segmentation
  image = np.asarray(image)
  grey = color.rgb2gray(image[..., :3]) if image.ndim == 3 and image.shape[-1] >= 3 else np.squeeze(image)
  gradient = filters.sobel(grey.astype(np.float64))
  return (segmentation.watershed(gradient, markers=markers, compactness=compactness) - 1).astype(np.int32)
