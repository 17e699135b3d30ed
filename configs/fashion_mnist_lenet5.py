"""LeNet-5 on Fashion-MNIST: the default experiment.

    cnnjax train --config configs/fashion_mnist_lenet5.py --workdir runs/fashion_mnist_lenet5

SGD with momentum 0.9, cosine schedule from 0.05, L2 weight decay 5e-4, batch 128, 12 epochs.
Recorded run (results/fashion_mnist_lenet5/results.json, commit 9644d25): 90.89% test accuracy.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "lenet5"
  config.num_epochs = 12.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  return config.lock()
