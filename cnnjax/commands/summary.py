"""`cnnjax summary MODEL [--input_shape SHAPE] [--num_classes K] [--kwarg KEY=VALUE]... [--depth D] [--json]`.

A model's layers. `--kwarg` (repeatable) sets one of the model's options, typed as config.model_kwargs types it
(cnnjax.train.config_options): `--kwarg branch3_kernel=5` for GoogLeNet's 5x5 branch, `--kwarg variant=v1` for
the original ResNet (the SENet table's 3.86 / 7.58 / 11.30 G multiply-adds for ResNet-50/101/152).

Per-layer table (name, output shape, parameters, multiply-adds) and totals, traced abstractly with
cnnjax.analysis.counting (nothing is computed, so ImageNet-sized models take seconds). Without
--input_shape each model gets its own input (cnnjax.models.registry.INPUTS): 224x224x3 for ResNet-50,
40x1 for the MNIST-1D CNN, 572x572x1 for U-Net. For `alexnet` the rows are the lecture's table:
conv1 55x55x96, pool1/norm1 27x27x96, ..., fc8 1000.
"""

import argparse
import json

from cnnjax.commands.arguments import ArgumentParser, integer
from cnnjax.errors import InputError

EXAMPLES = (
    "cnnjax summary resnet50",
    "cnnjax summary alexnet --depth 1",
    "cnnjax summary mnist1d_cnn --input_shape 40",
    "cnnjax summary cifar_resnet20 --input_shape 28,28,1 --num_classes 10 --json",
    "cnnjax summary googlenet --kwarg branch3_kernel=5",
    "cnnjax summary resnet50 --kwarg variant=v1 --json",
)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
RENAMED = {"--input-shape": "--input_shape", "--num-classes": "--num_classes"}


def parse_shape(text: str) -> tuple[int, ...]:
  """An argparse type: one example's shape as positive integers, e.g. "224,224,3", "224x224x3" or "40"."""
  try:
    shape = tuple(int(v) for v in text.replace("x", ",").split(","))
  except ValueError:
    shape = ()
  if not shape or min(shape) < 1:
    raise argparse.ArgumentTypeError(f"{text!r} is not a shape; give positive integers: H,W,C for images (e.g. "
                                     "224,224,3), L or L,C for 1-D signals (e.g. 40,1)")
  return shape


def check_shape(model_name: str, input_shape: tuple[int, ...]) -> None:
  """Raises InputError unless `input_shape` has one of the layouts the model takes (registry.INPUTS)."""
  from cnnjax.models import input_spec
  spec = input_spec(model_name)
  if len(input_shape) not in spec.ranks:
    raise InputError(f"{model_name} takes --input_shape {' or '.join(spec.layouts)} (default "
                     f"{','.join(map(str, spec.shape))}); got {','.join(map(str, input_shape))}")


def _typed(value_type: type, text: str):
  """`text` as a value of `value_type` (bool, int, float, str, tuple); ValueError when it is not one."""
  import ast
  if value_type is bool:
    if text.lower() not in _TRUE + _FALSE:
      raise ValueError("not true/false")
    return text.lower() in _TRUE
  if value_type is tuple:
    value = ast.literal_eval(text)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
  return value_type(text)


def parse_kwargs(model_name: str, items: list[str]) -> dict:
  """`["KEY=VALUE", ...]` as the model's options, each typed as config.model_kwargs types it; InputError for a
  malformed item, an unknown option (with close matches), a building block or a value of the wrong type."""
  import difflib
  from cnnjax.models import MODELS
  from cnnjax.train import config_options
  if not items or model_name not in MODELS:  # an unknown model gets its own message from get_model
    return {}
  options = config_options.model_options(model_name)
  kwargs = {}
  for item in items:
    key, sep, text = item.partition("=")
    if not sep or not key:
      raise InputError(f"--kwarg {item!r} is not KEY=VALUE; e.g. --kwarg branch3_kernel=5")
    if key in config_options.model_building_blocks(model_name):
      raise InputError(f"--kwarg {key} is a building block of {model_name} (a module), not a value; "
                       f"options: {', '.join(sorted(options))}")
    if key not in options:
      close = difflib.get_close_matches(key, sorted(options), n=3, cutoff=0.6)
      hint = f"; did you mean {', '.join(close)}?" if close else ";"
      raise InputError(f"--kwarg {key} is not an option of {model_name}{hint} known: {', '.join(sorted(options))}")
    value_type = config_options.model_option_type(model_name, key)
    try:
      kwargs[key] = _typed(value_type, text)
    except (ValueError, SyntaxError) as e:
      raise InputError(f"--kwarg {key}={text}: {model_name}'s {key} takes a value of type {value_type.__name__} "
                       f"(default {options[key]!r})") from e
  return kwargs


def build_model(model_name: str, num_classes: int | None = None, kwargs: dict | None = None):
  """The registered model, with `num_classes` if given and the options `kwargs`; InputError for a model that
  takes no num_classes."""
  from cnnjax.models import get_model
  kwargs = dict(kwargs or {})
  if num_classes is not None:
    kwargs["num_classes"] = num_classes
  try:
    return get_model(model_name, **kwargs)
  except TypeError as e:  # the model's constructor refuses the keyword
    raise InputError(f"{model_name} does not take --num_classes ({e}); leave the flag out") from e


def summarize(model_name: str, input_shape=None, num_classes: int | None = None, kwargs: dict | None = None) -> dict:
  """The summary as a dict: model, input_shape, num_classes, kwargs, params, multiply_adds, layers.

  `input_shape`: one example's, without the batch axis (default: the model's own, registry.INPUTS).
  `kwargs`: the model's options (parse_kwargs). Raises InputError for an unknown model, and when the model
  refuses `num_classes`, an option's value or `input_shape`.
  """
  from cnnjax.analysis.counting import layer_table
  from cnnjax.models import input_spec
  input_shape = tuple(input_shape or input_spec(model_name).shape)
  check_shape(model_name, input_shape)
  kwargs = dict(kwargs or {})
  model = build_model(model_name, num_classes, kwargs)
  try:
    rows = layer_table(model, (1, *input_shape))
  except ValueError as e:  # the models' and layers' checks of the input size and options raise ValueError
    given = "".join(f" --kwarg {k}={v}" for k, v in kwargs.items())
    what = f"{given.strip()} with " if given else ""
    raise InputError(f"{model_name} does not accept {what}--input_shape {','.join(map(str, input_shape))}: "
                     f"{e}") from e
  root = rows[0]
  layers = [{"name": r["name"], "module": r["module"], "output_shape": _strip_batch(r["output_shape"]),
             "params": int(r["params"]), "multiply_adds": int(r["multiply_adds"])} for r in rows[1:]]
  return {"model": model_name, "input_shape": list(input_shape),
          "num_classes": getattr(model, "num_classes", num_classes), "kwargs": kwargs,
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
  lines.append(f"total params {with_unit(summary['params'])}   multiply-adds {with_unit(summary['multiply_adds'])}")
  return "\n".join(lines)


def with_unit(count: int) -> str:
  """`count` with thousands separators and, from 1,000 on, in its largest unit: "1,814,073,344 (1.814 G)"."""
  for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if count >= size:
      return f"{count:,} ({count / size:.4g} {unit})"
  return f"{count:,}"


def run(argv: list[str]) -> int:
  parser = ArgumentParser(prog=argv[0], description="Per-layer output shapes, parameters and multiply-adds of a "
                          "registered model, for one example of its own input or of --input_shape.",
                          examples=EXAMPLES, renamed=RENAMED)
  parser.add_argument("model", help="registered model name (e.g. resnet50, alexnet, cifar_resnet20, mnist1d_cnn, "
                      "unet)")
  parser.add_argument("--input_shape", type=parse_shape, default=None, metavar="SHAPE",
                      help="one example's shape: H,W,C for image models, L or L,C for 1-D models (default: the "
                      "model's own, e.g. 224,224,3 for resnet50, 40,1 for mnist1d_cnn)")
  parser.add_argument("--num_classes", type=integer(1), default=None, help="output classes (default: the model's)")
  parser.add_argument("--kwarg", action="append", default=[], metavar="KEY=VALUE",
                      help="one of the model's options, repeatable, typed as config.model_kwargs types it (e.g. "
                      "branch3_kernel=5 for googlenet, variant=v1 for resnet50, shortcut=none for cifar_resnet20)")
  parser.add_argument("--depth", type=integer(1), default=None, help="show layers nested at most this deep")
  parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
  args = parser.parse_args(argv[1:])
  summary = summarize(args.model, args.input_shape, args.num_classes, parse_kwargs(args.model, args.kwarg))
  print(json.dumps(summary) if args.json else format_table(summary, args.depth))
  return 0
