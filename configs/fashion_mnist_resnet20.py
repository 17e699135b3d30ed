"""CIFAR-style ResNet-20 (He et al. 2016: 16/32/64 channels, option A shortcuts) on Fashion-MNIST with augmentation.

    cnnjax train --config configs/fashion_mnist_resnet20.py --workdir runs/fashion_mnist_resnet20

28x28x1 input; the 3x3 stem convolution has stride 2 (stages at 14, 7, 4: ~4x fewer multiply-adds
than stride 1, sized for a shared 2-core CPU; `--config.model_kwargs.stem_stride=1` is the paper's
stem). Random flip + 2-pixel zero-pad-and-crop inside the step; SGD with Nesterov momentum 0.9,
cosine schedule from 0.1 after a 0.3-epoch warmup, L2 weight decay 5e-4, batch 128, 10 epochs.
Published reference: ResNet-18 with augmentation 94.9% (Fashion-MNIST benchmark).
Recorded runs: results/fashion_mnist_resnet20/results.json (10 epochs: 92.13% test) and
results/fashion_mnist_resnet20_6ep (`--config.num_epochs=6`: 91.45%); the issue's target of 93% is not reached
with the stride-2 stem in this budget (`--config.model_kwargs.stem_stride=1` and more epochs are the next step).
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "cifar_resnet20"
  config.model_kwargs.stem_stride = 2
  config.num_epochs = 10.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.1
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.3
  config.augment = {"flip": {}, "crop": {"padding": 2}}
  config.log_every_steps = 50
  return config.lock()
