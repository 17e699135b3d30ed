"""Centre cropping of feature maps and label maps."""


def center_crop(x, height: int, width: int):
  """The centre `height` x `width` window of every map in a batch: [N, H, W, ...] -> [N, height, width, ...].

  Why: an unpadded network loses a border at every convolution, so U-Net's skips ("copy and crop",
  Ronneberger et al. 2015) and the labels its output is scored against are cut to the centre.
  Works on NHWC features and on [N, H, W] label maps, numpy or JAX (plain slicing, so under jit too).
  The window starts at row (H - height) // 2 and column (W - width) // 2: when the margin is odd the
  extra row (column) is cut at the bottom (right). torchvision's center_crop rounds half to even
  instead, so for margins of 3, 7, 11, ... it cuts the extra one at the top (left).
  """
  if x.ndim < 3:
    raise ValueError(f"center_crop expects a batch of maps [N, H, W] or [N, H, W, C]; got shape {x.shape}")
  h, w = x.shape[1], x.shape[2]
  if not (1 <= height <= h and 1 <= width <= w):
    raise ValueError(f"center_crop to {height}x{width} does not fit maps of {h}x{w}; the crop must be at least "
                     f"1x1 and at most the input (pad the input to enlarge it)")
  top, left = (h - height) // 2, (w - width) // 2
  return x[:, top:top + height, left:left + width]
