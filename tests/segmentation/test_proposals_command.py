"""`cnnjax proposals` on a scikit-learn sample photo: at least 100 boxes inside the image in both modes (the issue's
done-when), drawn as an overlay; boxes of a shrunk search come back in the stored image's pixels."""

import json

import numpy as np
import pytest

from cnnjax import main
from cnnjax.commands.proposals import to_stored_pixels


@pytest.fixture(scope="module")
def china(tmp_path_factory):
  from PIL import Image
  from sklearn.datasets import load_sample_images
  path = tmp_path_factory.mktemp("photos") / "china.jpg"
  Image.fromarray(load_sample_images().images[0]).save(path, quality=95)
  return path


def _proposals(capsys, *argv) -> dict:
  assert main.main(["cnnjax", "proposals", *map(str, argv), "--json"]) == 0
  captured = capsys.readouterr()
  return json.loads(captured.out), captured.err


def _check(result, out, mode, width=640, height=427):
  boxes = np.asarray(result["boxes"])
  assert result["mode"] == mode and result["seconds"] > 0 and len(boxes) >= 100
  assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
  assert (boxes[:, 2:] > boxes[:, :2]).all() and len(np.unique(boxes, axis=0)) == len(boxes)
  from PIL import Image
  assert out.stat().st_size > 10_000 and Image.open(out).size[0] >= 160


@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_a_sample_photo_gets_100_boxes_inside_it(china, tmp_path, capsys, mode):
  out = tmp_path / "overlay.png"
  result, err = _proposals(capsys, china, "--mode", mode, "--max_side", 160, "--out", out)
  assert "searching it at 160x107" in err
  _check(result, out, mode)


def test_boxes_come_back_in_the_stored_pixels():
  boxes = np.array([[0, 0, 160, 107], [1, 1, 3, 3], [1, 1, 3, 3]], np.int32)
  np.testing.assert_array_equal(to_stored_pixels(boxes, (160, 107), (640, 427)),
                                [[0, 0, 640, 427], [4, 3, 12, 12]])
  np.testing.assert_array_equal(to_stored_pixels(boxes, (5, 5), (5, 5)), boxes)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "quality"])
def test_full_size_sample_photo(china, tmp_path, capsys, mode):
  out = tmp_path / "overlay.png"
  result, err = _proposals(capsys, china, "--mode", mode, "--out", out)
  assert err == ""
  _check(result, out, mode)


def test_box_overlay_outlines_each_box_inside_it():
  from cnnjax.segmentation.overlay import box_overlay, palette
  picture = box_overlay(np.zeros((6, 8), np.uint8), np.array([[1, 2, 5, 6], [0, 0, 8, 6]]), scale=2, width=2)
  assert picture.shape == (12, 16, 3)
  first, second = palette(3)[1:]
  drawn = picture.any(-1)
  assert (picture[4, 2] == first).all() and (picture[11, 9] == first).all()  # top-left and bottom edge, on top
  assert (picture[0, 0] == second).all() and (picture[11, 15] == second).all()
  assert not drawn[6, 6] and not drawn[2, 5]  # inside the first box; between the two outlines
