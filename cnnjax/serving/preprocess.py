"""Pictures (uint8 [H, W, C]) -> model input (float32 [*input_shape]), as the weights were evaluated.

"imagenet_eval" is torchvision's ImageNet eval transform (Resize(256) + CenterCrop(224) on a PIL image,
ToTensor, Normalize), step for step, so cnnjax predicts what torchvision predicts on the same file.
"resize" is a cnnjax run's own eval input (cnnjax.data.pipeline): the same antialiased bilinear resize
as config.dataset.image_size, scaled to [0, 1] and normalised per channel.
"""

from collections.abc import Callable, Sequence

import numpy as np

RESIZE_RATIO = 256 / 224  # torchvision's eval resize for a 224 crop (crop_pct 0.875)


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
  """(width, height) with the shorter side `short_side`: torchvision's _compute_resized_output_size (int() floors)."""
  short, long = min(width, height), max(width, height)
  new_long = int(short_side * long / short)
  return (short_side, new_long) if width <= height else (new_long, short_side)


def center_crop_offsets(height: int, width: int, crop_h: int, crop_w: int) -> tuple[int, int]:
  """(top, left) of torchvision's center_crop: int(round((size - crop) / 2.0)) on each axis."""
  return int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0))


def normalise(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
  """uint8 [..., C] -> float32 (x / 255 - mean) / std, in float32 as torchvision's ToTensor + Normalize."""
  x = np.asarray(pixels, np.float32) / np.float32(255)
  return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def imagenet_eval(pixels: np.ndarray, input_shape: Sequence[int], mean: Sequence[float],
                  std: Sequence[float]) -> np.ndarray:
  """torchvision's eval transform: shorter side to round(crop * 256/224) with PIL bilinear (antialiased), centre
  crop to input_shape[:2], normalise. uint8 [H, W, C] -> float32 [crop_h, crop_w, C]."""
  from PIL import Image
  crop_h, crop_w = input_shape[:2]
  image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
  image = image.resize(resized_size(*image.size, round(min(crop_h, crop_w) * RESIZE_RATIO)),
                       Image.Resampling.BILINEAR)
  resized = np.asarray(image, np.uint8).reshape(image.height, image.width, -1)
  if resized.shape[0] < crop_h or resized.shape[1] < crop_w:
    raise ValueError(f"resized picture {resized.shape[:2]} is smaller than the crop {crop_h}x{crop_w}")
  top, left = center_crop_offsets(resized.shape[0], resized.shape[1], crop_h, crop_w)
  return normalise(resized[top:top + crop_h, left:left + crop_w], mean, std)


def resize(pixels: np.ndarray, input_shape: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
  """A run's eval input: resized (if needed) to input_shape[:2] as the data pipeline resizes, normalised.
  uint8 [H, W, C] -> float32 [*input_shape]."""
  from cnnjax.data.pipeline import resize_image
  if tuple(pixels.shape[:2]) != tuple(input_shape[:2]):
    pixels = np.asarray(resize_image(pixels, tuple(input_shape[:2])))
  return normalise(pixels, mean, std)


def resize_crop(pixels: np.ndarray, input_shape: Sequence[int], mean: Sequence[float], std: Sequence[float],
                crop_fraction: float = 0.875) -> np.ndarray:
  """A run's eval input when config.dataset.eval_crop_fraction > 0: the data pipeline's own shorter-side
  resize and centre crop (data.pipeline.resize_shorter_and_center_crop), normalised."""
  from cnnjax.data.pipeline import eval_resize_size, resize_shorter_and_center_crop
  crop = int(input_shape[0])
  pixels = np.asarray(resize_shorter_and_center_crop(pixels, eval_resize_size(crop, crop_fraction), crop))
  return normalise(pixels, mean, std)


PREPROCESSING: dict[str, Callable[..., np.ndarray]] = {"imagenet_eval": imagenet_eval, "resize": resize,
                                                       "resize_crop": resize_crop}


def image_mode(channels: int) -> str:
  """The PIL mode to read pictures in for a model with `channels` input channels."""
  return "L" if channels == 1 else "RGB"
