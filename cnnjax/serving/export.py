"""Exporting a served model for use outside cnnjax: a TensorFlow SavedModel (jax2tf) or a jax.export artifact.

Both take float32 [N, H, W, C] preprocessed pictures (any N) and return float32 logits [N, classes];
serving.json beside them records the input shape, preprocessing, mean/std and class names a client needs.
    tf.saved_model.load(DIR).signatures["serving_default"](images=x)["logits"]
    jax.export.deserialize(Path(DIR, "model.jax_export").read_bytes()).call(x)
An existing non-empty --out is refused; the folder is written beside it and renamed into place.
"""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnjax.serving.load import Served
from cnnjax.weights.directory import check_new_folder

SERVING_JSON = "serving.json"
JAX_EXPORT_FILE = "model.jax_export"
PLATFORMS = ("cpu", "cuda")  # lowered for both, whichever machine exports: an export runs on either


def _apply_fn(served: Served):
  return lambda variables, x: served.model.apply(variables, x, train=False)


def write_savedmodel(served: Served, folder: Path) -> dict:
  """A SavedModel in `folder` whose serving_default maps `images` [N, H, W, C] to `logits`; variables are
  tf.Variables, the computation jax2tf's StableHLO with a symbolic batch."""
  import tensorflow as tf
  from jax.experimental import jax2tf
  try:
    tf.config.set_visible_devices([], "GPU")  # TensorFlow only stores the module; accelerators belong to JAX
  except RuntimeError:  # TensorFlow already started its devices in this process
    pass
  module = tf.Module()
  module.variables_tree = tf.nest.map_structure(lambda a: tf.Variable(np.asarray(a), trainable=False),
                                                served.variables)
  convert = jax2tf.convert(_apply_fn(served), polymorphic_shapes=[None, "(b, ...)"], with_gradient=False,
                           native_serialization_platforms=PLATFORMS)
  signature = tf.TensorSpec([None, *served.input_shape], tf.float32, name="images")

  @tf.function(input_signature=[signature], autograph=False)
  def serve(images):
    return {"logits": convert(module.variables_tree, images)}

  module.serve = serve
  tf.saved_model.save(module, str(folder), signatures={"serving_default": serve})
  return {"format": "savedmodel", "signature": "serving_default", "input": "images", "output": "logits",
          "platforms": list(PLATFORMS)}


def write_stablehlo(served: Served, folder: Path) -> dict:
  """`model.jax_export` in `folder`: jax.export's serialized StableHLO with the weights inside, batch symbolic."""
  import jax
  from jax import export
  (batch,) = export.symbolic_shape("b")
  apply = _apply_fn(served)
  variables = jax.tree.map(np.asarray, served.variables)
  exported = export.export(jax.jit(lambda x: apply(variables, x)), platforms=PLATFORMS)(
      jax.ShapeDtypeStruct((batch, *served.input_shape), np.float32))
  (folder / JAX_EXPORT_FILE).write_bytes(exported.serialize())
  return {"format": "stablehlo", "file": JAX_EXPORT_FILE, "load": "jax.export.deserialize(bytes).call(images)",
          "platforms": list(PLATFORMS)}


FORMATS: dict[str, Callable[[Served, Path], dict]] = {"savedmodel": write_savedmodel, "stablehlo": write_stablehlo}


def export(served: Served, fmt: str, out: str) -> Path:
  """Writes `served` as `fmt` ("savedmodel" or "stablehlo") to the new folder `out`, with serving.json."""
  path = check_new_folder(out, "exports")
  staging = path.parent / f".{path.name}.partial-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  staging.mkdir()
  try:
    how = FORMATS[fmt](served, staging)
    meta = {**how, "input_shape": [None, *served.input_shape], "input_dtype": "float32",
            "preprocessing": served.preprocessing, "mean": list(served.mean), "std": list(served.std),
            "class_names": served.class_names, "model": served.description}
    (staging / SERVING_JSON).write_text(json.dumps(meta, indent=1) + "\n")
    if path.is_dir():
      path.rmdir()
    staging.rename(path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return path
