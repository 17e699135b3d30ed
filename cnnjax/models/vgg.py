"""VGG-11/13/16/19 with and without batch norm (Simonyan & Zisserman 2015; torchvision's layout).

Stacks of 3x3 convolutions (padding 1) with 2x2/2 max pooling, then FC-4096, FC-4096, FC-classes
with ReLU and dropout 0.5. [N, H, W, C] -> [N, num_classes] logits in float32. An adaptive average
pool to 7x7 (torchvision's) lets any input of at least 32x32 reach the 7*7*512 classifier.

Intermediate feature maps (for FCN / SegNet heads, which compute their own pooling switches):

    feats = model.apply(variables, x, method=VGG.features)   # dict, no classifier applied
    # "conv1" ... "conv5": output of each stage's last conv + ReLU, before its pool
    #                      (conv1: [N, H, W, 64], conv5: [N, H/16, W/16, 512])
    # "pool1" ... "pool5": after each 2x2/2 max pool (pool3: H/8, pool4: H/16, pool5: H/32)

Layer names follow the paper: conv{stage}_{index} (bn{stage}_{index}), fc6, fc7, fc8.

`fully_convolutional=True` is the same net with its classifier as convolutions (the lecture's
"convolutionalisation", Long et al. 2015): fc6 a `pool_size` convolution without padding on pool5,
fc7 and fc8 1x1 convolutions, and no adaptive pool. [N, H, W, C] -> [N, h, w, num_classes] scores;
at the input size where pool5 is `pool_size` (h = w = 1) they are the classifier's logits, given
its variables converted by cnnjax.weights.convolutionalize.classifier_to_convolutional.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ModuleDef, adaptive_avg_pool, max_pool

# Channels per stage; each stage ends with a 2x2/2 max pool (torchvision's configurations A, B, D, E).
STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
dense_init = nn.initializers.normal(0.01)


class VGG(nn.Module):
  """Five conv stages + three fully connected layers; `batch_norm` adds BN after every conv.

  Blocks are fields with plain defaults: `conv` (nn.Conv), `norm` (cnnjax.layers.BatchNorm),
  `norm_act`, relu(norm(x)) as one layer when given (None: norm, then ReLU), and `max_pool`
  (cnnjax.layers.max_pool).
  """

  stages: Sequence[Sequence[int]]
  batch_norm: bool = False
  num_classes: int = 1000
  hidden_size: int = 4096
  dropout_rate: float = 0.5
  pool_size: tuple[int, int] = (7, 7)
  fully_convolutional: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm
  norm_act: ModuleDef | None = None
  max_pool: Callable = max_pool

  @nn.compact
  def __call__(self, x, train: bool = False, return_features: bool = False):
    features = {}
    x = x.astype(self.dtype)
    for i, channels in enumerate(self.stages, start=1):
      for j, width in enumerate(channels, start=1):
        x = self.conv(width, (3, 3), padding=((1, 1), (1, 1)), kernel_init=conv_init, dtype=self.dtype,
                      name=f"conv{i}_{j}")(x)
        if self.batch_norm and self.norm_act is not None:
          x = self.norm_act(use_running_average=not train, dtype=self.dtype, name=f"bn{i}_{j}")(x)
        else:
          if self.batch_norm:
            x = self.norm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}_{j}")(x)
          x = nn.relu(x)
      features[f"conv{i}"] = x
      if x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"VGG input is too small: stage {i} sees {x.shape[1]}x{x.shape[2]}, which a 2x2 pool "
                         "cannot halve; use inputs of at least 32x32")
      x = self.max_pool(x, 2, 2)
      features[f"pool{i}"] = x
    if return_features:
      return features
    if self.fully_convolutional:
      return self._score_map(x, train)
    x = adaptive_avg_pool(x, self.pool_size).reshape((x.shape[0], -1))
    for name in ("fc6", "fc7"):
      x = nn.relu(nn.Dense(self.hidden_size, kernel_init=dense_init, dtype=self.dtype, name=name)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes, kernel_init=dense_init, dtype=self.dtype, name="fc8")(x)
    return x.astype(jnp.float32)

  def _score_map(self, x, train: bool):
    """The classifier as convolutions on pool5: [N, H/32, W/32, C] -> [N, h, w, num_classes]."""
    kernels = {"fc6": tuple(self.pool_size), "fc7": (1, 1)}
    for name, kernel in kernels.items():
      x = nn.relu(self.conv(self.hidden_size, kernel, padding="VALID", kernel_init=dense_init, dtype=self.dtype,
                            name=name)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = self.conv(self.num_classes, (1, 1), kernel_init=dense_init, dtype=self.dtype, name="fc8")(x)
    return x.astype(jnp.float32)

  def features(self, x, train: bool = False) -> dict:
    """Named intermediate feature maps (see the module docstring)."""
    return self(x, train, return_features=True)


vgg11 = functools.partial(VGG, stages=STAGES[11])
vgg13 = functools.partial(VGG, stages=STAGES[13])
vgg16 = functools.partial(VGG, stages=STAGES[16])
vgg19 = functools.partial(VGG, stages=STAGES[19])
vgg11_bn = functools.partial(vgg11, batch_norm=True)
vgg13_bn = functools.partial(vgg13, batch_norm=True)
vgg16_bn = functools.partial(vgg16, batch_norm=True)
vgg19_bn = functools.partial(vgg19, batch_norm=True)
