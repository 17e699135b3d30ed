"""`cnnjax summary MODEL [--input_shape H,W,C] [--num_classes K] [--depth D] [--json]`: a model's layers.

Per-layer table (name, output shape, parameters, multiply-adds) and totals, traced abstractly with
cnnjax.analysis.counting (nothing is computed, so ImageNet-sized models take seconds). For `alexnet`
the rows are the lecture's table: conv1 55x55x96, pool1/norm1 27x27x96, ..., fc8 1000.
"""

import argparse
import json

from cnnjax.commands.arguments import ArgumentParser, integer
from cnnjax.errors import InputError, unknown_name

# Input sizes the models were designed for; anything else 224x224x3.
DEFAULT_INPUT_SHAPES = {
    "alexnet": (227, 227, 3),
    "linear": (28, 28, 1), "logistic_neuron": (28, 28, 1), "mlp": (28, 28, 1),
    "lenet1": (28, 28, 1), "lenet5": (28, 28, 1),
}
CIFAR_PREFIXES = ("cifar_", "resnext29", "densenet_bc")
EXAMPLES = (
    "cnnjax summary resnet50",
    "cnnjax summary alexnet --depth 1",
    "cnnjax summary cifar_resnet20 --input_shape 28,28,1 --num_classes 10 --json",
)
RENAMED = {"--input-shape": "--input_shape", "--num-classes": "--num_classes"}


def default_input_shape(model: str) -> tuple[int, int, int]:
  if model in DEFAULT_INPUT_SHAPES:
    return DEFAULT_INPUT_SHAPES[model]
  return (32, 32, 3) if model.startswith(CIFAR_PREFIXES) else (224, 224, 3)


def parse_shape(text: str) -> tuple[int, int, int]:
  try:
    shape = tuple(int(v) for v in text.replace("x", ",").split(","))
  except ValueError:
    shape = ()
  if len(shape) != 3 or min(shape) < 1:
    raise argparse.ArgumentTypeError(f"--input_shape {text!r} must be three positive integers H,W,C, e.g. 224,224,3")
  return shape


def build_model(model_name: str, num_classes: int | None = None):
  """The registered model, with `num_classes` if given; InputError for a model that takes no num_classes."""
  from cnnjax.models import get_model
  kwargs = {} if num_classes is None else {"num_classes": num_classes}
  try:
    return get_model(model_name, **kwargs)
  except TypeError as e:  # the model's constructor refuses the keyword
    raise InputError(f"{model_name} does not take --num_classes ({e}); leave the flag out") from e


def summarize(model_name: str, input_shape=None, num_classes: int | None = None) -> dict:
  """The summary as a dict: model, input_shape, num_classes, params, multiply_adds, layers.

  Raises InputError when the model refuses `num_classes` or `input_shape` (its own checks).
  """
  from cnnjax.analysis.counting import layer_table
  input_shape = tuple(input_shape or default_input_shape(model_name))
  model = build_model(model_name, num_classes)
  try:
    rows = layer_table(model, (1, *input_shape))
  except ValueError as e:  # the models' and layers' checks of the input size raise ValueError
    raise InputError(f"{model_name} does not accept --input_shape {','.join(map(str, input_shape))}: {e}") from e
  root = rows[0]
  layers = [{"name": r["name"], "module": r["module"], "output_shape": _strip_batch(r["output_shape"]),
             "params": int(r["params"]), "multiply_adds": int(r["multiply_adds"])} for r in rows[1:]]
  return {"model": model_name, "input_shape": list(input_shape),
          "num_classes": getattr(model, "num_classes", num_classes),
          "output_shape": _strip_batch(root["output_shape"]),
          "params": int(root["params"]), "multiply_adds": int(root["multiply_adds"]), "layers": layers}


def _strip_batch(shape):
  if isinstance(shape, dict):
    return {k: _strip_batch(v) for k, v in shape.items()}
  if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple, dict)):
    return [_strip_batch(s) for s in shape]
  return list(shape[1:])


def format_table(summary: dict, depth: int | None = None) -> str:
  """Fixed-width text table of the summary's layers (up to `depth` levels of nesting) and totals."""
  rows = [r for r in summary["layers"] if depth is None or r["name"].count("/") < depth]
  width = max([len("layer")] + [len(r["name"]) for r in rows])
  shapes = ["x".join(str(d) for d in r["output_shape"]) if all(isinstance(d, int) for d in r["output_shape"])
            else json.dumps(r["output_shape"]) for r in rows]
  shape_width = max([len("output")] + [len(s) for s in shapes])
  head = f"{'layer':<{width}}  {'module':<18} {'output':>{shape_width}}  {'params':>13}  {'mult-adds':>15}"
  lines = [f"{summary['model']}: input {'x'.join(map(str, summary['input_shape']))}", head, "-" * len(head)]
  for r, shape in zip(rows, shapes):
    lines.append(f"{r['name']:<{width}}  {r['module']:<18} {shape:>{shape_width}}  {r['params']:>13,}  "
                 f"{r['multiply_adds']:>15,}")
  lines.append("-" * len(head))
  lines.append(f"total params {summary['params']:,}   multiply-adds {summary['multiply_adds']:,} "
               f"({summary['multiply_adds'] / 1e9:.3f} G)")
  return "\n".join(lines)


def run(argv: list[str]) -> int:
  parser = ArgumentParser(prog=argv[0], description="Per-layer output shapes, parameters and multiply-adds of a "
                          "registered model.", examples=EXAMPLES, renamed=RENAMED)
  parser.add_argument("model", help="registered model name (e.g. resnet50, alexnet, cifar_resnet20)")
  parser.add_argument("--input_shape", type=parse_shape, default=None,
                      help="H,W,C of one image (default: the model's own, e.g. 224,224,3)")
  parser.add_argument("--num_classes", type=integer(1), default=None, help="output classes (default: the model's)")
  parser.add_argument("--depth", type=integer(1), default=None, help="show layers nested at most this deep")
  parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
  args = parser.parse_args(argv[1:])
  from cnnjax.models import MODELS
  if args.model not in MODELS:
    raise unknown_name("model", args.model, MODELS)
  summary = summarize(args.model, args.input_shape, args.num_classes)
  print(json.dumps(summary) if args.json else format_table(summary, args.depth))
  return 0
