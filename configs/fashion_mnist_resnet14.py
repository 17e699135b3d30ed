"""CIFAR-style ResNet-14 (He et al. 2016 form, n=2, option A shortcuts) on Fashion-MNIST with augmentation.

    cnnjax train --config configs/fashion_mnist_resnet14.py --workdir runs/fashion_mnist_resnet14

28x28x1 input (stages at 28, 14, 7 with 16/32/64 channels, 172k parameters), random flip +
2-pixel zero-pad-and-crop inside the step, SGD Nesterov momentum 0.9, cosine schedule from
0.1 after a 0.3-epoch warmup, L2 weight decay 5e-4, batch 128, 6 epochs (sized for a shared
2-core CPU; `--config.model=cifar_resnet20 --config.num_epochs=15` is the fuller recipe).
Published reference: ResNet-18 with augmentation 94.9% (Fashion-MNIST benchmark).
Recorded run: results/fashion_mnist_resnet14/results.json (README table); target >= 93% test accuracy.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "cifar_resnet14"
  config.num_epochs = 6.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.1
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.3
  config.augment = {"flip": {}, "crop": {"padding": 2}}
  config.log_every_steps = 50
  return config.lock()
