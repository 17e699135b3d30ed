"""A trained VGG classifier's variables as convolutions: its convolutionalised net and an FCN's start.

Why: the lecture's route from classification to segmentation (Long, Shelhamer & Darrell 2015): a fully
connected layer on a k x k x C map is a k x k convolution with the same weights, so the classifier slides
over a larger image and gives a score map; FCN starts from those weights. Dense fc6 [k*k*C, F] -> conv
[k, k, C, F] (the Dense's input is pool5 flattened row-major, [h, w, c]), fc7 [F, F] -> [1, 1, F, F],
fc8 [F, classes] -> [1, 1, F, classes]. Variables are flax's {"params": ..., "batch_stats": ...} dicts.
"""

import math

import numpy as np

from cnnjax.errors import InputError

FC_LAYERS = ("fc6", "fc7", "fc8")


def dense_to_conv(kernel, in_channels: int) -> np.ndarray:
  """A Dense kernel [k*k*in_channels, out] read by a k x k window of in_channels maps -> conv kernel [k, k, in, out].

  k is inferred (the window is square); a kernel already 4-D is returned as it is.
  """
  kernel = np.asarray(kernel)
  if kernel.ndim == 4:
    return kernel
  cells, rest = divmod(kernel.shape[0], in_channels)
  side = math.isqrt(cells)
  if rest or side * side != cells:
    raise InputError(f"a Dense kernel of shape {kernel.shape} is not a square window of {in_channels} channels; "
                     "convolutionalise a classifier whose fc6 reads its pooled last conv stage")
  return kernel.reshape(side, side, in_channels, kernel.shape[1])


def _last_conv_channels(params) -> int:
  """Output channels of the last conv stage's last convolution (conv{i}_{j} with the largest i, then j)."""
  convs = [name for name in params if name.startswith("conv") and "_" in name]
  if not convs:
    raise InputError("the classifier's variables have no conv{stage}_{index} layers; convolutionalise a VGG")
  last = max(convs, key=lambda n: tuple(int(part) for part in n[len("conv"):].split("_")))
  return int(np.shape(params[last]["kernel"])[-1])


def classifier_to_convolutional(variables: dict) -> dict:
  """VGG classifier variables -> those of the same VGG with fully_convolutional=True (fc6/fc7/fc8 as convs)."""
  params = dict(variables["params"])
  missing = [name for name in FC_LAYERS if name not in params]
  if missing:
    raise InputError(f"the classifier's variables lack {', '.join(missing)}; convolutionalise a VGG classifier")
  channels = {"fc6": _last_conv_channels(params)}
  for name in FC_LAYERS:
    in_channels = channels.get(name, np.shape(params[name]["kernel"])[0])
    params[name] = {**params[name], "kernel": dense_to_conv(params[name]["kernel"], in_channels)}
  return {**variables, "params": params}


def classifier_to_fcn(variables: dict) -> dict:
  """VGG classifier variables -> FCN (cnnjax.models.fcn) variables: conv stages under backbone/, fc6/fc7 as
  convolutions, fc8 as score_fr (it loads where the FCN has the classifier's class count).

  The FCN's other layers (skip scores, upsamplings) are absent: they keep their fresh initialisation.
  """
  converted = classifier_to_convolutional(variables)
  params = converted["params"]
  fcn = {"params": {"backbone": {k: v for k, v in params.items() if k not in FC_LAYERS},
                    "fc6": params["fc6"], "fc7": params["fc7"], "score_fr": params["fc8"]}}
  if converted.get("batch_stats"):
    fcn["batch_stats"] = {"backbone": converted["batch_stats"]}
  return fcn


def unchanged(variables: dict) -> dict:
  """The source's variables as they are (config.init_from_convert="")."""
  return variables


# config.init_from_convert -> what turns the source's variables into the model's.
CONVERSIONS = {
    "": unchanged,
    "classifier_to_fcn": classifier_to_fcn,
    "classifier_to_convolutional": classifier_to_convolutional,
}
