"""`cnnjax detect IMAGE --workdir RUN --out overlay.png [--json] [--score_threshold S]`: a trained detector's boxes.

The run (config.task="detection": CenterNet or R-CNN) sees the image as its evaluation did (its channels,
size and normalisation; R-CNN its selective-search proposals); the boxes, classes and scores at or above
--score_threshold are drawn on the image (enlarged --scale times) and, with --json, printed as one JSON object
with boxes [x0, y0, x1, y1] in the image's pixels.
"""

import json

from cnnjax.commands.arguments import ArgumentParser, integer, number

EXAMPLES = (
    "cnnjax detect scene.png --workdir results/detection/fashion_scenes_centernet --out detections.png",
    "cnnjax detect scene.png --workdir runs/fashion_scenes_rcnn --json --score_threshold 0.5",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax detect", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("image", help="an image file (PNG, JPEG, ...), 8 bits per channel")
  p.add_argument("--workdir", required=True, help="the workdir of a `cnnjax train` detection run (its newest "
                 "checkpoint)")
  p.add_argument("--out", default="detections.png", help="where to write the overlay PNG (default detections.png); "
                 "its folder must exist")
  p.add_argument("--score_threshold", type=number(0), default=0.3, help="the lowest score drawn and printed "
                 "(default 0.3)")
  p.add_argument("--scale", type=integer(1), default=4, help="the overlay's enlargement (default 4)")
  p.add_argument("--json", action="store_true", help="also print the detections as one JSON object")
  return p


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  from cnnjax.commands.image_input import read_image
  from cnnjax.commands.predict import to_grey
  from cnnjax.commands.segment import check_out
  check_out(args.out)
  picture = read_image(args.image, "RGB")[0]  # the file is checked before a model loads
  from PIL import Image

  from cnnjax.serving.detect import detection_overlay, load_detector
  detector = load_detector(args.workdir)
  if detector.channels == 1:
    picture = to_grey(picture)
  found = detector.detect(picture, args.score_threshold)
  Image.fromarray(detection_overlay(picture, found, args.scale)).save(args.out)
  if args.json:
    print(json.dumps({"image": args.image, "workdir": args.workdir, "overlay": args.out,
                      "detections": found.as_json()}))
  else:
    for entry in found.as_json():
      print(f"{entry['score']:.3f}  {entry['name']:12s} {entry['box']}")
    print(f"{len(found.scores)} detections (score >= {args.score_threshold}) drawn in {args.out}")
  return 0
