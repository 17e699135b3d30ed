"""`cnnjax segment IMAGE --method kmeans|meanshift|slic|felzenszwalb|watershed [--out overlay.png]`
and `cnnjax segment IMAGE --workdir DIR [--out overlay.png]` (a trained segmentation model).

Writes a boundary (classical methods) or class-colour (trained model) overlay PNG and prints the
number of segments.
"""

import sys
from pathlib import Path

import numpy as np

from cnnjax.commands.arguments import ArgumentParser, check_writable, integer, number, one_of
from cnnjax.commands.image_input import MAX_DECODE_PIXELS, read_image
from cnnjax.errors import InputError

METHODS = ("kmeans", "meanshift", "slic", "felzenszwalb", "watershed")
KERNELS = ("flat", "gaussian")  # cnnjax.segmentation.meanshift.KERNELS, without importing JAX for --help
MAX_SIDE = 400
EXAMPLES = (
    "cnnjax segment photo.jpg --method slic --n_segments 100 --out slic.png",
    "cnnjax segment photo.jpg --method kmeans --k 4 --position_weight 0.5",
    "cnnjax segment scene.png --workdir runs/fashion_scenes_unet --out scene_overlay.png",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax segment", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("image", help="an image file (PNG, JPEG, ...), 8 bits per channel, at most "
                 f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpixel")
  p.add_argument("--method", type=one_of(METHODS, "method"), metavar="{" + ",".join(METHODS) + "}",
                 help="classical method (or give --workdir for a trained model)")
  p.add_argument("--workdir", help="workdir of a `cnnjax train` run with a segmentation task")
  p.add_argument("--out", default="overlay.png", help="where to write the overlay PNG (default overlay.png); its "
                 "folder must exist")
  p.add_argument("--max_side", type=integer(1), default=MAX_SIDE, help="images longer than this on either side are "
                 f"shrunk to it first, with a note, which bounds time and memory (default {MAX_SIDE}); a trained model "
                 "with config.dataset.image_size uses that size instead")
  p.add_argument("--to_8bit", action="store_true", help="accept a 16-bit image, scaled to 8 bits (0..65535 -> "
                 "0..255); without it such images are refused rather than clipped")
  p.add_argument("--k", type=integer(1), default=8, help="kmeans: number of clusters (at most the pixel count)")
  p.add_argument("--position_weight", type=number(0), default=0.0, help="kmeans/meanshift: weight of (row, col)")
  p.add_argument("--bandwidth", type=number(0, inclusive=False), default=0.12,
                 help="meanshift: kernel bandwidth in [0, 1] colour units")
  p.add_argument("--kernel", type=one_of(KERNELS, "kernel"), default="flat", metavar="{" + ",".join(KERNELS) + "}",
                 help="meanshift kernel")
  p.add_argument("--n_segments", type=integer(1), default=200, help="slic: about how many superpixels")
  p.add_argument("--compactness", type=number(0, inclusive=False), default=10.0,
                 help="slic: colour vs position trade-off")
  p.add_argument("--scale", type=number(0, inclusive=False), default=100.0,
                 help="felzenszwalb: larger gives larger segments")
  p.add_argument("--markers", type=integer(1), default=200, help="watershed: number of grid seeds")
  p.add_argument("--seed", type=int, default=0, help="random seed (kmeans initial centres, meanshift seeds)")
  return p


def check_out(out: str) -> None:
  """Raises InputError unless the overlay can be written to `out`: an image file name in an existing folder."""
  from PIL import Image
  path = Path(out)
  if path.is_dir():
    raise InputError(f"--out {out} is a folder; give a file name, e.g. --out {path / 'overlay.png'}")
  if not path.parent.is_dir():
    raise InputError(f"--out {out}: folder {path.parent} does not exist; create it first or write elsewhere")
  if path.suffix.lower() not in Image.registered_extensions():
    raise InputError(f"--out {out} does not end in an image extension; use .png, e.g. --out {path.stem}.png")
  check_writable(path.parent, f"--out {out}")


def check_fits(image: np.ndarray, args) -> None:
  """Raises InputError when the method's parameters ask for more regions or seeds than the image has pixels."""
  pixels = image.shape[0] * image.shape[1]
  size = f"{image.shape[1]}x{image.shape[0]}"
  wanted = {"kmeans": ("--k", args.k), "slic": ("--n_segments", args.n_segments),
            "watershed": ("--markers", args.markers)}.get(args.method)
  if wanted and wanted[1] > pixels:
    flag, value = wanted
    raise InputError(f"{flag} {value} asks for more regions than {args.image} has pixels ({pixels}: {size} as "
                     f"segmented); use {flag} {pixels} or less, or a larger image")


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


def load_trained(workdir: str, task: str = "segmentation", command: str = "cnnjax segment --workdir"):
  """(model, variables, config dict) from the newest checkpoint of a `task` run in `workdir` (serving.load.load_run)."""
  from cnnjax.serving.load import load_run
  return load_run(workdir, task, command)


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


def segment_with_model(path: str, workdir: str, max_side: int, to_8bit: bool = False):
  """(image shown [H, W, C] uint8, class labels [H, W], config, stored (width, height)) from the newest
  checkpoint in `workdir`."""
  from PIL import Image

  from cnnjax.layers.crop import center_crop
  model, variables, config = load_trained(workdir)
  ds = config["dataset"]
  channels = len(ds["mean"])
  size = ds.get("image_size")
  pixels, stored = read_image(path, "L" if channels == 1 else "RGB", None if size else max_side, to_8bit)
  if size:
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels).resize((size, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, np.uint8).reshape(size, size, channels)
  labels = predict(model, variables, ds, pixels[None])[0]
  if labels.shape != pixels.shape[:2]:  # unpadded U-Net: the prediction covers the centre
    pixels = center_crop(pixels[None], *labels.shape)[0]
  return pixels, labels, config, stored


def _note_shrunk(path: str, stored: tuple[int, int], image: np.ndarray, max_side: int) -> None:
  if (image.shape[1], image.shape[0]) != stored and max(stored) > max_side:
    print(f"cnnjax segment: note: {path} is {stored[0]}x{stored[1]}; segmenting it at {image.shape[1]}x"
          f"{image.shape[0]} (--max_side {max_side})", file=sys.stderr)


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  if (args.method is None) == (args.workdir is None):
    raise InputError("give exactly one of --method METHOD or --workdir DIR")
  check_out(args.out)
  from cnnjax.segmentation import overlay
  if args.method:
    image, stored = read_image(args.image, "RGB", args.max_side, args.to_8bit)
    check_fits(image, args)
    _note_shrunk(args.image, stored, image, args.max_side)
    labels = segment_classical(image, args)
    picture = overlay.boundary_overlay(image, labels)
    count = len(np.unique(labels))
    print(f"{args.method}: {count} segments on {image.shape[1]}x{image.shape[0]} pixels")
  else:
    image, labels, config, stored = segment_with_model(args.image, args.workdir, args.max_side, args.to_8bit)
    _note_shrunk(args.image, stored, image, args.max_side)
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
