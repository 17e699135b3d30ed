"""read_image: 16-bit pictures scaled (not clipped) with to_8bit, large ones shrunk, the stored size reported."""

import numpy as np
import pytest
from PIL import Image

from cnnjax.commands.image_input import bits_per_channel, read_image
from cnnjax.errors import InputError
from tests.commands.test_bad_inputs import write_png


def test_16_bit_grey_is_refused_or_scaled_without_clipping(tmp_path):
  path = tmp_path / "grey16.png"
  write_png(path, np.array([[0, 257, 1000, 32768, 65535]]), bits=16)
  assert bits_per_channel(Image.open(path)) == 16
  with pytest.raises(InputError, match="16 bits per channel.*--to_8bit"):
    read_image(str(path))
  pixels, stored = read_image(str(path), "L", to_8bit=True)
  assert stored == (5, 1)
  assert pixels[0, :, 0].tolist() == [0, 1, 4, 128, 255]  # round(v * 255 / 65535); PIL's convert: 0, 255, 255, 255, 255


def test_16_bit_colour_keeps_the_high_byte(tmp_path):
  path = tmp_path / "rgb16.png"
  write_png(path, np.array([[[0, 256, 65535], [512, 40000, 1]]]), bits=16)
  with pytest.raises(InputError, match="rgb16.png has 16 bits"):
    read_image(str(path))
  pixels, _ = read_image(str(path), to_8bit=True)
  assert pixels.tolist() == [[[0, 1, 255], [2, 156, 0]]]


def test_large_picture_is_shrunk_to_max_side(tmp_path):
  path = tmp_path / "wide.png"
  Image.fromarray(np.zeros((30, 120, 3), np.uint8)).save(path)
  pixels, stored = read_image(str(path), max_side=40)
  assert pixels.shape == (10, 40, 3) and stored == (120, 30)
  assert read_image(str(path), "L")[0].shape == (30, 120, 1)
