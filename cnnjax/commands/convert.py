"""`cnnjax convert --from torchvision|timm --model NAME --weights FILE --out DIR`: PyTorch weights -> a weights directory.

The directory (cnnjax.weights.directory) holds the variables and weights.json: the cnnjax model and its
kwargs, input size, ImageNet normalisation, class names (ImageNet's for 1000 classes) and the source;
`cnnjax predict`, `cnnjax export` and config.init_from accept it. An existing non-empty --out is refused.
"""

from cnnjax.commands.arguments import ArgumentParser, one_of

SOURCES = ("torchvision", "timm")
EXAMPLES = (
    "cnnjax convert --from torchvision --model resnet18 --weights resnet18-f37072fd.pth --out weights/resnet18",
    "cnnjax convert --from timm --model resnet50 --weights model.safetensors --out weights/timm_resnet50",
)


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax convert", description=__doc__.split("\n\n")[0], examples=EXAMPLES)
  p.add_argument("--from", dest="source", required=True, type=one_of(SOURCES, "--from"),
                 metavar="{" + ",".join(SOURCES) + "}", help="the library whose model the weights belong to")
  p.add_argument("--model", required=True, help="the library's model name, e.g. resnet18 (see cnnjax.weights.pairs)")
  p.add_argument("--weights", required=True, help="the state dict: .pth/.pt (torch.save) or .safetensors")
  p.add_argument("--out", required=True, help="the weights directory to write (new, or an empty folder)")
  return p


def imagenet_class_names() -> list[str]:
  """The 1000 ImageNet class names in torchvision's order (timm's ImageNet-1k heads use the same order)."""
  from cnnjax.weights.torch_shim import import_torchvision
  import importlib
  import_torchvision()
  return list(importlib.import_module("torchvision.models._meta")._IMAGENET_CATEGORIES)


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  from cnnjax.weights.directory import IMAGENET_MEAN, IMAGENET_STD, check_new_folder, save_weights
  from cnnjax.weights.pairs import find_pair
  check_new_folder(args.out)
  pair = find_pair(args.source, args.model)
  from cnnjax.weights.convert import from_torch
  from cnnjax.weights.state_dict import load_state_dict
  converted = from_torch(args.source, args.model, load_state_dict(args.weights), args.weights)
  num_classes = converted.model_kwargs["num_classes"]
  names = imagenet_class_names() if num_classes == 1000 else None
  out = save_weights(args.out, converted.model, converted.model_kwargs, converted.variables,
                     input_shape=pair.input_shape, mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=names,
                     preprocessing="imagenet_eval",
                     source={"from": args.source, "model": args.model, "weights": str(args.weights)})
  print(f"{args.source} {args.model} -> {converted.model} ({num_classes} classes, input "
        f"{'x'.join(map(str, pair.input_shape))}): {out}")
  return 0
