"""Exact parameter counts against published ones, and multiply-adds within 1%.

Sources: torchvision model docs (ResNet, ResNeXt, VGG, GoogLeNet, DenseNet, AlexNet), timm
(seresnet50, seresnext50_32x4d), He et al. 2016 Table 6 (CIFAR ResNets 0.27M ... 1.7M; exact
counts as github.com/akamaster/pytorch_resnet_cifar10 prints them), Xie et al. 2017 Table 7
(ResNeXt-29 8x64d 34.4M), Huang et al. 2017 Table 2 (DenseNet-BC L=100 k=12 0.8M).
Counting is abstract (jax.eval_shape): nothing is allocated or computed.
"""

import jax
import jax.numpy as jnp
import pytest

from cnnjax.analysis.counting import count_multiply_adds, count_params
from cnnjax.models import get_model

IMAGENET, CIFAR, MNIST = (1, 224, 224, 3), (1, 32, 32, 3), (1, 28, 28, 1)

# name: (exact count, input shape, source)
PUBLISHED = {
    "resnet18": (11_689_512, IMAGENET),
    "resnet34": (21_797_672, IMAGENET),
    "resnet50": (25_557_032, IMAGENET),
    "resnet101": (44_549_160, IMAGENET),
    "resnet152": (60_192_808, IMAGENET),
    "resnext50_32x4d": (25_028_904, IMAGENET),
    "resnext101_32x8d": (88_791_336, IMAGENET),
    "resnext101_64x4d": (83_455_272, IMAGENET),  # torchvision's weights meta num_params, as its docs list
    "wide_resnet50_2": (68_883_240, IMAGENET),
    "wide_resnet101_2": (126_886_696, IMAGENET),
    "se_resnet50": (28_088_024, IMAGENET),
    "se_resnext50_32x4d": (27_559_896, IMAGENET),
    "vgg11": (132_863_336, IMAGENET),
    "vgg11_bn": (132_868_840, IMAGENET),
    "vgg13": (133_047_848, IMAGENET),
    "vgg13_bn": (133_053_736, IMAGENET),
    "vgg16": (138_357_544, IMAGENET),
    "vgg16_bn": (138_365_992, IMAGENET),
    "vgg19": (143_667_240, IMAGENET),
    "vgg19_bn": (143_678_248, IMAGENET),
    "googlenet": (6_624_904, IMAGENET),
    "densenet121": (7_978_856, IMAGENET),
    "densenet169": (14_149_480, IMAGENET),
    "densenet201": (20_013_928, IMAGENET),
    "alexnet_torchvision": (61_100_840, IMAGENET),
    # The lecture's table, one tower: 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992 + 37,752,832
    # + 16,781,312 + 4,097,000 (conv1 ... fc8).
    "alexnet": (62_378_344, (1, 227, 227, 3)),
    "cifar_resnet20": (269_722, CIFAR),
    "cifar_resnet32": (464_154, CIFAR),
    "cifar_resnet44": (658_586, CIFAR),
    "cifar_resnet56": (853_018, CIFAR),
    "cifar_resnet110": (1_727_962, CIFAR),
    "lenet5": (61_706, MNIST),
    # Hand count with full conv1 -> conv2 connectivity: 4*26 + 12*(4*25+1) + 192*10+10.
    "lenet1": (3_246, MNIST),
}
# Papers give rounded counts; our exact count must round to theirs.
ROUNDED = {
    "resnext29_8x64d": (34_426_698, 34.4e6, 0.1e6),
    "densenet_bc_100_k12": (769_162, 0.8e6, 0.1e6),
}


def _params(name, shape, **kwargs):
  model = get_model(name, **kwargs)
  return count_params(jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape)))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count(name):
  expected, shape = PUBLISHED[name]
  assert _params(name, shape) == expected


@pytest.mark.parametrize("name", sorted(ROUNDED))
def test_paper_rounded_parameter_count(name):
  exact, published, unit = ROUNDED[name]
  count = _params(name, CIFAR)
  assert count == exact
  assert round(count / unit) == round(published / unit)


def test_variant_counts():
  # Krizhevsky's two-GPU split of CONV2/4/5 ("60 million parameters").
  assert _params("alexnet", (1, 227, 227, 3), groups=2) == 60_965_224
  # torchvision googlenet(aux_logits=True): 13,004,888.
  assert _params("googlenet", IMAGENET, aux_logits=True) == 13_004_888
  # ImageNet models with another head: only the classifier changes.
  assert _params("resnet50", IMAGENET, num_classes=10) == 25_557_032 - 2048 * 990 - 990


@pytest.mark.parametrize("name,shape,giga", [
    ("resnet50", IMAGENET, 4.089),
    ("resnet18", IMAGENET, 1.814),
    ("vgg16", IMAGENET, 15.47),
    ("googlenet", IMAGENET, 1.498),
])
def test_multiply_adds_within_one_percent(name, shape, giga):
  macs = count_multiply_adds(get_model(name), shape)
  assert abs(macs / 1e9 - giga) / giga < 0.01, macs
