"""The done-when numbers of convert/predict/export, printed: torchvision ResNet-18 vs cnnjax on a real photo.

    PYTHONPATH=. .venv/bin/python -m experiments.serving_parity   # also writes results/weights/serving_parity.json

A random-weight ResNet-18 (seed 0, fc scaled by 4; nothing downloaded) is saved as .pth, converted with
`cnnjax convert`, run with `cnnjax predict --json`, and exported both ways; prints the top-5 of each side,
the largest probability and logit differences, and the exports' differences from cnnjax's own logits.
"""

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path("results/weights/serving_parity.json")


def main() -> None:
  import tensorflow as tf
  import torch
  from jax import export
  from PIL import Image
  from sklearn.datasets import load_sample_image

  from cnnjax import main as cli
  from cnnjax.commands.image_input import read_image
  from cnnjax.serving.load import from_weights
  from cnnjax.serving.predict import logits
  from cnnjax.train.environment import describe_environment
  from cnnjax.weights.torch_shim import import_torchvision
  tv = import_torchvision()
  folder = Path(tempfile.mkdtemp(prefix="serving_parity_"))
  photo = folder / "china.jpg"
  Image.fromarray(load_sample_image("china.jpg")).save(photo, quality=90)
  torch.manual_seed(0)
  reference = tv.models.resnet18().eval()
  with torch.no_grad():
    reference.fc.weight.mul_(4.0)
  torch.save(reference.state_dict(), folder / "resnet18.pth")
  cli.main(["cnnjax", "convert", "--from", "torchvision", "--model", "resnet18", "--weights",
            str(folder / "resnet18.pth"), "--out", str(folder / "weights")])
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    cli.main(["cnnjax", "predict", str(photo), "--weights", str(folder / "weights"), "--top", "5", "--json"])
  got = json.loads(out.getvalue())["images"][0]
  x = tv.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(Image.open(photo).convert("RGB"))[None]
  with torch.no_grad():
    torch_logits = reference(x)[0].numpy()
  p = np.exp(torch_logits - torch_logits.max())
  p /= p.sum()
  top = np.argsort(-p)[:5]
  print(f"cnnjax predict top-5: {got['indices']} {np.round(got['probabilities'], 5).tolist()}")
  print(f"torchvision top-5:    {top.tolist()} {np.round(p[top].astype(float), 5).tolist()}")
  print(f"max |probability difference| over the top-5: {np.abs(np.array(got['probabilities']) - p[top]).max():.2e}")
  served = from_weights(str(folder / "weights"))
  inputs = served.preprocess(read_image(str(photo))[0])[None]
  own = logits(served, inputs)
  print(f"max |logit cnnjax - torchvision|: {np.abs(own[0] - torch_logits).max():.2e} "
        f"(largest |logit| {np.abs(torch_logits).max():.1f})")
  for fmt in ("savedmodel", "stablehlo"):
    cli.main(["cnnjax", "export", "--weights", str(folder / "weights"), "--format", fmt, "--out", str(folder / fmt)])
  saved = tf.saved_model.load(str(folder / "savedmodel")).signatures["serving_default"]
  sm = saved(images=tf.constant(inputs))["logits"].numpy()
  hlo = np.asarray(export.deserialize((folder / "stablehlo" / "model.jax_export").read_bytes()).call(inputs))
  print(f"SavedModel top-1 {int(sm.argmax())} (torchvision {int(torch_logits.argmax())}), "
        f"max |logit - cnnjax| {np.abs(sm - own).max():.2e}")
  print(f"jax.export max |logit - cnnjax| {np.abs(hlo - own).max():.2e}")
  print(f"files in {folder}")
  record = {"command": "PYTHONPATH=. .venv/bin/python -m experiments.serving_parity",
            "image": "sklearn china.jpg (640x427) saved as JPEG quality 90", "model": "torchvision resnet18, seed 0, fc x4",
            "cnnjax_top5": got["indices"], "cnnjax_top5_probabilities": got["probabilities"],
            "torchvision_top5": top.tolist(), "torchvision_top5_probabilities": p[top].astype(float).tolist(),
            "max_probability_difference": float(np.abs(np.array(got["probabilities"]) - p[top]).max()),
            "max_logit_difference": float(np.abs(own[0] - torch_logits).max()),
            "savedmodel_top1": int(sm.argmax()), "torchvision_top1": int(torch_logits.argmax()),
            "savedmodel_max_logit_difference": float(np.abs(sm - own).max()),
            "jax_export_max_logit_difference": float(np.abs(hlo - own).max()),
            "environment": describe_environment()}
  RESULTS.parent.mkdir(parents=True, exist_ok=True)
  RESULTS.write_text(json.dumps(record, indent=2) + "\n")
  print(f"wrote {RESULTS}")


if __name__ == "__main__":
  main()
