"""`cnnjax explain IMAGE --workdir RUN --method gradcam|saliency [--out heat.png] [--class_index C]`

Writes the image and its heat map over it side by side as a PNG, from the newest checkpoint of a classification
run (cnnjax.analysis.explain: Grad-CAM on the last convolutional stage, or vanilla gradient saliency), and prints
the predicted class with its probability.
"""

from cnnjax.commands.arguments import ArgumentParser, integer, one_of
from cnnjax.commands.image_input import MAX_DECODE_PIXELS, read_image
from cnnjax.commands.segment import check_out, load_trained
from cnnjax.errors import InputError

METHODS = ("gradcam", "saliency")  # cnnjax.analysis.explain.METHODS, without importing JAX for --help
MAX_SIDE = 400
EXAMPLES = (
    "cnnjax explain shirt.png --workdir results/explain/fashion_mnist_resnet20_short --method gradcam --out heat.png",
    "cnnjax explain shirt.png --workdir runs/fashion_mnist_lenet5 --method saliency --class_index 6",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax explain", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("image", help="an image file (PNG, JPEG, ...), 8 bits per channel, at most "
                 f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpixel; read in the run's channels (grey or RGB)")
  p.add_argument("--workdir", required=True, help="workdir of a `cnnjax train` classification run (its newest "
                 "checkpoint and config.json)")
  p.add_argument("--method", type=one_of(METHODS, "method"), default="gradcam", metavar="{" + ",".join(METHODS) + "}",
                 help="gradcam: channel-weighted activation of the last conv stage; saliency: |d logit / d pixel| "
                 "(default gradcam)")
  p.add_argument("--out", default="heat.png", help="where to write the PNG (default heat.png); its folder must exist")
  p.add_argument("--class_index", type=integer(0), default=None, help="the class to explain (default: the predicted "
                 "one)")
  p.add_argument("--max_side", type=integer(1), default=MAX_SIDE, help="images longer than this on either side are "
                 f"shrunk to it first (default {MAX_SIDE}); a run with config.dataset.image_size uses that size instead")
  return p


def load_image(path: str, ds: dict, max_side: int):
  """(uint8 pixels [H, W, C] as the model sees them, normalised float image): the run's evaluation view (its
  image_size, after the shorter-side resize and centre crop of config.dataset.eval_crop_fraction if set),
  normalised with its mean and std."""
  import numpy as np
  from PIL import Image
  channels = len(ds["mean"])
  size = ds.get("image_size")
  pixels, _ = read_image(path, "L" if channels == 1 else "RGB", None if size else max_side)
  if size and ds.get("eval_crop_fraction"):
    from cnnjax.data import pipeline
    shorter = pipeline.eval_resize_size(size, ds["eval_crop_fraction"])
    import tensorflow as tf
    pixels = pipeline.resize_shorter_and_center_crop(tf.constant(pixels), shorter, size).numpy()
  elif size:
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels).resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, np.uint8).reshape(size, size, channels)
  normalised = (pixels / np.float32(255) - np.asarray(ds["mean"], np.float32)) / np.asarray(ds["std"], np.float32)
  return pixels, normalised.astype(np.float32)


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  check_out(args.out)
  model, variables, config = load_trained(args.workdir, "classification", "cnnjax explain")
  num_classes = config["dataset"]["num_classes"]
  if args.class_index is not None and args.class_index >= num_classes:
    raise InputError(f"--class_index {args.class_index} is not a class of the run in {args.workdir} "
                     f"(0..{num_classes - 1})")
  pixels, image = load_image(args.image, config["dataset"], args.max_side)
  import jax
  import numpy as np

  from cnnjax.analysis import explain
  from cnnjax.segmentation import overlay
  probabilities = np.asarray(jax.nn.softmax(model.apply(variables, image[None], train=False)[0]))
  heat, c = explain.METHODS[args.method](model, variables, image, args.class_index)
  overlay.save_png(args.out, explain.heat_overlay(pixels, heat))
  predicted = int(probabilities.argmax())
  print(f"{config['model']}: predicted class {predicted} (p={probabilities[predicted]:.3f}); {args.method} of class "
        f"{c} (p={probabilities[c]:.3f})")
  print(f"heat map: {args.out}")
  return 0
