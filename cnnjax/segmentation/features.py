"""Per-pixel feature vectors for clustering-based segmentation: colour (RGB or CIELAB) and position.

Why: the lecture's k-means and mean-shift segmentation cluster pixels in a joint colour + position
space; the position weight trades colour homogeneity against compact regions.
[H, W, 3] -> [H * W, 3] or [H * W, 5].
"""

import jax
import jax.numpy as jnp

# sRGB (D65) -> XYZ, and the D65 white point (the constants skimage.color.rgb2lab uses).
_RGB_TO_XYZ = jnp.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
_WHITE_D65 = jnp.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb: jax.Array) -> jax.Array:
  """sRGB in [0, 1] -> CIELAB (L in [0, 100]), as skimage.color.rgb2lab with illuminant D65, 2 degrees.

  [..., 3] -> [..., 3].
  """
  rgb = jnp.asarray(rgb, jnp.float32)
  linear = jnp.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
  xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
  f = jnp.where(xyz > 0.008856, jnp.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
  lightness = 116.0 * f[..., 1] - 16.0
  a = 500.0 * (f[..., 0] - f[..., 1])
  b = 200.0 * (f[..., 1] - f[..., 2])
  return jnp.stack([lightness, a, b], axis=-1)


def to_unit_range(image) -> jax.Array:
  """uint8 [0, 255] or float [0, 1] image -> float32 in [0, 1]."""
  image = jnp.asarray(image)
  if jnp.issubdtype(image.dtype, jnp.integer):
    return image.astype(jnp.float32) / 255.0
  return image.astype(jnp.float32)


def pixel_features(image, position_weight: float = 0.0) -> jax.Array:
  """Colour in [0, 1] and, when position_weight > 0, (row, col) / max(H, W) * position_weight.

  [H, W, C] -> [H * W, C (+ 2)].
  """
  image = to_unit_range(image)
  h, w, c = image.shape
  colour = image.reshape(h * w, c)
  if not position_weight:
    return colour
  rows, cols = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
  position = jnp.stack([rows, cols], -1).reshape(h * w, 2).astype(jnp.float32) / max(h, w)
  return jnp.concatenate([colour, position_weight * position], axis=-1)
