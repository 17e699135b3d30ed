"""`cnnjax predict IMAGE [IMAGE ...] (--weights DIR | --workdir RUN) [--top K] [--json]`: top-K classes per image.

Converted ImageNet weights see torchvision's eval transform (resize 256, centre crop 224, ImageNet
mean/std), so their predictions match torchvision's on the same file; a training run's model sees its
dataset's eval preprocessing (resized to its input size, normalised). --json prints one JSON object.
"""

import json

import numpy as np

from cnnjax.commands.arguments import ArgumentParser, integer

EXAMPLES = (
    "cnnjax predict photo.jpg --weights weights/resnet18 --top 5",
    "cnnjax predict a.png b.png --workdir runs/fashion_mnist_lenet5 --json",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax predict", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...), 8 bits per channel")
  p.add_argument("--weights", help="a weights directory (cnnjax convert)")
  p.add_argument("--workdir", help="the workdir of a `cnnjax train` classification run (its newest checkpoint)")
  p.add_argument("--top", type=integer(1), default=5, help="how many classes per image (default 5)")
  p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
  return p


def to_grey(picture: np.ndarray) -> np.ndarray:
  """uint8 RGB [H, W, 3] -> grey [H, W, 1], as PIL's convert("L") (a grey file read as RGB comes back unchanged)."""
  from PIL import Image
  return np.asarray(Image.fromarray(picture).convert("L"))[..., None]


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  from cnnjax.errors import InputError
  if (args.weights is None) == (args.workdir is None):
    raise InputError("give exactly one of --weights DIR (a weights directory) or --workdir RUN (a training run)")
  from cnnjax.commands.image_input import read_image
  pictures = [read_image(path, "RGB")[0] for path in args.images]  # every file checked before a model loads
  if args.weights:
    from cnnjax.weights.directory import read_metadata
    read_metadata(args.weights)  # a damaged weights.json is refused before JAX starts
  from cnnjax.serving.load import load_served
  from cnnjax.serving.predict import predict_pictures
  served = load_served(args.weights, args.workdir, "cnnjax predict")
  if served.input_shape[-1] == 1:
    pictures = [to_grey(p) for p in pictures]
  results = [{"image": path, **found} for path, found in
             zip(args.images, predict_pictures(served, pictures, args.top))]
  if args.json:
    print(json.dumps({"model": served.description, "top": args.top, "images": results}))
    return 0
  for result in results:
    print(f"{result['image']}:")
    for rank, (index, name, p) in enumerate(zip(result["indices"], result["names"], result["probabilities"]), 1):
      print(f"  {rank}. {p:.4f}  {name} ({index})")
  return 0
