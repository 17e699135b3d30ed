"""`cnnjax segment IMAGE --method kmeans|meanshift|slic|felzenszwalb|watershed [--out overlay.png]`
and `cnnjax segment IMAGE --workdir DIR [--out overlay.png]` (a trained segmentation model).

Writes a boundary (classical methods) or class-colour (trained model) overlay PNG and prints the
number of segments.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

METHODS = ("kmeans", "meanshift", "slic", "felzenszwalb", "watershed")


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="cnnjax segment", description=__doc__.split("\n\n")[0])
  p.add_argument("image", help="an image file (PNG, JPEG, ...)")
  p.add_argument("--method", choices=METHODS, help="classical method (or give --workdir for a trained model)")
  p.add_argument("--workdir", help="workdir of a `cnnjax train` run with a segmentation task")
  p.add_argument("--out", default="overlay.png", help="where to write the overlay PNG (default overlay.png)")
  p.add_argument("--max_side", type=int, default=400, help="classical methods: shrink larger images to this side")
  p.add_argument("--k", type=int, default=8, help="kmeans: number of clusters")
  p.add_argument("--position_weight", type=float, default=0.0, help="kmeans/meanshift: weight of (row, col)")
  p.add_argument("--bandwidth", type=float, default=0.12, help="meanshift: kernel bandwidth in [0, 1] colour units")
  p.add_argument("--kernel", choices=("flat", "gaussian"), default="flat", help="meanshift kernel")
  p.add_argument("--n_segments", type=int, default=200, help="slic: about how many superpixels")
  p.add_argument("--compactness", type=float, default=10.0, help="slic: colour vs position trade-off")
  p.add_argument("--scale", type=float, default=100.0, help="felzenszwalb: larger gives larger segments")
  p.add_argument("--markers", type=int, default=200, help="watershed: number of grid seeds")
  p.add_argument("--seed", type=int, default=0, help="random seed (kmeans initial centres, meanshift seeds)")
  return p


def _load_image(path: str, max_side: int | None = None) -> np.ndarray:
  from PIL import Image
  image = Image.open(path).convert("RGB")
  if max_side and max(image.size) > max_side:
    ratio = max_side / max(image.size)
    image = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))),
                         Image.Resampling.LANCZOS)
  return np.asarray(image)


def segment_classical(image: np.ndarray, args) -> np.ndarray:
  """Labels [H, W] from the chosen classical method."""
  import jax
  import jax.numpy as jnp

  from cnnjax import segmentation
  from cnnjax.segmentation import graph
  key = jax.random.key(args.seed)
  if args.method == "kmeans":
    return np.asarray(segmentation.kmeans_segment(jnp.asarray(image), key, args.k, args.position_weight))
  if args.method == "meanshift":
    stride = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / 8000)))
    labels, _ = segmentation.mean_shift_segment(jnp.asarray(image), key, args.bandwidth, args.position_weight,
                                                kernel=args.kernel, stride=stride)
    return np.unique(np.asarray(labels), return_inverse=True)[1].reshape(image.shape[:2])
  if args.method == "slic":
    labels = np.asarray(segmentation.slic(jnp.asarray(image), args.n_segments, args.compactness))
    min_size = int(0.5 * image.shape[0] * image.shape[1] / max(1, len(np.unique(labels))))
    return segmentation.enforce_connectivity(labels, min_size)
  if args.method == "felzenszwalb":
    return graph.felzenszwalb(image, scale=args.scale)
  return graph.watershed(image, markers=args.markers)


def load_trained(workdir: str):
  """(model, variables, config dict) from the newest checkpoint of a segmentation run in `workdir`."""
  from cnnjax.models import get_model
  from cnnjax.train.checkpoint import Checkpointer
  workdir = Path(workdir)
  config_path = workdir / "config.json"
  if not config_path.exists():
    raise FileNotFoundError(f"{config_path} does not exist; --workdir must be the folder of a `cnnjax train` run")
  config = json.loads(config_path.read_text())
  if config.get("task") != "segmentation":
    raise ValueError(f"{workdir} holds a {config.get('task')!r} run; `cnnjax segment --workdir` needs a "
                     "segmentation run (config.task='segmentation')")
  checkpointer = Checkpointer(workdir)
  try:
    state = checkpointer.restore()
  finally:
    checkpointer.close()
  if state is None:
    raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}; train first (cnnjax train ...)")
  variables = {"params": state["params"]}
  if state.get("batch_stats"):
    variables["batch_stats"] = state["batch_stats"]
  model = get_model(config["model"], num_classes=config["dataset"]["num_classes"], **config.get("model_kwargs", {}))
  return model, variables, config


def predict(model, variables, ds_config: dict, pixels: np.ndarray) -> np.ndarray:
  """Class labels for uint8-valued images [N, H, W, C]: resized to config.dataset.image_size if the model
  was trained at that size (labels mapped back by nearest neighbour), normalised as in training,
  padded to a multiple of 32.

  -> [N, H', W'] (H' = H, or the centre an unpadded U-Net predicts).
  """
  import jax
  import jax.numpy as jnp
  n, h, w, c = pixels.shape
  size = ds_config.get("image_size")
  if size and (h, w) != (size, size):  # the model was trained on resized scenes: predict there, map back
    resized = jax.image.resize(jnp.asarray(pixels, jnp.float32), (n, size, size, c), "linear", antialias=True)
    labels = predict(model, variables, {**ds_config, "image_size": None}, np.asarray(resized))
    return labels[:, np.arange(h) * size // h][:, :, np.arange(w) * size // w]  # nearest neighbour
  pad_h, pad_w = -h % 32, -w % 32  # FCN / SegNet / padded U-Net need multiples of 32 (or 2**depth)
  padded = np.pad(np.asarray(pixels, np.float32), ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
  x = (padded / 255.0 - np.asarray(ds_config["mean"], np.float32)) / np.asarray(ds_config["std"], np.float32)
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, jnp.asarray(x))
  labels = np.asarray(jnp.argmax(logits, -1))
  return labels[:, :h, :w] if labels.shape[1:3] == padded.shape[1:3] else labels


def segment_with_model(path: str, workdir: str) -> tuple[np.ndarray, np.ndarray, dict]:
  """(image shown [H, W, C] uint8, class labels [H, W], config) from the newest checkpoint in `workdir`."""
  from PIL import Image
  model, variables, config = load_trained(workdir)
  ds = config["dataset"]
  channels = len(ds["mean"])
  image = Image.open(path).convert("L" if channels == 1 else "RGB")
  if ds.get("image_size"):
    image = image.resize((ds["image_size"], ds["image_size"]), Image.Resampling.LANCZOS)
  pixels = np.asarray(image, np.uint8).reshape(image.height, image.width, channels)
  labels = predict(model, variables, ds, pixels[None])[0]
  if labels.shape != pixels.shape[:2]:  # unpadded U-Net: the prediction covers the centre
    top, left = (pixels.shape[0] - labels.shape[0]) // 2, (pixels.shape[1] - labels.shape[1]) // 2
    pixels = pixels[top:top + labels.shape[0], left:left + labels.shape[1]]
  return pixels, labels, config


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  if (args.method is None) == (args.workdir is None):
    print("cnnjax segment: give exactly one of --method METHOD or --workdir DIR", file=sys.stderr)
    return 2
  if not Path(args.image).exists():
    print(f"cnnjax segment: image {args.image} does not exist", file=sys.stderr)
    return 2
  from cnnjax.segmentation import overlay
  if args.method:
    image = _load_image(args.image, args.max_side)
    labels = segment_classical(image, args)
    picture = overlay.boundary_overlay(image, labels)
    count = len(np.unique(labels))
    print(f"{args.method}: {count} segments on {image.shape[1]}x{image.shape[0]} pixels")
  else:
    try:
      image, labels, config = segment_with_model(args.image, args.workdir)
    except (FileNotFoundError, ValueError) as e:
      print(f"cnnjax segment: {e}", file=sys.stderr)
      return 1
    picture = overlay.colour_overlay(image, labels)
    classes = [int(c) for c in np.unique(labels)]
    count = int(sum(np.max(overlay_components(labels == c)) for c in classes if c != 0))
    print(f"{config['model']}: {count} segments (connected regions of non-background classes); "
          f"classes present: {classes}")
  overlay.save_png(args.out, picture, scale=max(1, 256 // max(picture.shape[:2])))
  print(f"overlay: {args.out}")
  return 0


def overlay_components(mask: np.ndarray) -> np.ndarray:
  """Connected regions of a boolean mask, numbered from 1 (0 outside)."""
  from scipy import ndimage
  return ndimage.label(mask)[0]
