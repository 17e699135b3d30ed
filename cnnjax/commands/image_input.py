"""Reading the image file a command is given: refused in one line when it cannot be used as it is.

Why: `cnnjax segment` works on 8-bit pictures of bounded size. A file PIL cannot decode, a
picture with more than 8 bits per channel (which a plain conversion would clip or truncate) and
one too large to decode are InputErrors naming the file and the fix; a picture larger than
`max_side` is shrunk, and the caller says so. -> uint8 [H, W, C].
"""

import warnings
from pathlib import Path

import numpy as np

from cnnjax.errors import InputError

MAX_DECODE_PIXELS = 89_478_485  # PIL's decompression-bomb threshold (a 9459 x 9459 picture)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_SHRINK = "shrink it first, e.g. to 4000 pixels on its longer side"


def bits_per_channel(image) -> int:
  """Bits per channel of the stored pixels (PIL reads 16-bit colour PNGs as 8-bit RGB: its tile says so)."""
  if image.mode in _SIXTEEN_BIT_MODES:
    return 16
  if image.mode in ("I", "F"):
    return 32
  rawmodes = [str(tile.args[0] if isinstance(tile.args, tuple) else tile.args) for tile in image.tile]
  return 16 if any(";16" in rawmode for rawmode in rawmodes) else 8


def _to_8_bits(image):
  """A 16-bit PIL image at 8 bits, 0..65535 scaled to 0..255 (rounded, nothing clipped)."""
  from PIL import Image
  if image.mode not in _SIXTEEN_BIT_MODES:
    return image  # colour PNGs: PIL already keeps the high byte of each 16-bit sample, a scaling
  values = np.asarray(image, np.uint32)
  return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L")


def read_image(path: str, mode: str = "RGB", max_side: int | None = None,
               to_8bit: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
  """The picture at `path` in PIL `mode` ("RGB" or "L"), shrunk to at most `max_side` pixels on its longer side.

  Returns (pixels uint8 [H, W, C], (width, height) as stored). Raises InputError for a missing,
  undecodable, too large or (unless `to_8bit`) more-than-8-bit file.
  """
  from PIL import Image, UnidentifiedImageError
  if not Path(path).is_file():
    raise InputError(f"image {path} {'is a folder' if Path(path).is_dir() else 'does not exist'}; give an image file")
  try:
    with warnings.catch_warnings():  # PIL warns above its limit; the size is refused below instead
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      image = Image.open(path)
  except Image.DecompressionBombError:  # PIL refuses twice its limit before reading the size out to us
    raise InputError(f"image {path} has over {2 * MAX_DECODE_PIXELS / 1e6:.0f} Mpixel, more than the "
                     f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpixel read at full size; {_SHRINK}") from None
  except UnidentifiedImageError:
    raise InputError(f"image {path} is not a picture PIL can decode; give a PNG, JPEG, BMP, TIFF, ... file") from None
  except OSError as e:
    raise InputError(f"image {path} cannot be read ({e.strerror or e})") from e
  with image:
    width, height = image.size
    if width * height > MAX_DECODE_PIXELS:
      raise InputError(f"image {path} is {width}x{height} ({width * height / 1e6:.0f} Mpixel), more than the "
                       f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpixel read at full size; {_SHRINK}")
    bits = bits_per_channel(image)
    if bits == 32 or (bits > 8 and not to_8bit):
      fix = "pass --to_8bit to scale it to 0..255 (nothing is clipped), or " if bits == 16 else ""
      raise InputError(f"image {path} has {bits} bits per channel (PIL mode {image.mode}) and segmentation reads 8; "
                       f"{fix}save it with 8 bits per channel")
    try:
      picture = (_to_8_bits(image) if bits > 8 else image).convert(mode)
    except (OSError, SyntaxError, ValueError) as e:  # PIL's errors for truncated or damaged data
      raise InputError(f"image {path} cannot be decoded ({e}); the file is damaged or truncated") from e
  if max_side and max(picture.size) > max_side:
    ratio = max_side / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))),
                             Image.Resampling.LANCZOS)
  pixels = np.asarray(picture, np.uint8)
  return pixels.reshape(picture.height, picture.width, -1), (width, height)
