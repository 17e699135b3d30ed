"""Detections of a trained detector (a `cnnjax train` run with config.task="detection") on one image.

Why here: `cnnjax detect` and the lecture's figures serve a run exactly as its evaluation saw images: the
run's channels and size, its normalisation, R-CNN's selective-search proposals on the same pixels, and the
task's own decoding (cnnjax.train.detection); boxes come back in the given image's pixels.
"""

import dataclasses
import functools

import numpy as np

from cnnjax.serving.load import load_run


@dataclasses.dataclass
class Detections:
  """One image's detections, best first: boxes [K, 4] (x0, y0, x1, y1) pixels, scores [K], classes [K]."""

  boxes: np.ndarray
  scores: np.ndarray
  classes: np.ndarray
  class_names: list[str]

  def as_json(self) -> list[dict]:
    return [{"box": [round(float(v), 2) for v in box], "class": int(c), "name": self.class_names[int(c)],
             "score": round(float(s), 4)} for box, s, c in zip(self.boxes, self.scores, self.classes)]


@dataclasses.dataclass
class Detector:
  """A detection run's model, variables and config, ready to detect on uint8 images."""

  model: object
  variables: dict
  config: dict
  class_names: list[str]

  @property
  def channels(self) -> int:
    return len(self.config["dataset"]["mean"])

  @functools.cached_property
  def task(self):
    """The run's detection task (its objective's decoding), rebuilt from config.json."""
    from ml_collections import ConfigDict

    from cnnjax.train.tasks import get_task
    return get_task("detection", ConfigDict(self.config))

  @functools.cached_property
  def detect_batch(self):
    """The jitted (variables, batch) -> (boxes, scores, classes) of the run's model and decoding."""
    import jax

    @jax.jit
    def run(variables, batch):
      outputs = self.model.apply(variables, *self.task.model_inputs(batch, False), train=False)
      return self.task.objective.detect(outputs)

    return run

  def inputs(self, pixels: np.ndarray) -> tuple[dict, np.ndarray]:
    """The batch of one uint8 image [H, W, C] as evaluation saw it (resized, normalised; R-CNN's proposals), and
    the [x, y, x, y] scale from the model's pixels back to the image's."""
    import jax
    ds = self.config["dataset"]
    height, width = pixels.shape[:2]
    size = ds.get("image_size") or 0
    x = np.asarray(pixels, np.float32)[None]
    if size:
      x = np.asarray(jax.image.resize(x, (1, size, size, x.shape[-1]), "linear", antialias=True))
    x = (x / 255.0 - np.asarray(ds["mean"], np.float32)) / np.asarray(ds["std"], np.float32)
    scale = np.asarray([width / x.shape[2], height / x.shape[1]] * 2, np.float32)
    batch = {"image": x}
    if ds.get("proposals"):
      from cnnjax.data.proposals import pad_proposals
      from cnnjax.segmentation.selective_search import selective_search
      found = selective_search(np.asarray(pixels, np.uint8), mode=ds["proposals"])
      batch["proposals"] = (pad_proposals(found, ds["num_proposals"]) / scale)[None]
    return batch, scale

  def detect(self, pixels: np.ndarray, score_threshold: float = 0.3) -> Detections:
    """Detections on uint8 `pixels` [H, W, C] (C the run's channels), scored at least `score_threshold`."""
    batch, scale = self.inputs(pixels)
    boxes, scores, classes = (np.asarray(a)[0] for a in self.detect_batch(self.variables, batch))
    keep = (classes >= 0) & (scores >= score_threshold)
    return Detections(boxes[keep] * scale, scores[keep], classes[keep], self.class_names)


def load_detector(workdir: str, command: str = "cnnjax detect --workdir") -> Detector:
  """The newest checkpoint of the detection run in `workdir`, with its dataset's class names."""
  model, variables, config = load_run(workdir, "detection", command)
  ds = config["dataset"]
  names = None
  try:  # the boxes' class names: the objects' ClassLabel in the dataset's tfds info
    import tensorflow_datasets as tfds

    from cnnjax.data import sources
    builder = tfds.builder(ds["name"], data_dir=sources.resolve_data_dir(ds.get("data_dir")))
    label = builder.info.features[ds["objects_key"]]["label"]
    names = list(label.names)
  except Exception:  # an unknown or unprepared dataset here: numbered classes
    names = None
  if not names or len(names) != ds["num_classes"]:
    names = [f"class {c}" for c in range(ds["num_classes"])]
  return Detector(model, variables, config, names)


def detection_overlay(image: np.ndarray, detections: Detections, scale: int = 4) -> np.ndarray:
  """The image enlarged `scale` times with each detection's box outlined in its class's colour and labelled
  "name score": -> uint8 [H * scale, W * scale, 3]."""
  from PIL import Image, ImageDraw

  from cnnjax.segmentation.overlay import palette
  rgb = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]
  canvas = Image.fromarray(np.asarray(rgb, np.uint8)).resize((image.shape[1] * scale, image.shape[0] * scale),
                                                               Image.Resampling.NEAREST)
  draw = ImageDraw.Draw(canvas)
  colours = palette(len(detections.class_names) + 1, 0)[1:]
  for box, score, cls in reversed(list(zip(detections.boxes, detections.scores, detections.classes))):
    colour = tuple(int(v) for v in colours[int(cls)])
    x0, y0, x1, y1 = (float(v) * scale for v in box)
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=2)
    draw.text((x0 + 2, y0 + 1), f"{detections.class_names[int(cls)]} {score:.2f}", fill=colour)
  return np.asarray(canvas)
