"""PyTorch twins of the benchmarked cnnjax models and their SGD training step (CPU speed reference).

Why: benchmarks/cpu_step.py times cnnjax's training step against the same network, initialisation,
loss and optimizer written the usual PyTorch way. Layouts differ (torch NCHW or channels_last,
cnnjax NHWC) but every layer, width, stride and parameter count matches:

- lenet5: cnnjax.models.lenet.lenet5 (conv1 padded by 2 on 28x28, ReLU, 2x2 max pool, 120-84-10),
  flax's default init (LeCun normal, truncated; zero biases).
- cifar_resnet20: He et al. 2016's CIFAR ResNet-20 as cnnjax.models.resnet.cifar_resnet20 (16/32/64,
  option-A zero-padded shortcuts, BN momentum 0.1 torch = 0.9 flax, eps 1e-5, Kaiming fan-out convs).
- vgg11_bn_half: cnnjax's vgg11_bn with every width halved (32..256), hidden 512, classifier on the
  1x1 map left by five pools of a 32x32 input (torchvision's VGG init: Kaiming fan-out, N(0, 0.01)).

Input [N, C, H, W] float32 -> logits [N, num_classes]. The step is softmax cross-entropy, SGD with
momentum 0.9 and L2 weight decay on the weights only (what cnnjax's "l2" mode adds to the loss).
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from step_workers import VGG11_HALF_STAGES

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2], as flax's truncated init corrects for


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
  """flax's default kernel init: truncated normal with variance 1 / fan_in (fan_in = in x kernel taps)."""
  fan_in = weight[0].numel()
  std = math.sqrt(1.0 / fan_in) / _TRUNC_STD
  return nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


class LeNet5(nn.Module):
  """cnnjax lenet5: [N, 1, 28, 28] -> [N, num_classes]; 61,706 parameters at 10 classes."""

  def __init__(self, num_classes: int = 10, in_channels: int = 1, size: int = 28):
    super().__init__()
    pad = max(0, (32 - size) // 2)
    self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=pad)
    self.conv2 = nn.Conv2d(6, 16, 5)
    side = ((size + 2 * pad - 4) // 2 - 4) // 2
    self.fc1 = nn.Linear(16 * side * side, 120)
    self.fc2 = nn.Linear(120, 84)
    self.head = nn.Linear(84, num_classes)
    for module in self.modules():
      if isinstance(module, (nn.Conv2d, nn.Linear)):
        lecun_normal_(module.weight)
        nn.init.zeros_(module.bias)

  def forward(self, x):
    x = F.max_pool2d(F.relu(self.conv1(x)), 2)
    x = F.max_pool2d(F.relu(self.conv2(x)), 2)
    x = torch.flatten(x, 1)
    return self.head(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlockA(nn.Module):
  """Two 3x3 conv-BN pairs and an option-A shortcut (strided subsampling, zero-padded channels)."""

  def __init__(self, in_channels: int, filters: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, filters, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(filters)
    self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(filters)
    self.stride, self.extra = stride, filters - in_channels

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    shortcut = x
    if self.stride != 1 or self.extra:
      low, high = self.extra // 2, self.extra - self.extra // 2
      shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, low, high))
    return F.relu(y + shortcut)


class CifarResNet(nn.Module):
  """He et al.'s CIFAR ResNet of depth 6n+2 with the paper's stride-1 stem: [N, C, H, W] -> [N, num_classes]
  (CIFAR's 3x32x32, or Fashion-MNIST's 1x28x28 as configs/fashion_mnist_resnet20.py: stages at 28, 14, 7)."""

  def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, widths=(16, 32, 64)):
    super().__init__()
    blocks = (depth - 2) // 6
    self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(widths[0])
    layers, channels = [], widths[0]
    for i, width in enumerate(widths):
      for j in range(blocks):
        layers.append(BasicBlockA(channels, width, 2 if i > 0 and j == 0 else 1))
        channels = width
    self.layers = nn.Sequential(*layers)
    self.fc = nn.Linear(channels, num_classes)
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    lecun_normal_(self.fc.weight)
    nn.init.zeros_(self.fc.bias)

  def forward(self, x):
    x = self.layers(F.relu(self.bn1(self.conv1(x))))
    return self.fc(x.mean(dim=(2, 3)))


class VGG(nn.Module):
  """VGG with BN after every conv, 2x2 max pool per stage, FC-hidden x2 with dropout, FC-classes."""

  def __init__(self, stages, num_classes: int = 10, in_channels: int = 3, hidden: int = 512, pool_side: int = 1):
    super().__init__()
    layers, channels = [], in_channels
    for stage in stages:
      for width in stage:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
      layers.append(nn.MaxPool2d(2))
    self.features = nn.Sequential(*layers)
    self.pool = nn.AdaptiveAvgPool2d(pool_side)
    self.classifier = nn.Sequential(
        nn.Linear(channels * pool_side * pool_side, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(hidden, num_classes))
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(module.bias)
      elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0, 0.01)
        nn.init.zeros_(module.bias)

  def forward(self, x):
    return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


MODELS = {
    "lenet5": lambda num_classes, shape: LeNet5(num_classes, shape[2], shape[0]),
    "cifar_resnet20": lambda num_classes, shape: CifarResNet(20, num_classes, shape[2]),
    "vgg11_bn_half": lambda num_classes, shape: VGG(VGG11_HALF_STAGES, num_classes, shape[2]),
}


def build_model(name: str, num_classes: int, input_shape) -> nn.Module:
  """The torch twin of cnnjax model `name` for inputs of [H, W, C] = input_shape."""
  if name not in MODELS:
    raise KeyError(f"no PyTorch reference for {name!r}; known: {sorted(MODELS)}")
  return MODELS[name](num_classes, tuple(input_shape))


def make_optimizer(model: nn.Module, learning_rate: float, momentum: float, weight_decay: float,
                   nesterov: bool = False):
  """SGD with momentum (Nesterov optional, as optax.trace); weight decay on weights with ndim > 1 only, as
  cnnjax.train.optim.decay_mask. torch adds weight_decay x w to the gradient before the momentum: the gradient
  of cnnjax's "l2" term weight_decay/2 sum w^2."""
  decay = [p for p in model.parameters() if p.ndim > 1]
  other = [p for p in model.parameters() if p.ndim <= 1]
  return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
                         lr=learning_rate, momentum=momentum, nesterov=nesterov)


def train_step(model: nn.Module, optimizer, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
  """One synchronous SGD step (CPU): forward, cross-entropy, backward, update. Returns the loss."""
  optimizer.zero_grad(set_to_none=True)
  loss = F.cross_entropy(model(images), labels)
  loss.backward()
  optimizer.step()
  return loss.detach()
