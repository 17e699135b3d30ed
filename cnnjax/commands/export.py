"""`cnnjax export (--weights DIR | --workdir RUN) --format savedmodel|stablehlo --out DIR`: a model for serving.

savedmodel: a TensorFlow SavedModel (jax2tf), serving_default: images [N, H, W, C] -> logits.
stablehlo: model.jax_export, jax.export's serialized artifact (jax.export.deserialize(...).call(images)).
Both take preprocessed float32 pictures; serving.json records the input shape, preprocessing, mean/std
and class names. An existing non-empty --out is refused.
"""

from cnnjax.commands.arguments import ArgumentParser, one_of

FORMATS = ("savedmodel", "stablehlo")  # cnnjax.serving.export.FORMATS, without importing JAX for --help
EXAMPLES = (
    "cnnjax export --weights weights/resnet18 --format savedmodel --out exports/resnet18_savedmodel",
    "cnnjax export --workdir runs/fashion_mnist_lenet5 --format stablehlo --out exports/lenet5_stablehlo",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax export", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("--weights", help="a weights directory (cnnjax convert)")
  p.add_argument("--workdir", help="the workdir of a `cnnjax train` classification run (its newest checkpoint)")
  p.add_argument("--format", required=True, type=one_of(FORMATS, "--format"), metavar="{" + ",".join(FORMATS) + "}",
                 help="savedmodel (TensorFlow, via jax2tf) or stablehlo (jax.export)")
  p.add_argument("--out", required=True, help="the folder to write (new, or empty)")
  return p


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  from cnnjax.errors import InputError
  from cnnjax.weights.directory import check_new_folder, read_metadata
  if (args.weights is None) == (args.workdir is None):
    raise InputError("give exactly one of --weights DIR (a weights directory) or --workdir RUN (a training run)")
  check_new_folder(args.out, "exports")
  if args.weights:
    read_metadata(args.weights)  # a damaged weights.json is refused before JAX starts
  from cnnjax.serving.export import export
  from cnnjax.serving.load import load_served
  served = load_served(args.weights, args.workdir, "cnnjax export")
  out = export(served, args.format, args.out)
  print(f"{args.format}: {out} (input [N, {', '.join(map(str, served.input_shape))}] float32, "
        f"{served.preprocessing} preprocessing; see serving.json)")
  return 0
