"""`cnnjax proposals IMAGE [--mode fast|quality|single] [--out overlay.png] [--top N] [--json]`: selective search.

Draws the top N object proposals (Uijlings et al. 2013, cnnjax.segmentation.selective_search) on the
image; --json prints every proposal as [x0, y0, x1, y1] in the image's pixels (x1, y1 exclusive),
best first, with the mode and the seconds the search took.
"""

import json
import sys
import time

import numpy as np

from cnnjax.commands.arguments import ArgumentParser, integer, one_of
from cnnjax.commands.image_input import MAX_DECODE_PIXELS, read_image
from cnnjax.commands.segment import check_out

MODES = ("fast", "quality", "single")  # cnnjax.segmentation.selective_search.MODES, without importing it for --help
MAX_SIDE = 640
TOP = 100
EXAMPLES = (
    "cnnjax proposals photo.jpg --out proposals.png",
    "cnnjax proposals photo.jpg --mode quality --top 50 --out proposals.png",
    "cnnjax proposals scene.png --json > boxes.json",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax proposals", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("image", help="an image file (PNG, JPEG, ...), 8 bits per channel, at most "
                 f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpixel")
  p.add_argument("--mode", type=one_of(MODES, "mode"), default="fast", metavar="{" + ",".join(MODES) + "}",
                 help="the paper's diversification: single (HSV, k=100), fast (HSV+Lab, k=50,100, 2 strategies; "
                 "default) or quality (5 colour spaces, 4 k, 4 strategies; about 4x slower, 4x more boxes)")
  p.add_argument("--out", default="proposals.png", help="where to write the overlay PNG (default proposals.png); "
                 "its folder must exist")
  p.add_argument("--top", type=integer(1), default=TOP,
                 help=f"how many of the best-ranked boxes to draw (default {TOP})")
  p.add_argument("--json", action="store_true", help="print {image, mode, boxes (all, best first), seconds} as JSON")
  p.add_argument("--max_side", type=integer(1), default=MAX_SIDE, help="images longer than this on either side are "
                 f"searched shrunk to it (boxes are given in the stored image's pixels), which bounds the time "
                 f"(default {MAX_SIDE})")
  p.add_argument("--to_8bit", action="store_true", help="accept a 16-bit image, scaled to 8 bits (0..65535 -> "
                 "0..255); without it such images are refused rather than clipped")
  p.add_argument("--seed", type=int, default=0, help="seed of the ranking's random numbers (default 0)")
  return p


def to_stored_pixels(boxes: np.ndarray, searched: tuple[int, int], stored: tuple[int, int]) -> np.ndarray:
  """Boxes found on a (width, height) `searched` image, in the `stored` image's pixels (rounded outwards, clipped,
  duplicates dropped in rank order)."""
  if searched == stored:
    return boxes
  scale = np.array([stored[0] / searched[0], stored[1] / searched[1]] * 2)
  scaled = boxes * scale
  scaled = np.concatenate([np.floor(scaled[:, :2]), np.ceil(scaled[:, 2:])], 1)
  scaled = np.clip(scaled, 0, np.array(stored * 2)).astype(np.int32)
  _, first = np.unique(scaled, axis=0, return_index=True)
  return scaled[np.sort(first)]


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  check_out(args.out)
  from cnnjax.segmentation import overlay
  from cnnjax.segmentation.selective_search import selective_search
  image, stored = read_image(args.image, "RGB", args.max_side, args.to_8bit)
  searched = (image.shape[1], image.shape[0])
  if searched != stored:
    print(f"cnnjax proposals: note: {args.image} is {stored[0]}x{stored[1]}; searching it at {searched[0]}x"
          f"{searched[1]} (--max_side {args.max_side}); boxes are in the stored image's pixels", file=sys.stderr)
  start = time.perf_counter()
  boxes = selective_search(image, args.mode, seed=args.seed)
  seconds = time.perf_counter() - start
  picture = overlay.box_overlay(image, boxes[:args.top], scale=max(1, 256 // max(image.shape[:2])), width=2)
  overlay.save_png(args.out, picture)
  boxes = to_stored_pixels(boxes, searched, stored)
  if args.json:
    print(json.dumps({"image": args.image, "mode": args.mode, "boxes": boxes.tolist(), "seconds": round(seconds, 3)}))
  else:
    print(f"{args.mode}: {len(boxes)} proposals on {stored[0]}x{stored[1]} pixels in {seconds:.1f} s; "
          f"the best {min(args.top, len(boxes))} drawn")
    print(f"overlay: {args.out}")
  return 0
