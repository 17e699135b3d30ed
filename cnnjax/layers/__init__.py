"""Pure linen building blocks, NHWC: convolution arithmetic, pooling and unpooling, transpose
convolution, normalization (LRN, batch norm with torch's settings), squeeze-and-excitation, nonlinearities.
Platform fast paths (oneDNN convolutions, fused BN + ReLU) are not here but in cnnjax.fast.

Layers flax already has are used as they are: `nn.Dense` (fully connected), `nn.Dropout` (inverted
dropout: scaled by 1 / (1 - p) in training, identity at test time; re-exported as `Dropout`), and
channel concatenation is `jnp.concatenate(xs, axis=-1)` (Inception, DenseNet).
"""

from typing import Any

from flax.linen import Dense, Dropout

from cnnjax.layers.activation import ACTIVATIONS, activation
from cnnjax.layers.conv import Conv, conv_output_size, same_padding
from cnnjax.layers.crop import center_crop
from cnnjax.layers.normalization import BatchNorm, LocalResponseNorm, flax_momentum, local_response_norm
from cnnjax.layers.pooling import (adaptive_avg_pool, avg_pool, bed_of_nails_unpool, max_pool, max_pool_with_indices,
                                   max_unpool, nearest_unpool)
from cnnjax.layers.squeeze_excite import SqueezeExcite, se_hidden_features
from cnnjax.layers.transpose_conv import ConvTranspose, bilinear_init, bilinear_kernel, conv_transpose_output_size

ModuleDef = Any  # a linen module class, or a functools.partial of one: a model's injectable block

__all__ = [
    "ACTIVATIONS", "BatchNorm", "Conv", "ConvTranspose", "Dense", "Dropout", "LocalResponseNorm", "ModuleDef",
    "SqueezeExcite", "activation", "adaptive_avg_pool", "avg_pool", "bed_of_nails_unpool", "bilinear_init",
    "bilinear_kernel", "center_crop", "conv_output_size", "conv_transpose_output_size", "flax_momentum",
    "local_response_norm", "max_pool", "max_pool_with_indices", "max_unpool", "nearest_unpool", "same_padding",
    "se_hidden_features",
]
